"""MLflow's module path ``mlflow.entities.run_outputs``: scripts import from it as they do in MLflow."""

from mltrack.entities import RunOutputs

__all__ = ["RunOutputs"]
