"""Which process writes a run: kernel start times, so a dead (or reused) pid is told apart.

A process that owns an active run leaves a marker (pid, host, process start
time) under ``.git/mltrack/active/``; these helpers answer whether the process
a marker names is still the one that wrote it.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from mltrack.store.files import temporary_owner

__all__ = ["HOST", "own_start", "process_start", "remove_dead_temporaries"]


def process_start(pid: int) -> str | None:
    """Kernel start time of a process (guards against pid reuse); None if it is gone.

    A zombie (dead, not yet reaped by its parent) is gone: it never writes again.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        if fields[0] in (b"Z", b"X"):
            return None
        return fields[19].decode()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "unknown"


HOST = socket.gethostname()
_OWN_START: tuple[int, str | None] | None = None


def own_start() -> str | None:
    """This process's kernel start time, read once per process (pid changes after fork)."""
    global _OWN_START
    pid = os.getpid()
    if _OWN_START is None or _OWN_START[0] != pid:
        _OWN_START = (pid, process_start(pid))
    return _OWN_START[1]


def remove_dead_temporaries(directory: Path) -> list[Path]:
    """Delete half-written temporaries whose writer died (kill -9 mid-write), so no commit
    holds one; returns what was removed."""
    removed = []
    for path in directory.rglob(".*.tmp-*"):
        pid = temporary_owner(path.name)
        if pid is not None and pid != os.getpid() and process_start(pid) is None:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                path.unlink()
                removed.append(path)
    return removed
