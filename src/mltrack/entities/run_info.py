"""MLflow's module path ``mlflow.entities.run_info``: scripts import from it as they do in MLflow."""

from mltrack.entities import RunInfo

__all__ = ["RunInfo"]
