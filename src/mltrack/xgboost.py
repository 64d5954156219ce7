"""``mltrack.xgboost`` (``import mltrack.xgboost`` as with ``mlflow.xgboost``); needs XGBoost only when used."""

from mltrack.models.xgboost import FLAVOR_NAME, autolog, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]
