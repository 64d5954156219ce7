"""``PythonModel``: the base class of custom models, and the context they load with.

Its own module, below both :mod:`mltrack.models.pyfunc` (which saves and loads
custom models) and :mod:`mltrack.models.pickling` (which maps MLflow's pickled
``PythonModel`` to it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PythonModel", "PythonModelContext"]


class PythonModel:
    """Base class for custom models: override ``predict`` (and optionally ``load_context``)."""

    def load_context(self, context: PythonModelContext) -> None:
        """Called once after loading, with the model's artifacts and config."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        raise NotImplementedError("PythonModel subclasses must implement predict()")


@dataclass
class PythonModelContext:
    artifacts: dict[str, str] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)
