"""MLflow's module path ``mlflow.data.numpy_dataset``: scripts import from it as they do in MLflow."""

from mltrack.data import NumpyDataset, from_numpy

__all__ = ["NumpyDataset", "from_numpy"]
