"""The runs ``mltrack.start_run`` made active: one stack per thread, ended at exit.

Runs still active at interpreter exit are ended (FINISHED, or FAILED after an
uncaught exception) and committed, as MLflow does; a SIGTERM (preemption,
``kill``) records them as KILLED. Each active run is ended by the client that
started it, so a later ``set_tracking_uri`` cannot send it to another repository.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from mltrack.entities import Run, RunStatus
from mltrack.exceptions import MltrackError, StoreWriteError

if TYPE_CHECKING:
    from mltrack.store.runs import LiveRun
    from mltrack.tracking.client import TrackingClient
    from mltrack.tracking.remote import RemoteRunBuffer

__all__ = ["ActiveRun", "end_active_run", "install_exit_hook", "reset", "run_stack"]

_thread_state = threading.local()
_all_stacks: list[list[ActiveRun]] = []
_uncaught_exception = False
_exit_hook_installed = False
logger = logging.getLogger("mltrack")


class ActiveRun:
    """The run ``start_run`` returned; a context manager that ends it (FAILED on exception)."""

    def __init__(
        self, run_id: str, live: LiveRun | RemoteRunBuffer, client: TrackingClient
    ) -> None:
        self.run_id = run_id
        self.live = live
        self.client = client
        self.system_metrics: Any = None  # its SystemMetricsMonitor, if it samples the machine

    def stop_system_metrics(self) -> None:
        """Stop the run's sampling thread, logging its pending samples (before the run ends)."""
        monitor, self.system_metrics = self.system_metrics, None
        if monitor is not None:
            try:
                monitor.finish()
            except Exception as error:  # e.g. psutil failing: the run still ends, without them
                logger.warning("last system metrics of run %s not logged: %s", self.run_id, error)

    def _run(self) -> Run:
        return self.client.get_run(self.run_id)

    @property
    def info(self) -> Any:
        return self._run().info

    @property
    def data(self) -> Any:
        return self._run().data

    @property
    def inputs(self) -> Any:
        return self._run().inputs

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        if any(active.run_id == self.run_id for active in run_stack()):
            end_active_run(status)

    def __repr__(self) -> str:
        return f"<ActiveRun: run_id={self.run_id}>"


def run_stack() -> list[ActiveRun]:
    """This thread's active runs, innermost last."""
    stack: list[ActiveRun] | None = getattr(_thread_state, "stack", None)
    if stack is None:
        stack = []
        _thread_state.stack = stack
        _all_stacks.append(stack)
    return stack


def current_stack() -> list[ActiveRun] | None:
    """This thread's stack if it has one (the metric hot path: no stack is made)."""
    stack: list[ActiveRun] | None = getattr(_thread_state, "stack", None)
    return stack


def end_active_run(status: str = RunStatus.FINISHED) -> None:
    """End this thread's innermost active run (commit-per-run: its files become one commit)."""
    stack = run_stack()
    if not stack:
        return
    active = stack[-1]
    active.stop_system_metrics()
    try:
        active.client.set_terminated(active.run_id, status)
    except MltrackError:
        if not active.live.owned:
            stack.pop()  # it ended on disk; only its commit failed (`mltrack commit` finishes it)
        raise
    stack.pop()  # only once it really ended: a failed end leaves the run active to retry


def _end_every_run(status: str, why: str) -> None:
    for stack in _all_stacks:
        while stack:
            active = stack.pop()
            try:
                active.stop_system_metrics()
                active.client.set_terminated(active.run_id, status)
            except Exception as error:  # exiting anyway: say what was not recorded
                if isinstance(error, StoreWriteError) and active.live.owned:
                    continue  # not written: the store's exit hook says what is lost and safe
                logger.error("could not end run %s (%s): %s", active.run_id, why, error)


def _excepthook(exc_type: Any, exc: Any, traceback: Any) -> None:
    global _uncaught_exception
    _uncaught_exception = True
    _previous_excepthook(exc_type, exc, traceback)


_previous_excepthook = sys.excepthook


def _end_runs_at_exit() -> None:
    """Runs still active when the interpreter exits are ended and committed, as MLflow does."""
    _end_every_run(RunStatus.FAILED if _uncaught_exception else RunStatus.FINISHED, "exit")


def _on_sigterm(signum: int, frame: Any) -> None:
    """A scheduler's SIGTERM (preemption, `kill`): record the active runs as KILLED, then die as asked."""
    _end_every_run(RunStatus.KILLED, "SIGTERM")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def install_exit_hook() -> None:
    global _exit_hook_installed
    if not _exit_hook_installed:
        _exit_hook_installed = True
        atexit.register(_end_runs_at_exit)
        sys.excepthook = _excepthook
        # Only when nobody else handles SIGTERM, and only from the main thread (Python's rule).
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        ):
            signal.signal(signal.SIGTERM, _on_sigterm)


def reset() -> None:
    """Forget every active run of every thread (tests that switch repositories)."""
    for stack in _all_stacks:
        for active in stack:
            active.stop_system_metrics()
        stack.clear()
