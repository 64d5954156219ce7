"""MLflow's module path ``mlflow.data.dataset_source``: scripts import from it as they do in MLflow."""

from mltrack.data import DatasetSource

__all__ = ["DatasetSource"]
