"""MLflow's module path ``mlflow.entities.run_inputs``: scripts import from it as they do in MLflow."""

from mltrack.entities import RunInputs

__all__ = ["RunInputs"]
