"""``mltrack.lightgbm`` (``import mltrack.lightgbm`` as with ``mlflow.lightgbm``); needs LightGBM only when used."""

from mltrack.models.lightgbm import FLAVOR_NAME, autolog, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]
