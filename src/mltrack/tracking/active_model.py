"""The active model: a logged model id per thread, as MLflow's ``set_active_model`` keeps it.

A thread that never chose one sees ``MLFLOW_ACTIVE_MODEL_ID`` (or the legacy
``_MLFLOW_ACTIVE_MODEL_ID``); clearing forgets both, as MLflow does. Choosing a
model by name or id is :mod:`mltrack.tracking.fluent_models`' job.
"""

from __future__ import annotations

import os
import threading

__all__ = ["clear_active_model", "get_active_model_id", "reset", "set_active_model_id"]

_ENV = ("MLFLOW_ACTIVE_MODEL_ID", "_MLFLOW_ACTIVE_MODEL_ID")
_thread = threading.local()


def get_active_model_id() -> str | None:
    """This thread's active model, else ``MLFLOW_ACTIVE_MODEL_ID``'s; None if neither."""
    if hasattr(_thread, "model_id"):
        chosen: str | None = _thread.model_id
        return chosen
    for name in _ENV:
        value = os.environ.get(name)
        if value:
            return value
    return None


def set_active_model_id(model_id: str | None) -> None:
    _thread.model_id = model_id


def clear_active_model() -> None:
    """No active model in this thread (the environment's is forgotten too, as MLflow's)."""
    for name in _ENV:
        os.environ.pop(name, None)
    _thread.model_id = None


def reset() -> None:
    """Back to the environment's active model in this thread (tests, long-lived hosts)."""
    if hasattr(_thread, "model_id"):
        del _thread.model_id
