"""MLflow's module path ``mlflow.entities.param``: scripts import from it as they do in MLflow."""

from mltrack.entities import Param

__all__ = ["Param"]
