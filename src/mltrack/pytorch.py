"""``mltrack.pytorch`` (``import mltrack.pytorch`` as with ``mlflow.pytorch``); needs PyTorch only when used."""

from mltrack.models.autolog_lightning import autolog
from mltrack.models.pytorch import FLAVOR_NAME, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]
