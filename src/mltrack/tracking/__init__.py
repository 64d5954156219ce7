"""Tracking: the fluent API (``mltrack.start_run`` …) and ``MltrackClient``."""

from mltrack.tracking.client import MltrackClient, PagedList

MlflowClient = MltrackClient

__all__ = ["MlflowClient", "MltrackClient", "PagedList"]
