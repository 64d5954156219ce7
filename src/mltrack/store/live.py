"""The live run buffer: one run as this process writes it.

A :class:`LiveRun` keeps metric points and changes in memory and writes them
to ``run.yaml`` and ``metrics.arrow`` when flushed (by the run store, the
flusher thread, or at exit). A flush takes the run's inter-process lock and
merges with whatever another process wrote since (params and tags of both
survive, metric points are appended), so logging into a run from several
processes or later from the client never loses earlier points.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist, StoreWriteError
from mltrack.store import metrics as metrics_file
from mltrack.store import schema, yamlio
from mltrack.store.files import Stamp, failure_reason, stamp, sync_file, write_temporary
from mltrack.store.metrics import Point
from mltrack.store.records import RunRecord

if TYPE_CHECKING:
    import pyarrow as pa

    from mltrack.store.runs import RunStore

__all__ = ["LiveRun", "Point"]


@dataclass
class _Changes:
    """What this process changed in a run since its last flush (merged onto the file)."""

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
        self.changes = _Changes()
        self.disk = disk
        self.last_flush = time.monotonic()
        self.last_flush_seconds = 0.0
        self.owned = False  # True while this process is the run's active writer
        self.unsynced = False  # written without fsync (write-through); see sync()
        self.last_sync = time.monotonic()
        self.failure: StoreWriteError | None = None  # a background flush's, not yet reported
        # metrics.arrow as this process last wrote it: (the file's stamp, its rows).
        self.arrow_table: tuple[Stamp | None, pa.Table] | None = None

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

    def _accept(self, change: _Changes) -> None:
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
            _Changes(info={k: dict(v) if k == "code" else v for k, v in info.items()}).apply(
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
            self._accept(_Changes(inputs=items))
            self.changes.inputs.extend(items)

    def add_outputs(self, items: list[dict[str, Any]]) -> None:
        with self.lock:
            self.retry_failed_flush()
            self._accept(_Changes(outputs=items))
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
        with self.lock:
            on_disk = stamp(self.yaml_path)
            if on_disk == self.disk:
                return self.snapshot()
            if not self.dirty():
                return None
            if on_disk is None:
                return self.snapshot()
            record = self.store.parse_run_dir(self.run_dir)
            self.changes.apply(record)
            record.offer_points(self.points)
            return record

    def pending_points(self) -> list[Point]:
        with self.lock:
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

    def _appended_points(self) -> pa.Table | None:
        """metrics.arrow's rows plus the buffered points; None if it already has them all.

        The table this process last wrote is kept with the file's stamp: a server
        logging point after point into one run never reads its own writes back.
        """
        if not self.points:
            return None
        if self.arrow_table is not None and stamp(self.arrow_path) == self.arrow_table[0]:
            stored = self.arrow_table[1]
        else:
            self.arrow_table = None
            stored = metrics_file.read_table(self.arrow_path)
        return metrics_file.appended(stored, self.points)

    def where(self) -> str:
        """The run's directory, repository-relative (for messages)."""
        return self.store.repo.rel(self.run_dir)

    def _write(self, durable: bool) -> None:
        """Merge with what other processes wrote, then write (the caller holds both locks).

        Both files change or neither: each is written to a temporary beside it,
        and only when both are written are they renamed into place (renames need
        no free space), so a refused write leaves the run as it was.
        """
        if not self.dirty():
            return
        on_disk = stamp(self.yaml_path)
        if on_disk is not None and on_disk != self.disk:
            merged = self.store.parse_run_dir(self.run_dir)
            self.changes.apply(merged)
            merged.artifact_uri = self.record.artifact_uri
            self.record = merged
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
        self.store.index.remember(self.run_dir, self.record)
        self.points = []
        self.changes = _Changes()
        self.last_flush = time.monotonic()
        if not durable:
            self.unsynced = True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[LiveRun]:
        """Change the run as it is on disk now, and write the change before the block ends.

        Holds the run's lock throughout: the record is re-read first if another
        process wrote since, so checks (a param's old value, whether a tag exists)
        see every writer's changes. The write skips fsync (``sync`` does it later).
        """
        with self.lock, self.store.run_lock(self.run_id):
            buffered = self.dirty()  # only when the same process also logs without transactions
            if not buffered and stamp(self.yaml_path) != self.disk:
                self._reload()
            try:
                yield self
                self._write(durable=False)
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

    def _reload(self) -> None:
        record = self.store.parse_run_dir(self.run_dir)
        record.artifact_uri = self.record.artifact_uri
        self.record = record
        self.disk = stamp(self.yaml_path)
        self.points = []
        self.changes = _Changes()

    def sync(self) -> None:
        """fsync the files written without it (write-through mode)."""
        with self.lock:
            if not self.unsynced:
                return
            self.unsynced = False
            self.last_sync = time.monotonic()
            sync_file(self.arrow_path)
            sync_file(self.yaml_path)
