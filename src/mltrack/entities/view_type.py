"""MLflow's module path ``mlflow.entities.view_type``: scripts import from it as they do in MLflow."""

from mltrack.entities import ViewType

__all__ = ["ViewType"]
