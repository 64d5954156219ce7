"""MLflow's module path ``mlflow.entities.logged_model_status``: scripts import from it as they do in MLflow."""

from mltrack.entities import LoggedModelStatus

__all__ = ["LoggedModelStatus"]
