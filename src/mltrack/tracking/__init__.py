"""Tracking: the fluent API (``mltrack.start_run`` …) and the tracking client.

This package's ``__init__`` is MLflow's ``mlflow.tracking`` namespace, a facade
like ``mltrack`` itself: ``mltrack.tracking.MlflowClient`` is the full client of
``mltrack.client`` (registry included), loaded on first use. The tracking layer's
own modules (``mltrack.tracking.*``) never import it.
"""

from typing import Any

from mltrack.tracking.client import PagedList, TrackingClient

__all__ = ["MlflowClient", "MltrackClient", "PagedList", "TrackingClient"]


def __getattr__(name: str) -> Any:
    if name in ("MlflowClient", "MltrackClient"):
        from mltrack.client import MltrackClient

        return MltrackClient
    raise AttributeError(f"module 'mltrack.tracking' has no attribute {name!r}")
