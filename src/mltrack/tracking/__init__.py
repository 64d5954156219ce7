"""Tracking: the fluent API (``mltrack.start_run`` …) and the tracking client.

``mltrack.tracking.MlflowClient`` exists so ``mlflow.tracking.MlflowClient`` keeps
working after ``import mltrack as mlflow``; it is the full client of
``mltrack.client`` (a re-export for users: tracking's own modules never use it).
"""

from typing import Any

from mltrack.tracking.client import PagedList, TrackingClient

__all__ = ["MlflowClient", "MltrackClient", "PagedList", "TrackingClient"]


def __getattr__(name: str) -> Any:
    if name in ("MlflowClient", "MltrackClient"):
        from mltrack.client import MltrackClient

        return MltrackClient
    raise AttributeError(f"module 'mltrack.tracking' has no attribute {name!r}")
