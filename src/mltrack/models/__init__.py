"""Models: the MLmodel format, signatures, flavors (sklearn, xgboost, lightgbm, pytorch, keras,
pyfunc), requirements, Spark scoring and model URIs."""

from mltrack.models.model import Model, ModelInfo
from mltrack.models.signature import ModelSignature, infer_signature

__all__ = ["Model", "ModelInfo", "ModelSignature", "get_model_info", "infer_signature"]


def get_model_info(model_uri: str) -> ModelInfo:
    """The :class:`ModelInfo` of the model at any model URI (MLflow's ``mlflow.models.get_model_info``)."""
    # Imported here: model URIs reach the store, which the MLmodel format itself never needs.
    from mltrack.models.info import get_model_info as read

    return read(model_uri)
