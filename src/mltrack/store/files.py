"""Atomic file writes and inter-process locks.

Every stored file is written to a temporary file beside it, flushed to disk and
renamed over the final name, so a crash never leaves a half-written file that
could then be committed. Locks are ``flock`` locks on files under
``.git/mltrack/locks/`` (never committed); the kernel drops them when a process
dies, so a killed writer never wedges the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from mltrack.fsutil import create_file

__all__ = [
    "Stamp",
    "WouldWait",
    "atomic_write",
    "create_file",
    "failure_reason",
    "file_lock",
    "file_locks",
    "holding",
    "may_wait",
    "never_waiting",
    "stamp",
    "sync_file",
    "take",
    "temp_path",
    "temporary_owner",
    "write_temporary",
]

Stamp = tuple[int, int, int, int]  # (inode, size, mtime_ns, ctime_ns)


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")


_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)-\d+$")


def temporary_owner(name: str) -> int | None:
    """The pid of the process writing ``name`` if it is a :func:`temp_path` temporary."""
    match = _TEMPORARY.match(name)
    return int(match.group(1)) if match else None


def atomic_write(path: Path, data: bytes | memoryview, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a mix."""
    tmp = write_temporary(path, data, durable=durable)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_temporary(path: Path, data: bytes | memoryview, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path``'s temporary beside it (removed again if that fails).

    Renaming it over ``path`` is then the atomic step, which needs no free space:
    a writer that changes several files prepares them all first, so running out
    of space changes none of them.
    """
    tmp = temp_path(path)
    try:
        with create_file(tmp) as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return tmp


def failure_reason(error: BaseException) -> str:
    """One line saying why a write failed: the system's words (not the temporary's name)."""
    if not isinstance(error, OSError) and isinstance(error.__cause__, OSError):
        error = error.__cause__
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def sync_file(path: Path) -> None:
    """Force ``path``'s content to disk (a file written with ``durable=False``); missing: nothing."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stamp(path: Path) -> Stamp | None:
    """What identifies one version of a file on disk; None if it does not exist.

    The ctime is part of it because nothing can set it back: a rewrite that
    keeps the size and restores the mtime (``touch -r``, ``cp -p``) still
    changes the ctime.
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class WouldWait(BaseException):
    """A lock this thread asked for is held elsewhere, and it may not wait (see
    :func:`never_waiting`); nothing was changed. Not an ``Exception``: no ``except
    Exception`` on the way may take it for a failure and swallow it."""


_waiting = threading.local()


@contextlib.contextmanager
def never_waiting() -> Iterator[None]:
    """Inside the block this thread takes a lock only if it is free, else raises WouldWait.

    A server's event loop answers short requests itself; it must never stop for a lock
    that another thread or process holds across a commit or an fsync (every other
    request would stop with it). Such a request is handed to a worker thread instead.
    """
    before = getattr(_waiting, "never", False)
    _waiting.never = True
    try:
        yield
    finally:
        _waiting.never = before


def may_wait() -> bool:
    """False inside :func:`never_waiting`."""
    return not getattr(_waiting, "never", False)


def take(lock: threading.Lock | threading.RLock) -> None:
    """Acquire ``lock``, waiting for it unless inside :func:`never_waiting` (WouldWait then)."""
    if not lock.acquire(blocking=may_wait()):
        raise WouldWait()


@contextlib.contextmanager
def holding(lock: threading.Lock | threading.RLock) -> Iterator[None]:
    """``with lock:`` that honours :func:`never_waiting`."""
    take(lock)
    try:
        yield
    finally:
        lock.release()


# (lock directory, bucket) -> (lock file path, the lock serialising this process's threads)
_buckets: dict[tuple[str, int], tuple[str, threading.Lock]] = {}
_buckets_guard = threading.Lock()


@contextlib.contextmanager
def file_lock(lock_dir: Path, name: str, buckets: int = 64) -> Iterator[None]:
    """Exclusive lock shared by threads and processes, on one of ``buckets`` lock files.

    Names hash into a fixed set of files so locking never leaves a file per run behind.
    """
    bucket = zlib.crc32(name.encode()) % buckets
    with _bucket_lock(lock_dir, bucket):
        yield


@contextlib.contextmanager
def file_locks(lock_dir: Path, names: Iterable[str], buckets: int = 64) -> Iterator[None]:
    """:func:`file_lock` for several names at once. Two names may share a lock file: each
    file is locked once, and always in the same order, so holders never wait on each other
    (or on themselves) in a cycle."""
    chosen = sorted({zlib.crc32(name.encode()) % buckets for name in names})
    with contextlib.ExitStack() as stack:
        for bucket in chosen:
            stack.enter_context(_bucket_lock(lock_dir, bucket))
        yield


@contextlib.contextmanager
def _bucket_lock(lock_dir: Path, bucket: int) -> Iterator[None]:
    key = (str(lock_dir), bucket)
    known = _buckets.get(key)
    if known is None:  # paths built once: a server takes a run's lock on every request
        with _buckets_guard:
            known = _buckets.setdefault(
                key, (os.path.join(key[0], f"lock-{bucket:02d}"), threading.Lock())
            )
    path, thread_lock = known
    take(thread_lock)
    try:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            os.makedirs(key[0], exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if may_wait() else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WouldWait() from None
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        thread_lock.release()


def reset_after_fork() -> None:
    """Thread locks held by threads that do not exist in a forked child must not be inherited."""
    global _buckets_guard
    _buckets.clear()
    _buckets_guard = threading.Lock()


os.register_at_fork(after_in_child=reset_after_fork)
