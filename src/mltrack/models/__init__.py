"""Models: the MLmodel format, signatures, flavors (sklearn, xgboost, lightgbm, pytorch, keras,
pyfunc), requirements, Spark scoring and model URIs."""

from mltrack.models.model import Model, ModelInfo
from mltrack.models.signature import ModelSignature, infer_signature

__all__ = ["Model", "ModelInfo", "ModelSignature", "infer_signature"]
