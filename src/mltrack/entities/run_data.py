"""MLflow's module path ``mlflow.entities.run_data``: scripts import from it as they do in MLflow."""

from mltrack.entities import RunData

__all__ = ["RunData"]
