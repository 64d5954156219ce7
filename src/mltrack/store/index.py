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
        out: list[RunRecord] = []
        stat = os.stat
        for number, (_, key) in enumerate(keys):
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
                out.append(hit[3])
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
                record = hit[3]
            else:
                try:
                    record = self._repo.runs.parse_run_bytes(key, raw)
                except CorruptStore as problem:
                    self.problems.append(problem)
                    if warn:
                        logger.warning(
                            "skipping unreadable run: %s (check with `mltrack fsck`)", problem
                        )
                    continue
            entries[key] = (current, now, digest, record)
            self._dirty = True
            out.append(record)
            if progress is not None and number % 500 == 0:
                progress(number, len(keys))
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
        return out
