"""MLflow's module path ``mlflow.entities.logged_model_output``: scripts import from it as they do in MLflow."""

from mltrack.entities import LoggedModelOutput

__all__ = ["LoggedModelOutput"]
