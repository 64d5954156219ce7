"""MLflow's module path ``mlflow.entities.lifecycle_stage``: scripts import from it as they do in MLflow."""

from mltrack.entities import LifecycleStage

__all__ = ["LifecycleStage"]
