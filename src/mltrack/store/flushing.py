"""Process-wide flushing: the flusher thread, the exit hook and fork safety.

Every :class:`~mltrack.store.runs.RunStore` registers here. One daemon thread
flushes every store's live runs when they are due; at interpreter exit every
store flushes what is left and commits the runs that ended; a forked child
starts with no writers (the parent keeps flushing its own runs).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING

from mltrack.entities import RunStatus
from mltrack.exceptions import StoreWriteError
from mltrack.store import metrics as metrics_file
from mltrack.store.files import WouldWait, failure_reason, may_wait

if TYPE_CHECKING:
    from mltrack.store.runs import RunStore

__all__ = ["ensure_flusher", "flush_all_live_runs", "register_store"]

_log = logging.getLogger("mltrack")
_stores: weakref.WeakSet[RunStore] = weakref.WeakSet()
_flusher: threading.Thread | None = None
_flusher_guard = threading.Lock()


def register_store(store: RunStore) -> None:
    _stores.add(store)


def ensure_flusher() -> None:
    global _flusher
    if _flusher is not None and _flusher.is_alive():
        return
    if not may_wait():  # starting it imports pyarrow: not on a server's event loop
        raise WouldWait()
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
                _flush_due(store, store.repo.settings().flush_interval_seconds)


def _flush_due(store: RunStore, interval: float) -> None:
    """Periodic flush. A flush rewrites metrics.arrow, so for long histories the interval
    stretches until rewriting costs at most ~5% of the time (bounded write amplification)."""
    now = time.monotonic()
    for live in store.writers():
        with contextlib.suppress(Exception):
            if now - live.last_flush >= max(interval, 20 * live.last_flush_seconds):
                try:
                    live.flush()
                except StoreWriteError as error:
                    live.failure = error  # the next logging call retries, then says so
            if live.unsynced and now - live.last_sync >= interval:
                live.sync()


def _flush_at_exit(store: RunStore) -> None:
    """Interpreter exit: flush everything; commit runs that are no longer active.

    Exit goes on whatever fails; each failure is one line on stderr (through
    logging) that says what is lost, what is safe and how to finish.
    """
    for live in store.writers():
        try:
            wrote = live.flush()
            live.sync()
        except Exception as error:
            _log.error(
                "mltrack: could not write run %s at exit: %s. Its last %d metric point(s) "
                "and unsaved changes were only in memory and are lost; what earlier "
                "flushes wrote is safe in %s: run `mltrack commit` to finish the run.",
                live.run_id,
                failure_reason(error),
                len(live.points),
                live.where(),
            )
            continue
        if live.owned or not wrote or live.record.status == RunStatus.RUNNING:
            continue  # the tracking layer ends its own runs before this
        try:
            store.commit_run(live.run_id)
        except Exception as error:
            _log.error(
                "mltrack: run %s is safe on disk in %s but committing it at exit failed: "
                "%s. Run `mltrack commit` to commit it.",
                live.run_id,
                live.where(),
                failure_reason(error),
            )


def flush_all_live_runs() -> None:
    for store in list(_stores):
        store.flush_all()


def _at_exit() -> None:
    for store in list(_stores):
        _flush_at_exit(store)
        with contextlib.suppress(Exception):  # a cache: the next process rebuilds what is lost
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
