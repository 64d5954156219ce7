"""MLflow's module path ``mlflow.entities.metric``: scripts import from it as they do in MLflow."""

from mltrack.entities import Metric

__all__ = ["Metric"]
