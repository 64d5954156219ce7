"""MLflow's module path ``mlflow.data.pandas_dataset``: scripts import from it as they do in MLflow."""

from mltrack.data import PandasDataset, from_pandas

__all__ = ["PandasDataset", "from_pandas"]
