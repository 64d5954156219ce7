"""MLflow's module path ``mlflow.entities.logged_model``: scripts import from it as they do in MLflow."""

from mltrack.entities import LoggedModel

__all__ = ["LoggedModel"]
