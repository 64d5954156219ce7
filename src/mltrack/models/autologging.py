"""What the framework autologgers share: patching a training function and the run around it.

As in MLflow: without an active run, one is started (tagged
``mlflow.autologging=<flavor>``) and ended around the training call, FAILED if
it raises; a training call made inside another one (an ``XGBClassifier.fit``
calling ``xgboost.train``) belongs to the outer one and is not logged again.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from mltrack.tracking import fluent

__all__ = ["Patches", "log_quietly", "training_run"]

logger = logging.getLogger("mltrack")
_state = threading.local()


@contextlib.contextmanager
def training_run(flavor: str, extra_tags: dict[str, str] | None) -> Iterator[bool]:
    """Yields True for the outermost training call (the one to log), False for nested ones."""
    from mltrack.entities import RunStatus

    if getattr(_state, "depth", 0) > 0:
        yield False
        return
    started = fluent.active_run() is None
    if started:
        fluent.start_run(tags={"mlflow.autologging": flavor, **(extra_tags or {})})
    _state.depth = 1
    try:
        yield True
    except BaseException:
        if started:
            fluent.end_run(RunStatus.FAILED)
        raise
    else:
        if started:
            fluent.end_run()
    finally:
        _state.depth = 0


def log_quietly(what: str, action: Callable[[], Any]) -> None:
    """Run one logging step; a failure is a warning, never a failed training (as in MLflow)."""
    try:
        action()
    except Exception as error:
        logger.warning("autolog: could not log %s: %s", what, error)


class Patches:
    """Functions replaced on modules or classes, restorable with ``undo``."""

    def __init__(self) -> None:
        self._originals: list[tuple[Any, str, Any]] = []

    def __bool__(self) -> bool:
        return bool(self._originals)

    def wrap(self, owner: Any, name: str, make: Callable[[Any], Callable[..., Any]]) -> None:
        """Replace ``owner.name`` (its own or an inherited one) with ``make(original)``."""
        original = getattr(owner, name)
        own = name in vars(owner)
        if own and isinstance(owner, type):
            original = vars(owner)[name]
        replacement = functools.wraps(original)(make(original))
        self._originals.append((owner, name, original if own else None))
        setattr(owner, name, replacement)

    def undo(self) -> None:
        for owner, name, original in reversed(self._originals):
            if original is None:
                delattr(owner, name)  # it was inherited: uncover the inherited one again
            else:
                setattr(owner, name, original)
        self._originals.clear()
