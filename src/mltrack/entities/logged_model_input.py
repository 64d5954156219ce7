"""MLflow's module path ``mlflow.entities.logged_model_input``: scripts import from it as they do in MLflow."""

from mltrack.entities import LoggedModelInput

__all__ = ["LoggedModelInput"]
