"""MLflow's module path ``mlflow.entities.experiment``: scripts import from it as they do in MLflow."""

from mltrack.entities import Experiment

__all__ = ["Experiment"]
