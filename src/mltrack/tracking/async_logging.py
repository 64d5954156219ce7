"""MLflow's asynchronous logging (``synchronous=False``, ``flush_async_logging``), honestly.

mltrack has no queue to drain: every logging call is applied to the run's
state in this process before it returns (reads here see it at once, and a bad
key or value raises at the call, not later), and the store's background
flusher writes that state to the run's files every few seconds and at
``end_run``. What MLflow's asynchronous mode adds, a promise to persist later,
is therefore what mltrack always does; what ``RunOperations.wait()`` and
``flush_async_logging()`` add is *now*: they write the pending changes to disk
(fsynced) before returning, and raise if that write fails.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mltrack.exceptions import MltrackError, StoreWriteError
from mltrack.store.flushing import flush_all_live_runs

if TYPE_CHECKING:
    from mltrack.store.repository import Repository
    from mltrack.store.runs import LiveRun
    from mltrack.tracking.remote import RemoteRunBuffer

__all__ = [
    "RunOperations",
    "flush_artifact_async_logging",
    "flush_async_logging",
    "is_async",
    "operations_if_async",
    "run_operations",
]

_TRUE = ("1", "true", "yes", "on")


class RunOperations:
    """What a ``synchronous=False`` call returns; ``wait()`` writes its runs' changes to disk now."""

    def __init__(self, runs: Sequence[LiveRun | RemoteRunBuffer] = ()) -> None:
        self._runs = list(runs)

    def wait(self) -> None:
        failures: list[str] = []
        for live in self._runs:
            try:
                live.flush()
            except MltrackError as error:
                failures.append(str(error))
        if failures:
            raise StoreWriteError(" ".join(failures))

    def __repr__(self) -> str:
        return f"<RunOperations: {len(self._runs)} run(s)>"


def is_async(synchronous: bool | None) -> bool:
    """``synchronous`` as given, else MLflow's ``MLFLOW_ENABLE_ASYNC_LOGGING`` (default: no)."""
    if synchronous is not None:
        return not synchronous
    value = os.environ.get("MLTRACK_ENABLE_ASYNC_LOGGING") or os.environ.get(
        "MLFLOW_ENABLE_ASYNC_LOGGING", ""
    )
    return value.strip().lower() in _TRUE


def run_operations(repo: Repository, run_id: str) -> RunOperations:
    """The operations handle of a call that changed ``run_id``."""
    return RunOperations([repo.runs.live(run_id)])


def operations_if_async(
    repo: Repository, run_id: str, synchronous: bool | None
) -> RunOperations | None:
    """MLflow's return value of a logging call: a handle if asynchronous, else None."""
    return run_operations(repo, run_id) if is_async(synchronous) else None


def flush_async_logging() -> None:
    """Write every run this process is logging to to disk now (MLflow: wait for the queue)."""
    flush_all_live_runs()


def flush_artifact_async_logging() -> None:
    """MLflow's wait for artifact uploads: mltrack has none pending to wait for.

    ``log_artifact`` and every other artifact call copy the files into the run's
    directory before they return; there is no upload queue.
    """
