"""A per-clone cache of parsed run.yaml files, so listing and searching stay fast.

Entries are keyed by the run directory and validated by the file's stamp
(inode, size, mtime and ctime in ns). mltrack writes by atomic rename and git
checkout writes new files, so both change the inode; a hand edit changes size,
mtime or at least the ctime (which no tool can set back).
An entry whose file changed less than a second before it was parsed is not
trusted (a same-size in-place edit in the same clock tick could hide): next
time its bytes are read again and compared by digest, and parsed only if they
differ (a fresh clone is all such files for its first second). The cache lives in ``.git/mltrack/cache/`` of the
working tree: never committed, rebuilt from the files whenever in doubt.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from mltrack.exceptions import CorruptStore
from mltrack.store.files import Stamp, atomic_write
from mltrack.store.records import RunRecord

if TYPE_CHECKING:
    from mltrack.store.repository import Repository

__all__ = ["RunIndex"]


def _stamp_of(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


logger = logging.getLogger("mltrack")

_CACHE_VERSION = 3
_RACY_NS = 1_000_000_000
Progress = Callable[[int, int], None]


class RunIndex:
    def __init__(self, repo: Repository) -> None:
        self._repo = repo
        self._path = repo.private_dir / "cache" / f"runs-v{_CACHE_VERSION}.pickle"
        # run directory → (stamp, parsed_at, blake2b of run.yaml or None, record)
        self._entries: dict[str, tuple[Stamp, int, bytes | None, RunRecord]] | None = None
        self._checked: dict[str, Stamp] | None = None  # metrics files fsck found readable
        self._dirty = False
        self._lock = threading.RLock()  # threads of one process (a server) share the entries
        self.problems: list[CorruptStore] = []

    def _load(self) -> dict[str, tuple[Stamp, int, bytes | None, RunRecord]]:
        if self._entries is None:
            self._entries, self._checked = {}, {}
            with contextlib.suppress(Exception):  # an unreadable cache is just a cold cache
                with open(self._path, "rb") as handle:
                    version, root, entries, checked = pickle.load(handle)
                if version == _CACHE_VERSION and root == str(self._repo.root):
                    self._entries, self._checked = entries, checked
        return self._entries

    def check_file(self, path: Path | str, check: Callable[[], object]) -> None:
        """Run ``check`` on ``path`` (it raises on a bad file) unless it passed on this very
        file before: same inode, size, mtime and ctime, stamped over a second after the
        change (``fsck`` of 10,000 metrics files, most unchanged since the last one)."""
        key = str(path)
        try:
            st = os.stat(key)
        except FileNotFoundError:
            return
        current = _stamp_of(st)
        with self._lock:
            self._load()
            assert self._checked is not None
            if self._checked.get(key) == current:
                return
        check()
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS:
            with self._lock:
                assert self._checked is not None
                self._checked[key] = current
                self._dirty = True

    def save(self) -> None:
        with self._lock:
            self._save()

    def _save(self) -> None:
        if self._dirty and self._entries is not None:
            data = pickle.dumps(
                (_CACHE_VERSION, str(self._repo.root), self._entries, self._checked), protocol=5
            )
            with contextlib.suppress(OSError):
                atomic_write(self._path, data, durable=False)
            self._dirty = False

    def forget(self, run_dir: Path) -> None:
        with self._lock:
            entries = self._load()
            if entries.pop(str(run_dir), None) is not None:
                self._dirty = True

    def run_dirs(self, experiment_ids: Iterable[str] | None) -> list[tuple[str, Path]]:
        """Every (experiment_id, run directory) in the working tree."""
        return [(experiment_id, Path(key)) for experiment_id, key in self.run_keys(experiment_ids)]

    def run_keys(self, experiment_ids: Iterable[str] | None) -> list[tuple[str, str]]:
        """:meth:`run_dirs` as text: building 10,000 Path objects costs more than the stats."""
        experiments_dir = str(self._repo.experiments_dir)
        if experiment_ids is None:
            try:
                experiment_ids = [name for name in os.listdir(experiments_dir) if name.isdigit()]
            except FileNotFoundError:
                return []
        found: list[tuple[str, str]] = []
        for experiment_id in experiment_ids:
            try:
                with os.scandir(f"{experiments_dir}/{experiment_id}/runs") as scan:
                    found += [(experiment_id, entry.path) for entry in scan if entry.is_dir()]
            except (FileNotFoundError, NotADirectoryError):
                continue
        return found

    def remember(self, run_dir: Path, record: RunRecord) -> None:
        """Record what this process just wrote (no need to parse it again)."""
        try:
            st = os.stat(run_dir / "run.yaml")
        except FileNotFoundError:
            return
        # Trusted at once: the file is our own atomic write, a new inode.
        trusted_from = max(st.st_mtime_ns, st.st_ctime_ns) + _RACY_NS + 1
        with self._lock:
            self._load()[str(run_dir)] = (_stamp_of(st), trusted_from, None, record.copy())
            self._dirty = True

    def records(
        self,
        experiment_ids: Iterable[str] | None,
        progress: Progress | None = None,
        *,
        warn: bool = True,
        save: bool = True,
    ) -> list[RunRecord]:
        """Parsed run.yaml of every run in the given experiments (all if None); unreadable
        ones are left out, listed in ``problems`` (and logged, with ``warn``). The cache is
        written back unless ``save`` is False (a caller that saves once at its end)."""
        with self._lock:
            records = self._records(experiment_ids, progress, warn)
            if save:
                self._save()
            return records

    def _records(
        self, experiment_ids: Iterable[str] | None, progress: Progress | None, warn: bool
    ) -> list[RunRecord]:
        entries = self._load()
        self.problems = []
        wanted = None if experiment_ids is None else set(experiment_ids)
        keys = self.run_keys(wanted)
        now = time.time_ns()
        # A record per run, in the order of ``keys``; None where run.yaml must be parsed
        # (listed in ``pending``) or is gone.
        found: list[RunRecord | None] = []
        pending: list[tuple[int, str, Stamp, bytes, bytes]] = []  # slot, key, stamp, digest, raw
        stat = os.stat
        for _, key in keys:
            try:
                st = stat(key + "/run.yaml")
            except FileNotFoundError:
                continue  # a run directory being created or removed
            current = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            hit = entries.get(key)
            if (
                hit is not None
                and hit[0] == current
                and hit[1] - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS
            ):
                found.append(hit[3])
                continue
            # Changed, new, or stamped too soon after a change to trust the stamp: the bytes
            # decide. Unchanged bytes (a fresh clone read twice in its first second, a checkout
            # back and forth) keep their record; only new content is parsed.
            try:
                with open(key + "/run.yaml", "rb") as handle:
                    raw = handle.read()
            except FileNotFoundError:
                continue
            digest = hashlib.blake2b(raw, digest_size=16).digest()
            if hit is not None and hit[2] == digest:
                entries[key] = (current, now, digest, hit[3])
                self._dirty = True
                found.append(hit[3])
            else:
                pending.append((len(found), key, current, digest, raw))
                found.append(None)
        parsed = self._parse_all([(key, raw) for _, key, _, _, raw in pending], progress)
        for (slot, key, current, digest, _), outcome in zip(pending, parsed, strict=True):
            if isinstance(outcome, CorruptStore):
                self.problems.append(outcome)
                if warn:
                    logger.warning(
                        "skipping unreadable run: %s (check with `mltrack fsck`)", outcome
                    )
                continue
            entries[key] = (current, now, digest, outcome)
            self._dirty = True
            found[slot] = outcome
        if len(entries) > len(keys):
            seen = {key for _, key in keys}
            stale = [
                key
                for key in entries
                if key not in seen and (wanted is None or key.rsplit("/", 3)[-3] in wanted)
            ]
            for key in stale:
                del entries[key]
                self._dirty = True
        return [record for record in found if record is not None]

    def _parse_one(self, key: str, raw: bytes) -> RunRecord | CorruptStore:
        try:
            return self._repo.runs.parse_run_bytes(key, raw)
        except CorruptStore as problem:
            return problem

    def _parse_each(
        self, pending: list[tuple[str, bytes]], progress: Progress | None, total: int, scale: int
    ) -> list[RunRecord | CorruptStore]:
        if progress is None:
            return [self._parse_one(key, raw) for key, raw in pending]
        out = []
        for number, (key, raw) in enumerate(pending):
            if number % 500 == 0:
                progress(number * scale, total)
            out.append(self._parse_one(key, raw))
        return out

    def _parse_all(
        self, pending: list[tuple[str, bytes]], progress: Progress | None = None
    ) -> list[RunRecord | CorruptStore]:
        """Each run.yaml parsed (or the reason it cannot be), in order.

        Many at once (a fresh clone's first read) are split with a forked child process, which
        parses the second half while this one parses the first: the parse is pure CPU in
        Python, so a second core nearly halves it. Serial wherever forking is not safe or
        not worth it, and whenever the child fails in any way."""
        if len(pending) >= PARALLEL_FROM and _fork_is_safe():
            half = len(pending) // 2
            child = _Forked(lambda: [self._parse_one(key, raw) for key, raw in pending[half:]])
            mine: list[RunRecord | CorruptStore] = []
            try:  # this half is reported as the whole: the child keeps pace
                mine = self._parse_each(pending[:half], progress, len(pending), 2)
            finally:
                theirs = child.result()
            if theirs is not None and len(theirs) == len(pending) - half:
                return mine + theirs
            return mine + [self._parse_one(key, raw) for key, raw in pending[half:]]
        return self._parse_each(pending, progress, len(pending), 1)


# Below this many run.yaml to parse, one process: forking and handing records back would cost
# more than the second core saves (~0.1 ms of parsing per file against ~0.03 ms per record to
# hand back, plus a few ms to fork).
PARALLEL_FROM = 2000


def _fork_is_safe() -> bool:
    """Fork only where it is cheap and sound: Linux (macOS and Windows spawn, which would pay
    an interpreter start), a second CPU to run on, and no other thread in this process (a
    lock another thread holds would stay locked in the child)."""
    if sys.platform != "linux" or not hasattr(os, "fork"):
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return cpus >= 2 and threading.active_count() == 1


class _Forked:
    """Runs ``work`` in a forked child; :meth:`result` is what it returned (pickled back
    through a pipe), or None if the child failed in any way (the caller then does the work)."""

    def __init__(self, work: Callable[[], list[RunRecord | CorruptStore]]) -> None:
        self._pid = -1
        read_fd, write_fd = os.pipe()
        try:
            self._pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            self._reader = None
            return
        if self._pid == 0:  # the child: work, hand the answer back, leave without cleanup
            status = 1
            try:
                os.close(read_fd)
                answer = [
                    (item.path, item.problem) if isinstance(item, CorruptStore) else item
                    for item in work()
                ]
                with open(write_fd, "wb") as pipe:
                    pipe.write(pickle.dumps(answer, protocol=5))
                status = 0
            finally:
                os._exit(status)  # no atexit hooks: the parent's runs are the parent's
        os.close(write_fd)
        self._reader = open(read_fd, "rb")  # noqa: SIM115 (closed in result())

    def result(self) -> list[RunRecord | CorruptStore] | None:
        if self._reader is None:
            return None
        try:
            with self._reader:
                data = self._reader.read()
        finally:
            _, status = os.waitpid(self._pid, 0)
        if status != 0:
            return None
        try:
            answer = pickle.loads(data)
        except Exception:
            return None
        return [CorruptStore(*item) if isinstance(item, tuple) else item for item in answer]
