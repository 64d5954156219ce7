"""MLflow's module path ``mlflow.entities.run_tag``: scripts import from it as they do in MLflow."""

from mltrack.entities import RunTag

__all__ = ["RunTag"]
