"""MLflow's module path ``mlflow.entities.run_status``: scripts import from it as they do in MLflow."""

from mltrack.entities import RunStatus

__all__ = ["RunStatus"]
