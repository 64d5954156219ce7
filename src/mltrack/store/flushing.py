"""Process-wide flushing: the flusher thread, the exit hook and fork safety.

Every :class:`~mltrack.store.runs.RunStore` registers here. One daemon thread
flushes every store's live runs when they are due; at interpreter exit every
store flushes what is left and commits the runs that ended; a forked child
starts with no writers (the parent keeps flushing its own runs).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING

from mltrack.store import metrics as metrics_file

if TYPE_CHECKING:
    from mltrack.store.runs import RunStore

__all__ = ["ensure_flusher", "flush_all_live_runs", "register_store"]

_stores: weakref.WeakSet[RunStore] = weakref.WeakSet()
_flusher: threading.Thread | None = None
_flusher_guard = threading.Lock()


def register_store(store: RunStore) -> None:
    _stores.add(store)


def ensure_flusher() -> None:
    global _flusher
    with _flusher_guard:
        if _flusher is None or not _flusher.is_alive():
            metrics_file.prepare_writes()  # this process writes runs: be ready to flush at exit
            _flusher = threading.Thread(target=_flush_loop, name="mltrack-flush", daemon=True)
            _flusher.start()


def _flush_loop() -> None:
    while True:
        time.sleep(0.5)
        for store in list(_stores):
            with contextlib.suppress(Exception):
                store.flush_due(store.repo.settings().flush_interval_seconds)


def flush_all_live_runs() -> None:
    for store in list(_stores):
        store.flush_all()


def _at_exit() -> None:
    for store in list(_stores):
        with contextlib.suppress(Exception):
            store.at_exit()
            store.index.save()


def _after_fork_in_child() -> None:
    """A forked child starts with no writers: the parent keeps flushing its own runs."""
    global _flusher, _flusher_guard
    for store in list(_stores):
        store.forget_writers()
    _flusher = None
    _flusher_guard = threading.Lock()


atexit.register(_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
