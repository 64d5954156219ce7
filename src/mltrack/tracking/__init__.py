"""Tracking: the fluent API (``mltrack.start_run`` …) and the tracking client.

This package's ``__init__`` is MLflow's ``mlflow.tracking`` namespace, a facade
like ``mltrack`` itself: ``mltrack.tracking.MlflowClient`` is the full client of
``mltrack.client`` (registry included), loaded on first use. The tracking layer's
own modules (``mltrack.tracking.*``) never import it. Every name is loaded on first
use, so importing one module of the package (``mltrack.tracking.context``, as every
CLI command does) does not load the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mltrack.tracking.client import PagedList, TrackingClient

__all__ = ["MlflowClient", "MltrackClient", "PagedList", "TrackingClient"]


def __getattr__(name: str) -> Any:
    if name in ("MlflowClient", "MltrackClient"):
        from mltrack.client import MltrackClient

        return MltrackClient
    if name in ("PagedList", "TrackingClient"):
        from mltrack.tracking import client

        return getattr(client, name)
    raise AttributeError(f"module 'mltrack.tracking' has no attribute {name!r}")
