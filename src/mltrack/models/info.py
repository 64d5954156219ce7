"""``mltrack.models.get_model_info``: what ``log_model`` returned, for any model URI."""

from __future__ import annotations

from mltrack.models.model import Model, ModelInfo
from mltrack.models.uri import resolve

__all__ = ["get_model_info"]


def get_model_info(model_uri: str) -> ModelInfo:
    """The :class:`ModelInfo` of the model at ``model_uri`` (read from its MLmodel file)."""
    resolved = resolve(model_uri)
    model = Model.load(resolved.directory)
    return model.info(model_uri)
