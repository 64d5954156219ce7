"""MLflow's module path ``mlflow.entities.input_tag``: scripts import from it as they do in MLflow."""

from mltrack.entities import InputTag

__all__ = ["InputTag"]
