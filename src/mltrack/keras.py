"""``mltrack.keras`` (``import mltrack.keras`` as with ``mlflow.keras``); needs Keras only when used."""

from mltrack.models.autolog_keras import autolog
from mltrack.models.keras import FLAVOR_NAME, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]
