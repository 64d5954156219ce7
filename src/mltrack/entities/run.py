"""MLflow's module path ``mlflow.entities.run``: scripts import from it as they do in MLflow."""

from mltrack.entities import Run

__all__ = ["Run"]
