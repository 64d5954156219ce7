"""``mltrack.sklearn`` (``import mltrack.sklearn`` as with ``mlflow.sklearn``)."""

from mltrack.models.autolog import autolog
from mltrack.models.sklearn import FLAVOR_NAME, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]
