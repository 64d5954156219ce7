"""``mltrack.sklearn`` (``import mltrack.sklearn`` as with ``mlflow.sklearn``)."""

from mltrack.models.sklearn import FLAVOR_NAME, autolog, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]
