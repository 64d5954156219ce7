"""Runs on disk: creation, buffered logging, durable flushes, status, commits.

Writes to a run go through a :class:`LiveRun`, one per run and process. It
keeps metric points and changes in memory and flushes them to ``run.yaml`` and
``metrics.arrow`` when the run ends, every few seconds while it is active, and
at interpreter exit. A flush takes the run's inter-process lock and merges
with whatever another process wrote since (params and tags of both survive,
metric points are appended), so logging into a run from several processes or
later from the client never loses earlier points.

A long-lived process that serves many writers (``mltrack server``, possibly
several worker processes) sets ``RunStore.write_through``: every change is then
applied to the run's current files under its lock and written before the call
returns (see :meth:`RunStore.updating`), so other processes see it at once and
nothing waits in memory; the files are fsynced when the run ends and at least
every flush interval.

A process that owns an active run leaves a marker (pid, host, process start
time) under ``.git/mltrack/active/``. A run whose file says RUNNING but whose
owner is gone (``kill -9``, power loss) is reported as KILLED; ``mltrack commit``
writes that status down and commits the run.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import socket
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrack.entities import FileInfo, LifecycleStage, Metric, RunStatus, ViewType
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.store import metrics as metrics_file
from mltrack.store import schema, validation, yamlio
from mltrack.store.files import (
    Stamp,
    atomic_write,
    file_lock,
    stamp,
    sync_file,
    temporary_owner,
)
from mltrack.store.index import RunIndex
from mltrack.store.records import RunRecord

if TYPE_CHECKING:
    from mltrack.store.repository import Repository

__all__ = ["LiveRun", "RunStore", "flush_all_live_runs"]

Point = tuple[str, float, int, int]


def _now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------- process liveness


def _process_start(pid: int) -> str | None:
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


_HOST = socket.gethostname()
_OWN_START: tuple[int, str | None] | None = None


def _own_start() -> str | None:
    """This process's kernel start time, read once per process (pid changes after fork)."""
    global _OWN_START
    pid = os.getpid()
    if _OWN_START is None or _OWN_START[0] != pid:
        _OWN_START = (pid, _process_start(pid))
    return _OWN_START[1]


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

    @property
    def yaml_path(self) -> Path:
        return self.run_dir / "run.yaml"

    @property
    def arrow_path(self) -> Path:
        return self.run_dir / "metrics.arrow"

    def dirty(self) -> bool:
        return bool(self.points) or bool(self.changes)

    # -- logging (memory only) -------------------------------------------------

    def log_metric(self, key: str, value: float, step: int, timestamp: int) -> None:
        with self.lock:
            self.points.append((key, value, step, timestamp))

    def log_points(self, points: Iterable[Point]) -> None:
        with self.lock:
            self.points.extend(points)

    def log_params(self, params: dict[str, str]) -> None:
        with self.lock:
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
            self.record.tags.update(tags)
            self.changes.tags.update(tags)

    def delete_tag(self, key: str) -> None:
        with self.lock:
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
            self._accept(_Changes(inputs=items))
            self.changes.inputs.extend(items)

    def add_outputs(self, items: list[dict[str, Any]]) -> None:
        with self.lock:
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
        """Write buffered changes (fsynced unless ``durable`` is False); True if anything was written."""
        with self.lock:
            if not self.dirty():
                return False
            started = time.monotonic()
            with self.store.run_lock(self.run_id):
                self._write(durable=durable)
            self.last_flush_seconds = self.last_flush - started
            return True

    def _write(self, durable: bool) -> None:
        """Merge with what other processes wrote, then write (the caller holds both locks)."""
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
        metrics_file.append_points(self.arrow_path, self.points, durable=durable)
        self.store.write_document(self.run_dir, document, durable=durable)
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
            except BaseException:
                if not buffered:
                    self._reload()  # forget the half-applied change: nothing of it was written
                raise
            self._write(durable=False)

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


class RunStore:
    """All runs of one repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.write_through = False  # a server: see the module docstring and updating()
        self.owner_pid: int | None = (
            None  # the process that owns runs created here (default: this one)
        )
        self.index = RunIndex(repo)
        self.active_dir = repo.private_dir / "active"
        self._live: dict[str, LiveRun] = {}
        self._locations: dict[str, str] = {}
        self._histories: dict[tuple[str, str], tuple[Stamp | None, list[Metric]]] = {}
        self._lock = threading.RLock()
        _register_store(self)

    def close(self) -> None:
        self.flush_all()
        self.index.save()

    # ------------------------------------------------------------------ layout

    def run_dir(self, experiment_id: str, run_id: str) -> Path:
        return self.repo.experiment_dir(experiment_id) / "runs" / run_id

    def locate(self, run_id: str) -> Path:
        """The run's directory, wherever its experiment is."""
        validation.run_id(run_id)
        experiment_id = self._locations.get(run_id)
        if experiment_id is not None:
            path = self.run_dir(experiment_id, run_id)
            if (path / "run.yaml").is_file():
                return path
        try:
            experiment_ids = os.listdir(self.repo.experiments_dir)
        except FileNotFoundError:
            experiment_ids = []
        for experiment_id in experiment_ids:
            path = self.run_dir(experiment_id, run_id)
            if (path / "run.yaml").is_file():
                self._locations[run_id] = experiment_id
                return path
        raise ResourceDoesNotExist(
            f"Run '{run_id}' not found in {self.repo.root}. List runs with `mltrack runs list`."
        )

    def artifact_dir(self, run_id: str) -> Path:
        return self.locate(run_id) / "artifacts"

    @contextlib.contextmanager
    def run_lock(self, run_id: str) -> Any:
        with file_lock(self.repo.lock_dir, run_id):
            yield

    # ------------------------------------------------------------------ files

    def parse_run_dir(self, run_dir: Path) -> RunRecord:
        path = run_dir / "run.yaml"
        data = self.repo._read_yaml(path, "run")
        where = self.repo.rel(path)
        if data["run_id"] != run_dir.name or data["experiment_id"] != run_dir.parent.parent.name:
            from mltrack.exceptions import CorruptStore

            raise CorruptStore(
                where, "field 'run_id'/'experiment_id' does not match the run's directory"
            )
        return RunRecord.from_dict(data, artifact_uri=(run_dir / "artifacts").as_uri())

    def write_document(self, run_dir: Path, document: dict[str, Any], durable: bool = True) -> None:
        """Write a run.yaml document the caller already validated."""
        atomic_write(run_dir / "run.yaml", yamlio.dump(document), durable=durable)

    # ------------------------------------------------------------------ live runs

    def live(self, run_id: str) -> LiveRun:
        """This process's writer for ``run_id`` (loaded from disk on first use)."""
        with self._lock:
            live = self._live.get(run_id)
            if live is not None:
                return live
            run_dir = self.locate(run_id)
            with self.run_lock(run_id):
                disk = stamp(run_dir / "run.yaml")
                record = self.parse_run_dir(run_dir)
            live = LiveRun(self, record, run_dir, disk)
            self._live[run_id] = live
        _ensure_flusher()
        return live

    @contextlib.contextmanager
    def updating(self, run_id: str) -> Iterator[LiveRun]:
        """The run's writer for one change.

        Normally the change is buffered in this process. With ``write_through``
        it is applied to the run's current files under the run's lock and
        written before the block ends (:meth:`LiveRun.transaction`).
        """
        live = self.live(run_id)
        if not self.write_through:
            yield live
            return
        with live.transaction():
            yield live

    def create(
        self,
        experiment_id: str,
        run_id: str,
        run_name: str,
        start_time: int,
        user_id: str,
        tags: dict[str, str],
        parent_run_id: str | None,
        code: dict[str, Any],
    ) -> LiveRun:
        self.repo.ensure_initialized()
        run_dir = self.run_dir(experiment_id, run_id)
        record = RunRecord(
            run_id=run_id,
            experiment_id=experiment_id,
            run_name=run_name,
            status=RunStatus.RUNNING,
            start_time=start_time,
            end_time=None,
            lifecycle_stage=LifecycleStage.ACTIVE,
            user_id=user_id,
            parent_run_id=parent_run_id,
            tags=dict(tags),
            code=dict(code),
            artifact_uri=(run_dir / "artifacts").as_uri(),
        )
        with self.run_lock(run_id):
            if run_dir.exists():
                raise InvalidParameterValue(f"Run {run_id} already exists.")
            self.repo._write_yaml(run_dir / "run.yaml", "run", record.to_dict(), durable=False)
            disk = stamp(run_dir / "run.yaml")
        self.index.remember(run_dir, record)
        live = LiveRun(self, record, run_dir, disk)
        live.unsynced = self.write_through
        with self._lock:
            self._live[run_id] = live
            self._locations[run_id] = experiment_id
        self.claim(live)
        _ensure_flusher()
        return live

    def claim(self, live: LiveRun) -> None:
        """Mark this process as the run's active writer (for KILLED detection)."""
        pid = self.owner_pid or os.getpid()
        marker = {
            "pid": pid,
            "host": _HOST,
            "start": _own_start() if pid == os.getpid() else _process_start(pid),
        }
        # Written in place: a torn marker (a crash mid-write) reads as "owner unknown".
        path = self.active_dir / live.run_id
        try:
            path.write_text(json.dumps(marker))
        except FileNotFoundError:
            self.active_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(marker))
        live.owned = True

    def release(self, live: LiveRun) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.active_dir / live.run_id).unlink()
        live.owned = False

    def owner_alive(self, run_id: str) -> bool | None:
        """True/False if this clone knows the run's writer; None if it does not."""
        try:
            marker = json.loads((self.active_dir / run_id).read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        if marker.get("host") != _HOST:
            return None
        if marker.get("pid") == os.getpid():
            live = self._live.get(run_id)
            return live is not None and live.owned
        start = _process_start(int(marker.get("pid", 0)))
        return start is not None and (start == marker.get("start") or start == "unknown")

    def effective_status(self, record: RunRecord) -> str:
        if record.status == RunStatus.RUNNING and self.owner_alive(record.run_id) is False:
            return RunStatus.KILLED
        return record.status

    # ------------------------------------------------------------------ reading

    def get(self, run_id: str) -> RunRecord:
        live = self._live.get(run_id)
        if live is not None:
            current = live.current()
            if current is not None:
                return current
        return self.parse_run_dir(self.locate(run_id))

    def records(
        self,
        experiment_ids: Sequence[str] | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        progress: Any = None,
    ) -> list[RunRecord]:
        """Runs of the given experiments (cached reads), this process's unflushed state included."""
        found = self.index.records(experiment_ids, progress)
        with self._lock:
            overlays = {run_id: live for run_id, live in self._live.items() if live.dirty()}
        if overlays:
            found = [
                (overlays[r.run_id].current() or r) if r.run_id in overlays else r for r in found
            ]
        return [r for r in found if LifecycleStage.matches_view_type(view_type, r.lifecycle_stage)]

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of ``key``: the stored ones, then this process's unflushed ones.

        Histories read from a file are kept (Metric records are read-only) until the
        file changes, so reading the same long history again costs a list copy.
        """
        run_dir = self.locate(run_id)
        live = self._live.get(run_id)
        pending = live.pending_points() if live is not None else []
        arrow = run_dir / "metrics.arrow"
        current = stamp(arrow)
        cache_key = (str(arrow), key)
        cached = self._histories.get(cache_key)
        if cached is not None and cached[0] == current:
            stored = cached[1]
        else:
            table = metrics_file.read_table(arrow, self.repo.rel(arrow))
            stored = metrics_file.history(table, key, run_id)
            if len(self._histories) >= 16:
                self._histories.pop(next(iter(self._histories)))
            self._histories[cache_key] = (current, stored)
        extra = [Metric(k, v, t, s, run_id) for k, v, s, t in pending if k == key]
        return [*stored, *extra]

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        root = self.artifact_dir(run_id)
        relative = validation.artifact_path(path)
        directory = root / relative if relative else root
        if directory.is_file():
            return []
        if not directory.is_dir():
            return []
        infos = []
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            rel = f"{relative}/{entry.name}" if relative else entry.name
            if entry.is_dir():
                infos.append(FileInfo(rel, True, None))
            else:
                infos.append(FileInfo(rel, False, entry.stat().st_size))
        return infos

    # ------------------------------------------------------------------ ending and committing

    def terminate(self, run_id: str, status: str, end_time: int | None = None) -> None:
        """End a run: write its final state and (with auto-commit) commit it."""
        with self.updating(run_id) as live:
            live.set_info(status=status, end_time=end_time if end_time is not None else _now_ms())
        # Not fsynced: the commit that follows makes the files git objects at once,
        # which git itself does not fsync either. Flushes during the run are fsynced.
        live.flush(durable=False)
        self.release(live)
        self.commit_run(run_id)
        live.unsynced = False  # committed: as durable as a `git commit` (see flush above)
        self._forget_written(run_id)

    def _forget_written(self, run_id: str) -> None:
        """Write-through keeps nothing in memory that is not on disk: drop an ended run's writer."""
        if self.write_through:
            with self._lock:
                live = self._live.get(run_id)
                if live is not None and not live.dirty() and not live.unsynced:
                    del self._live[run_id]

    def commit_run(
        self, run_id: str, *, force: bool = False, action: str | None = None
    ) -> str | None:
        """Commit the run's files; ``action`` ("Delete") names a change other than its end."""
        if not force and not self.repo.settings().auto_commit:
            return None
        live = self._live.get(run_id)
        if live is not None:
            live.flush()
        run_dir = self.locate(run_id)
        with self.run_lock(run_id):
            _remove_dead_temporaries(run_dir)
            current = live.current() if live is not None else None
            record = current if current is not None else self.parse_run_dir(run_dir)
            experiment = self.repo.read_experiment(record.experiment_id)
            experiment_name = experiment.name if experiment else record.experiment_id
            subject, body = run_commit_message(record, experiment_name)
            if action is not None:
                subject = f"{action} run {record.run_name} in {experiment_name}"
            return self.repo.commit(
                [self.repo.rel(run_dir), self.repo.rel(run_dir.parent.parent / "experiment.yaml")],
                subject,
                body=body,
                trailers={
                    "Mltrack-Run": record.run_id,
                    "Mltrack-Experiment": record.experiment_id,
                    "Mltrack-Status": record.status,
                },
            )

    def flush_all(self) -> None:
        with self._lock:
            lives = list(self._live.values())
        for live in lives:
            live.flush()

    def flush_due(self, interval: float) -> None:
        """Periodic flush. A flush rewrites metrics.arrow, so for long histories the interval
        stretches until rewriting costs at most ~5% of the time (bounded write amplification)."""
        now = time.monotonic()
        with self._lock:
            lives = list(self._live.values())
        for live in lives:
            with contextlib.suppress(Exception):
                if now - live.last_flush >= max(interval, 20 * live.last_flush_seconds):
                    live.flush()
                if live.unsynced and now - live.last_sync >= interval:
                    live.sync()

    def at_exit(self) -> None:
        """Interpreter exit: flush everything; commit runs that are no longer active."""
        with self._lock:
            lives = list(self._live.values())
        for live in lives:
            try:
                wrote = live.flush()
                live.sync()
                if live.owned:
                    continue  # the tracking layer ends its own runs before this
                if wrote and live.record.status != RunStatus.RUNNING:
                    self.commit_run(live.run_id)
            except Exception:
                continue

    # ------------------------------------------------------------------ lifecycle

    def set_lifecycle(self, run_id: str, stage: str) -> None:
        deleted_time = _now_ms() if stage == LifecycleStage.DELETED else None
        with self.updating(run_id) as live:
            live.set_info(lifecycle_stage=stage, deleted_time=deleted_time)
        live.flush()
        live.sync()
        self.commit_run(run_id, action="Delete" if stage == LifecycleStage.DELETED else "Restore")
        if live.record.status != RunStatus.RUNNING:
            self._forget_written(run_id)

    def remove(self, run_id: str) -> Path:
        """Delete a run's files for good (``mltrack gc``); returns the removed directory."""
        run_dir = self.locate(run_id)
        with self._lock:
            self._live.pop(run_id, None)
        with self.run_lock(run_id):
            shutil.rmtree(run_dir)
        self.index.forget(run_dir)
        return run_dir


def _remove_dead_temporaries(run_dir: Path) -> None:
    """Delete half-written temporaries whose writer died (kill -9 mid-write), so no commit holds one."""
    for path in run_dir.rglob(".*.tmp-*"):
        pid = temporary_owner(path.name)
        if pid is not None and pid != os.getpid() and _process_start(pid) is None:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                path.unlink()


def run_commit_message(record: RunRecord, experiment_name: str) -> tuple[str, str]:
    subject = f"Run {record.run_name}: {record.status} in {experiment_name}"

    def summary(items: dict[str, Any], limit: int = 8) -> str:
        shown = [f"{k}={_short(v)}" for k, v in sorted(items.items())[:limit]]
        more = len(items) - limit
        return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")

    body = []
    if record.metrics:
        body.append("metrics: " + summary(record.metrics))
    if record.params:
        body.append("params: " + summary(record.params))
    return subject, "\n".join(body)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---------------------------------------------------------------------- process-wide flushing

_stores: weakref.WeakSet[RunStore] = weakref.WeakSet()
_flusher: threading.Thread | None = None
_flusher_guard = threading.Lock()


def _register_store(store: RunStore) -> None:
    _stores.add(store)


def _ensure_flusher() -> None:
    global _flusher
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
                store.flush_due(store.repo.settings().flush_interval_seconds)


def flush_all_live_runs() -> None:
    for store in list(_stores):
        store.flush_all()


def _at_exit() -> None:
    for store in list(_stores):
        with contextlib.suppress(Exception):
            store.at_exit()
            store.index.save()


def _after_fork_in_child() -> None:
    """A forked child starts with no writers: the parent keeps flushing its own runs."""
    global _flusher, _flusher_guard
    for store in list(_stores):
        store._live.clear()
        store._lock = threading.RLock()
    _flusher = None
    _flusher_guard = threading.Lock()


atexit.register(_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
