"""MLflow's module path ``mlflow.entities.dataset_input``: scripts import from it as they do in MLflow."""

from mltrack.entities import DatasetInput

__all__ = ["DatasetInput"]
