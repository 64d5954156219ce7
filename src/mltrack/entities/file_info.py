"""MLflow's module path ``mlflow.entities.file_info``: scripts import from it as they do in MLflow."""

from mltrack.entities import FileInfo

__all__ = ["FileInfo"]
