"""MLflow's module path ``mlflow.data.dataset``: scripts import from it as they do in MLflow."""

from mltrack.data import Dataset

__all__ = ["Dataset"]
