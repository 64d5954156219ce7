"""Worker processes of the two HTTP servers (``--workers N``) die with their supervisor.

uvicorn's supervisor starts the workers and shares its listening socket with
them. If the supervisor is killed (``kill -9``, the OOM killer), nothing would
stop the workers: they keep the port, so a restart fails with "Address already
in use", and they keep answering while the runs the supervisor owned read as
KILLED. So each worker, as it starts:

- asks Linux to send it SIGTERM when its parent dies (``PR_SET_PDEATHSIG``);
- runs a watchdog thread that notices the parent changed (other systems, or a
  death before the request was made) and sends the same SIGTERM.

SIGTERM is uvicorn's graceful shutdown: requests in flight are answered, the
socket is closed. A worker still alive ``GRACE_SECONDS`` later exits at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["GRACE_SECONDS", "die_with_supervisor"]

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1


def die_with_supervisor(supervisor_pid: int) -> None:
    """Make this worker process exit soon after ``supervisor_pid`` (its parent) dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    threading.Thread(
        target=_watch, args=(supervisor_pid,), name="mltrack-supervisor-watch", daemon=True
    ).start()


def _watch(supervisor_pid: int) -> None:
    while os.getppid() == supervisor_pid:
        time.sleep(POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_SECONDS)
    os._exit(1)  # the graceful shutdown did not finish: leave without it
