"""MLflow's module path ``mlflow.types.schema``: scripts import from it as they do in MLflow."""

from mltrack.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec

__all__ = ["ColSpec", "DataType", "ParamSchema", "ParamSpec", "Schema", "TensorSpec"]
