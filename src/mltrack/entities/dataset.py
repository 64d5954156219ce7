"""MLflow's module path ``mlflow.entities.dataset``: scripts import from it as they do in MLflow."""

from mltrack.entities import Dataset

__all__ = ["Dataset"]
