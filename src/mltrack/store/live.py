"""The live run buffer: one run as this process writes it.

A :class:`LiveRun` keeps metric points and changes in memory and writes them
to ``run.yaml`` and ``metrics.arrow`` when flushed (by the run store, the
flusher thread, or at exit). A flush takes the run's inter-process lock and
merges with whatever another process wrote since (params and tags of both
survive, metric points are appended), so logging into a run from several
processes or later from the client never loses earlier points.

A server changes runs in transactions (:meth:`LiveRun.transaction`): each change
is appended to the run's journal (:mod:`mltrack.store.journal`) before the
answer, and folded into the files when the run ends or the journal grows long.
Every write of the files folds the journal in and removes it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist, StoreWriteError
from mltrack.store import journal as journal_file
from mltrack.store import metrics as metrics_file
from mltrack.store import schema, yamlio
from mltrack.store.files import (
    Stamp,
    WouldWait,
    failure_reason,
    holding,
    may_wait,
    stamp,
    sync_file,
    write_temporary,
)
from mltrack.store.journal import Journal, RunChanges
from mltrack.store.metrics import Point
from mltrack.store.records import RunRecord

if TYPE_CHECKING:
    import pyarrow as pa

    from mltrack.store.runs import RunStore

__all__ = ["LiveRun", "Point"]


class LiveRun:
    """One run as this process writes it: current state plus unflushed changes."""

    def __init__(
        self, store: RunStore, record: RunRecord, run_dir: Path, disk: Stamp | None
    ) -> None:
        self.store = store
        self.run_id = record.run_id
        self.record = record
        self.run_dir = run_dir
        self.lock = threading.RLock()
        self.points: list[Point] = []
        self.changes = RunChanges()
        self.disk = disk
        self.last_flush = time.monotonic()
        self.last_flush_seconds = 0.0
        self.owned = False  # True while this process is the run's active writer
        self.unsynced = False  # written without fsync (write-through); see sync()
        self.last_sync = time.monotonic()
        self.failure: StoreWriteError | None = None  # a background flush's, not yet reported
        # metrics.arrow as this process last wrote it: (the file's stamp, its rows).
        self.arrow_table: tuple[Stamp | None, pa.Table] | None = None
        # The run's journal as folded into ``record`` (None: it had none), and its points
        # that metrics.arrow lacks (written there by the next write of the files).
        self.journal: Journal | None = None
        self.journal_points: list[Point] = []
        self._journal_known: set[Point] = set()

    @property
    def yaml_path(self) -> Path:
        return self.run_dir / "run.yaml"

    @property
    def arrow_path(self) -> Path:
        return self.run_dir / "metrics.arrow"

    def dirty(self) -> bool:
        return bool(self.points) or bool(self.changes)

    def retry_failed_flush(self) -> None:
        """After a failed background flush, the next logging call flushes first: if that
        fails too, the call raises (logging nothing) and the flusher tries again later."""
        if self.failure is not None:
            self.failure = None
            self.flush()

    # -- logging (memory only) -------------------------------------------------

    def log_metric(self, key: str, value: float, step: int, timestamp: int) -> None:
        with self.lock:
            self.retry_failed_flush()
            self.points.append((key, value, step, timestamp))

    def log_points(self, points: Iterable[Point]) -> None:
        with self.lock:
            self.retry_failed_flush()
            self.points.extend(points)

    def log_params(self, params: dict[str, str]) -> None:
        with self.lock:
            self.retry_failed_flush()
            for key, value in params.items():
                old = self.record.params.get(key)
                if old is not None and old != value:
                    raise InvalidParameterValue(
                        f"Changing param values is not allowed. Param with key='{key}' was already "
                        f"logged with value='{old}' for run ID='{self.run_id}'. Attempted logging "
                        f"new value '{value}'."
                    )
            for key, value in params.items():
                if key not in self.record.params:
                    self.record.params[key] = value
                    self.changes.params[key] = value

    def set_tags(self, tags: dict[str, str]) -> None:
        with self.lock:
            self.retry_failed_flush()
            self.record.tags.update(tags)
            self.changes.tags.update(tags)

    def delete_tag(self, key: str) -> None:
        with self.lock:
            self.retry_failed_flush()
            if self.record.lifecycle_stage != "active":  # MLflow checks this before the tag
                raise InvalidParameterValue(
                    f"The run {self.run_id} must be in the 'active' state. "
                    f"Current state is {self.record.lifecycle_stage}."
                )
            if key not in self.record.tags:
                raise ResourceDoesNotExist(f"No tag with name: {key} in run with id {self.run_id}")
            del self.record.tags[key]
            self.changes.tags[key] = None

    def _accept(self, change: RunChanges) -> None:
        """Apply ``change`` only if the run would still be a valid run.yaml: a change the file
        cannot hold is refused now, never discovered by a flush that then loses data."""
        trial = self.record.copy()
        change.apply(trial)
        document = trial.to_dict()
        if not schema.is_valid("run", document):
            problems = "; ".join(schema.problems("run", document)[:3])
            raise InvalidParameterValue(f"Run {self.run_id} cannot store this change: {problems}")
        change.apply(self.record)

    def set_info(self, **info: Any) -> None:
        with self.lock:
            RunChanges(info={k: dict(v) if k == "code" else v for k, v in info.items()}).apply(
                self.record
            )
            for name, value in info.items():
                if name == "code":
                    self.changes.info.setdefault("code", {}).update(value)
                else:
                    self.changes.info[name] = value

    def add_inputs(self, items: list[dict[str, Any]]) -> None:
        with self.lock:
            self.retry_failed_flush()
            self._accept(RunChanges(inputs=items))
            self.changes.inputs.extend(items)

    def add_outputs(self, items: list[dict[str, Any]]) -> None:
        with self.lock:
            self.retry_failed_flush()
            self._accept(RunChanges(outputs=items))
            self.changes.outputs.extend(items)

    # -- reading -------------------------------------------------------------------

    def snapshot(self, disk: RunRecord | None = None) -> RunRecord:
        """The run as it stands in this process, unflushed points included.

        ``disk`` is a newer run.yaml than this process last read or wrote (another
        writer replaced it): the unflushed changes are shown on top of it, as the
        next flush will write them.
        """
        with self.lock:
            if disk is None:
                record = self.record.copy()
            else:
                record = disk.copy()
                self.changes.apply(record)
                record.artifact_uri = self.record.artifact_uri
            record.offer_points(self.points)
            return record

    def current(self) -> RunRecord | None:
        """The run now: this process's view, re-read from disk if someone else changed the file.

        None when the file changed (another process, a hand edit, a checkout)
        and this process has nothing unflushed: the caller reads the file.
        """
        with holding(self.lock):
            journal = self.store.journals.read(
                self.run_id
            )  # before run.yaml: see RunStore.read_run
            on_disk = stamp(self.yaml_path)
            if on_disk == self.disk and journal is self.journal:
                return self.snapshot()
            if not self.dirty():
                return None
            if on_disk is None:
                return self.snapshot()
            record = self.store.read_run(self.run_dir)
            self.changes.apply(record)
            record.offer_points(self.points)
            return record

    def pending_points(self) -> list[Point]:
        with holding(self.lock):
            return list(self.points)

    # -- flushing -------------------------------------------------------------------

    def flush(self, durable: bool = True) -> bool:
        """Write buffered changes (fsynced unless ``durable`` is False); True if anything was written.

        A write that fails (disk full, quota, read-only) changes nothing on disk,
        keeps everything in memory for the next flush and raises StoreWriteError.
        """
        with self.lock:
            if not self.dirty():
                return False
            started = time.monotonic()
            try:
                with self.store.run_lock(self.run_id):
                    self._write(durable=durable)
            except OSError as error:
                self.last_flush = time.monotonic()  # retry at the next interval, not at once
                raise StoreWriteError(
                    f"Could not write run {self.run_id} to {self.where()}: {failure_reason(error)}. "
                    f"Its {len(self.points)} unsaved metric point(s) and other changes stay in "
                    "memory and are written at the next flush: free disk space (the run's "
                    "earlier flushes are safe on disk; if this process exits first, "
                    "`mltrack commit` finishes the run)."
                ) from error
            self.failure = None
            self.last_flush_seconds = self.last_flush - started
            return True

    def _stored_table(self) -> pa.Table | None:
        """metrics.arrow's rows. The table this process last wrote or read is kept with the
        file's stamp: a server logging point after point never reads its own writes back."""
        current = stamp(self.arrow_path)
        if self.arrow_table is not None and current == self.arrow_table[0]:
            return self.arrow_table[1]
        stored = metrics_file.read_table(self.arrow_path)
        self.arrow_table = (current, stored) if stored is not None else None
        return stored

    def _appended_points(self) -> pa.Table | None:
        """metrics.arrow's rows plus the journal's and the buffered points; None if it already
        has them all."""
        points = self.journal_points + self.points
        if not points:
            return None
        return metrics_file.appended(self._stored_table(), points)

    def _catch_up(self) -> None:
        """Make ``record`` what run.yaml and the journal hold now, this process's unflushed
        changes on top (the caller holds both locks).

        Entries other processes appended since are folded in; a rewritten run.yaml (another
        writer, a compaction) is read again with the whole journal.
        """
        journal = self.store.journals.read(self.run_id)
        on_disk = stamp(self.yaml_path)
        if journal is self.journal and on_disk == self.disk:
            return
        known = self.journal
        if (
            on_disk == self.disk
            and known is not None
            and journal is not None
            and journal.inode == known.inode
            and journal.head == known.head
            and len(journal.entries) >= len(known.entries)
        ):
            first = len(known.entries)
            journal.fold(self.record, first)
            # Other writers appended only points this run lacked (they held the lock).
            self._note_journal_points(journal.points[len(known.points) :])
        else:
            record = self.store.parse_run_dir(self.run_dir)
            record.artifact_uri = self.record.artifact_uri
            self.journal_points, self._journal_known = [], set()
            if journal is not None:
                journal.fold(record)
                # A journal that outlived its compaction (a crash before its removal) repeats
                # points the file has: they count once.
                stored = self._stored_table() if journal.points else None
                self._note_journal_points(metrics_file.new_points(stored, journal.points))
            self.record = record
            self.disk = on_disk
        self.journal = journal
        self.changes.apply(self.record)
        self.record.offer_points(self.points)

    def _note_journal_points(self, points: list[Point]) -> None:
        fresh = [p for p in points if p not in self._journal_known]
        self.journal_points += fresh
        self._journal_known.update(fresh)

    def _forget_journal(self) -> None:
        self.journal = None
        self.journal_points, self._journal_known = [], set()

    def where(self) -> str:
        """The run's directory, repository-relative (for messages)."""
        return self.store.repo.rel(self.run_dir)

    def _write(self, durable: bool) -> None:
        """Merge with what other processes wrote, then write (the caller holds both locks).

        Both files change or neither: each is written to a temporary beside it,
        and only when both are written are they renamed into place (renames need
        no free space), so a refused write leaves the run as it was. The journal,
        folded into both, is removed after them.
        """
        if stamp(self.yaml_path) is not None:
            self._catch_up()
        if not self.dirty() and self.journal is None:
            return
        self.record.offer_points(self.points)
        # Check run.yaml before appending points, so a refused write never leaves
        # points in metrics.arrow that the next write would append again.
        document = self.record.to_dict()
        schema.validate_for_write("run", document, self.store.repo.rel(self.yaml_path))
        table = self._appended_points()
        arrow_tmp = None
        if table is not None:
            arrow_tmp = write_temporary(
                self.arrow_path, memoryview(metrics_file.serialize(table)), durable=durable
            )
        try:
            yaml_tmp = write_temporary(self.yaml_path, yamlio.dump(document), durable=durable)
        except BaseException:
            if arrow_tmp is not None:
                arrow_tmp.unlink()
            raise
        if arrow_tmp is not None:
            os.replace(arrow_tmp, self.arrow_path)
            self.arrow_table = (stamp(self.arrow_path), table)
        os.replace(yaml_tmp, self.yaml_path)
        self.disk = stamp(self.yaml_path)
        if self.journal is not None:  # folded into the files just written
            journal_file.remove(self.store.journals.path(self.run_id))
            self.store.journals.forget(self.run_id)
            self._forget_journal()
        self.store.index.remember(self.run_dir, self.record)
        self.points = []
        self.changes = RunChanges()
        self.last_flush = time.monotonic()
        if not durable:
            self.unsynced = True

    @contextlib.contextmanager
    def transaction(self, compact: bool = False) -> Iterator[LiveRun]:
        """Change the run as it is on disk now, and store the change before the block ends.

        Holds the run's lock throughout: what other processes wrote since is read
        first, so checks (a param's old value, whether a tag exists) see every
        writer's changes. The change is appended to the run's journal; with
        ``compact`` (the run ends), or once the journal is long, the run's files are
        written instead. Neither is fsynced here (``sync`` does it later).
        """
        with holding(self.lock), self.store.run_lock(self.run_id):
            buffered = self.dirty()  # only when the same process also logs without transactions
            if not buffered:
                self._catch_up()
            rewrite = (
                compact
                or buffered
                or (self.journal is not None and self.journal.end >= journal_file.COMPACT_BYTES)
            )
            if rewrite and not may_wait():
                raise WouldWait()  # rewriting the run's files is a worker thread's job
            try:
                yield self
                if rewrite:
                    self._write(durable=False)
                else:
                    self._append()
            except BaseException as error:
                if not buffered:
                    self._reload()  # forget the half-applied change: nothing of it was written
                if isinstance(error, OSError):
                    raise StoreWriteError(
                        f"Could not write run {self.run_id} to {self.where()}: "
                        f"{failure_reason(error)}. Nothing of this change was stored; retry it once "
                        "there is space."
                    ) from error
                raise

    def compact(self) -> None:
        """Fold the run's journal into its files now (before a commit)."""
        with self.lock, self.store.run_lock(self.run_id):
            try:
                self._write(durable=False)
            except OSError as error:
                raise StoreWriteError(
                    f"Could not write run {self.run_id} to {self.where()}: "
                    f"{failure_reason(error)}. Its changes stay in its journal; free disk space "
                    "and retry."
                ) from error

    def _append(self) -> None:
        """Append the transaction's change to the journal (the caller holds both locks)."""
        stored = self._stored_table() if self.points else None
        points = metrics_file.new_points(stored, self.points)
        if self._journal_known:
            points = [p for p in points if p not in self._journal_known]
        changes = self.changes
        if not points and not changes:
            self.points = []
            return
        if changes or any(point[0] not in self.record.metrics for point in points):
            # The run must still be a valid run.yaml once folded (a new metric key, a
            # param, a tag...): refused now, never discovered by the compaction.
            trial = self.record.copy()
            trial.offer_points(points)
            schema.validate_for_write("run", trial.to_dict(), self.store.repo.rel(self.yaml_path))
        path = self.store.journals.path(self.run_id)
        end = self.journal.end if self.journal is not None else 0
        written = journal_file.append(path, end, journal_file.encode(points, changes))
        self.journal = self.store.journals.appended(
            self.run_id, self.journal, written, journal_file.Entry(points, changes)
        )
        self.record.offer_points(points)
        self._note_journal_points(points)
        self.points = []
        self.changes = RunChanges()
        self.unsynced = True

    def _reload(self) -> None:
        """Forget unflushed changes: the run as run.yaml and the journal hold it."""
        self.points = []
        self.changes = RunChanges()
        self.disk = None  # read run.yaml again, whatever its stamp
        self._forget_journal()
        if stamp(self.yaml_path) is not None:
            self._catch_up()

    def sync(self) -> None:
        """fsync the files written without it (write-through mode)."""
        with self.lock:
            if not self.unsynced:
                return
            self.unsynced = False
            self.last_sync = time.monotonic()
            sync_file(self.arrow_path)
            sync_file(self.yaml_path)
            sync_file(self.store.journals.path(self.run_id))
