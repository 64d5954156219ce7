"""A run's journal: the changes a server acknowledged since the run's files were last written.

``mltrack server`` must have every acknowledged change on disk before it answers
(a ``kill -9`` loses nothing) and visible to its other workers. Rewriting
``run.yaml`` and ``metrics.arrow`` for every ``log_metric`` did that at the price
of two file replacements per call; instead each change is appended to the run's
journal, ``.git/mltrack/journal/<run_id>``, as one framed line, and every reader
folds the journal onto the run's files. The journal is *compacted* — folded into
``run.yaml`` and ``metrics.arrow``, then removed — when the run ends (before its
commit), whenever a writer rewrites the files anyway, when it grows past
:data:`COMPACT_BYTES`, and by ``mltrack commit``. It lives under ``.git/``, so it
is never committed, pushed or shown by ``git status``.

Framing: each entry is ``<length:8 hex><crc32:8 hex><JSON>\\n``. A reader stops at
the first entry that is incomplete or fails its checksum: the torn end of an
append that a crash interrupted (never acknowledged), or an append in progress
in another process. The next writer, holding the run's lock, cuts such a torn
end off before appending, so nothing acknowledged ever follows it.

Folding is idempotent (params keep their first value, tags and fields take the
last, inputs and outputs are de-duplicated, an identical metric point is stored
once), so a journal that outlives its compaction (a crash between writing the
files and removing it) folds to the same run.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltrack.exceptions import CorruptStore
from mltrack.store.records import RunRecord

__all__ = [
    "COMPACT_BYTES",
    "Appended",
    "Entry",
    "Journal",
    "JournalError",
    "JournalReader",
    "RunChanges",
    "append",
    "encode",
    "read_entries",
    "remove",
]

Point = tuple[str, float, int, int]  # key, value, step, timestamp

COMPACT_BYTES = 1 << 18  # a longer journal is folded into the run's files at the next change
_HEADER = 16  # 8 hex digits of length, 8 of crc32


@dataclass
class RunChanges:
    """Changes to a run other than metric points (what a flush merges onto the file)."""

    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str | None] = field(default_factory=dict)  # None deletes the tag
    info: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.params or self.tags or self.info or self.inputs or self.outputs)

    def apply(self, record: RunRecord) -> None:
        for key, value in self.params.items():
            record.params.setdefault(key, value)
        for key, tag in self.tags.items():
            if tag is None:
                record.tags.pop(key, None)
            else:
                record.tags[key] = tag
        for name, value in self.info.items():
            if name == "code":
                record.code.update(value)
            else:
                setattr(record, name, value)
        known = {
            (item["name"], item["digest"], json.dumps(item.get("tags", {}), sort_keys=True))
            for item in record.inputs
        }
        for item in self.inputs:
            marker = (
                item["name"],
                item["digest"],
                json.dumps(item.get("tags", {}), sort_keys=True),
            )
            if marker not in known:
                record.inputs.append(item)
                known.add(marker)
        present = {item["model_id"] for item in record.outputs}
        for item in self.outputs:
            if item["model_id"] in present:
                record.outputs = [
                    item if o["model_id"] == item["model_id"] else o for o in record.outputs
                ]
            else:
                record.outputs.append(item)

    def to_json(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in (
                ("params", self.params),
                ("tags", self.tags),
                ("info", self.info),
                ("inputs", self.inputs),
                ("outputs", self.outputs),
            )
            if value
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunChanges:
        return cls(
            params=dict(data.get("params", {})),
            tags=dict(data.get("tags", {})),
            info=dict(data.get("info", {})),
            inputs=list(data.get("inputs", [])),
            outputs=list(data.get("outputs", [])),
        )


@dataclass
class Entry:
    """One acknowledged change: metric points and other changes, in logging order."""

    points: list[Point]
    changes: RunChanges


def encode(points: list[Point], changes: RunChanges, **extra: str) -> bytes:
    document: dict[str, Any] = {**changes.to_json(), **extra}
    if points:
        document["m"] = points
    payload = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return b"%08x%08x%s\n" % (len(payload), zlib.crc32(payload), payload)


class JournalError(ValueError):
    """An entry whose checksum holds but whose content is not a change (not a torn end)."""


def _decode(payload: bytes) -> Entry:
    try:
        document = json.loads(payload)
        points = [
            (str(key), float(value), int(step), int(timestamp))
            for key, value, step, timestamp in document.get("m", ())
        ]
        return Entry(points, RunChanges.from_json(document))
    except (ValueError, TypeError, AttributeError) as error:
        raise JournalError(f"an entry is not a run change ({error})") from None


def read_entries(data: bytes, start: int = 0) -> tuple[list[Entry], int]:
    """The whole entries of ``data`` from ``start`` and the offset after the last of them."""
    entries: list[Entry] = []
    end = len(data)
    position = start
    while position + _HEADER <= end:
        try:
            length = int(data[position : position + 8], 16)
            checksum = int(data[position + 8 : position + _HEADER], 16)
        except ValueError:
            break
        stop = position + _HEADER + length
        if stop + 1 > end or data[stop : stop + 1] != b"\n":
            break
        payload = data[position + _HEADER : stop]
        if zlib.crc32(payload) != checksum:
            break
        entries.append(_decode(payload))
        position = stop + 1
    return entries, position


@dataclass
class Journal:
    """A run's journal as one process last read it (entries only grow while ``inode`` holds)."""

    inode: int
    head: bytes  # the first entry's header: tells a new journal from an old one of the same inode
    end: int  # offset after the last whole entry
    size: int  # the file's size when read (more than ``end``: a torn end or an append under way)
    mtime: int = 0  # the file's mtime (ns) when read
    entries: list[Entry] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)  # every entry's points, in order

    def fold(self, record: RunRecord, first: int = 0) -> None:
        """Apply entries ``first``… to ``record`` (the run's files as parsed)."""
        points: list[Point] = []
        for entry in self.entries[first:]:
            entry.changes.apply(record)
            points += entry.points
        record.offer_points(points)

    def points_of(self, key: str) -> list[Point]:
        return [point for point in self.points if point[0] == key]


class JournalReader:
    """Every run's journal as this process last read it; re-read only where a file changed.

    An unchanged journal costs one ``stat``; a grown one, reading the new bytes.
    Thread-safe (a server's request threads share it).
    """

    def __init__(self, directory: Path, rel: Callable[[Path], str]) -> None:
        self.directory = directory
        self._rel = rel
        self._cache: dict[str, Journal] = {}
        self._lock = threading.Lock()

    def path(self, run_id: str) -> Path:
        return self.directory / run_id

    def run_ids(self) -> set[str]:
        """Runs that have a journal now."""
        try:
            return {name for name in os.listdir(self.directory) if "." not in name}
        except (FileNotFoundError, NotADirectoryError):
            return set()

    def read(self, run_id: str) -> Journal | None:
        """The run's journal now; None if it has none."""
        path = self.path(run_id)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below; stat and read one file
        except (FileNotFoundError, NotADirectoryError):
            with self._lock:
                self._cache.pop(run_id, None)
            return None
        with handle:
            st = os.fstat(handle.fileno())
            with self._lock:
                known = self._cache.get(run_id)
            same = (
                known is not None
                and known.inode == st.st_ino
                and st.st_size >= known.end
                and os.pread(handle.fileno(), _HEADER, 0) == known.head
            )
            if (
                same
                and known is not None
                and known.size == st.st_size
                and known.end == known.size  # a torn end seen before may since have been replaced
                and known.mtime == st.st_mtime_ns
            ):
                return known
            if same and known is not None:
                handle.seek(known.end)
                data = handle.read()
                entries, used = self._entries(path, data)
                grown = Journal(
                    st.st_ino,
                    known.head,
                    known.end + used,
                    known.end + len(data),
                    st.st_mtime_ns,
                    known.entries + entries,
                    known.points + [p for entry in entries for p in entry.points],
                )
            else:
                data = handle.read()
                entries, used = self._entries(path, data)
                grown = Journal(
                    st.st_ino,
                    data[:_HEADER],
                    used,
                    len(data),
                    st.st_mtime_ns,
                    entries,
                    [p for e in entries for p in e.points],
                )
        with self._lock:
            self._cache[run_id] = grown
        return grown

    def _entries(self, path: Path, data: bytes) -> tuple[list[Entry], int]:
        try:
            return read_entries(data)
        except JournalError as error:
            raise CorruptStore(self._rel(path), str(error)) from None

    def appended(
        self, run_id: str, journal: Journal | None, written: Appended, entry: Entry
    ) -> Journal:
        """Note this process's own append (no need to read it back)."""
        if journal is None or journal.inode != written.inode:
            journal = Journal(written.inode, written.head, 0, 0)
        grown = Journal(
            written.inode,
            journal.head,
            written.end,
            written.end,
            written.mtime,
            [*journal.entries, entry],
            journal.points + entry.points,
        )
        with self._lock:
            self._cache[run_id] = grown
        return grown

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._cache.pop(run_id, None)


@dataclass(frozen=True)
class Appended:
    """The journal after an append: its first entry's header, inode, end and mtime."""

    head: bytes
    inode: int
    end: int
    mtime: int


def append(path: Path, expected_end: int, data: bytes) -> Appended:
    """Append one framed entry (the caller holds the run's lock).

    Bytes past ``expected_end`` (a torn append of a killed writer) are cut off first.
    A write that fails (disk full) is undone: the journal ends where it ended.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        st = os.fstat(fd)
        if st.st_size != expected_end:
            os.ftruncate(fd, expected_end)
        if expected_end == 0:
            # A unique first entry: a reader that knew an earlier journal of the run (same
            # inode number, reused) tells the new one apart by it (see JournalReader.read).
            data = encode([], RunChanges(), created=os.urandom(8).hex()) + data
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(28, os.strerror(28))  # a short write: the disk filled up
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, expected_end)
            raise
        head = data[:_HEADER] if expected_end == 0 else os.pread(fd, _HEADER, 0)
        return Appended(head, st.st_ino, expected_end + len(data), os.fstat(fd).st_mtime_ns)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
