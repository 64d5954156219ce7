"""The run store: creation, status, reading, ending and committing the runs of a repository.

Writes to a run go through a :class:`~mltrack.store.live.LiveRun`, one per run
and process (the live run buffer, :mod:`mltrack.store.live`); buffered changes
are flushed when the run ends, every few seconds while it is active, and at
interpreter exit (:mod:`mltrack.store.flushing`).

A long-lived process that serves many writers (``mltrack server``, possibly
several worker processes) sets ``RunStore.write_through``: every change is then
applied to the run's current state under its lock and appended to the run's
journal before the call returns (see :meth:`RunStore.updating` and
:mod:`mltrack.store.journal`), so other processes see it at once and nothing
waits in memory; every read here folds the journal in, and the run's files take
it in when the run ends. Journals and files are fsynced at least every flush
interval.

A process that owns an active run leaves a marker (pid, host, process start
time) under ``.git/mltrack/active/``. A run whose file says RUNNING but whose
owner is gone (``kill -9``, power loss) is reported as KILLED; ``mltrack commit``
writes that status down and commits the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_from_bytes

from mltrack.entities import LifecycleStage, Metric, RunStatus, ViewType
from mltrack.exceptions import (
    GitError,
    InvalidParameterValue,
    ResourceDoesNotExist,
    SigningError,
    StoreWriteError,
)
from mltrack.store import journal as journal_file
from mltrack.store import metrics as metrics_file
from mltrack.store import validation, yamlio
from mltrack.store.files import (
    Stamp,
    atomic_write,
    failure_reason,
    file_lock,
    file_locks,
    holding,
    stamp,
)
from mltrack.store.flushing import ensure_flusher, flush_all_live_runs, register_store
from mltrack.store.index import RunIndex
from mltrack.store.journal import Journal, JournalReader
from mltrack.store.live import LiveRun
from mltrack.store.processes import HOST, own_start, process_start, remove_dead_temporaries
from mltrack.store.records import RunRecord, run_commit_message

if TYPE_CHECKING:
    from mltrack.store.repository import Repository

__all__ = ["LiveRun", "RunStore", "flush_all_live_runs", "run_commit_message", "unique_match"]


def unique_match(prefix: str, ids: set[str]) -> str:
    """The one run id of ``ids`` starting with ``prefix``; a clear error for none or several."""
    matches = sorted(run_id for run_id in ids if run_id.startswith(prefix))
    if not matches:
        raise ResourceDoesNotExist(
            f"No run id starts with {prefix!r}. List runs with `mltrack runs list`."
        )
    if len(matches) > 1:
        shown = ", ".join(m[:12] for m in matches[:5])
        raise InvalidParameterValue(f"Run id prefix {prefix!r} is ambiguous: {shown}")
    return matches[0]


def _now_ms() -> int:
    return int(time.time() * 1000)


class RunStore:
    """All runs of one repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.write_through = False  # a server: see the module docstring and updating()
        self.owner_pid: int | None = (
            None  # the process that owns runs created here (default: this one)
        )
        self.index = RunIndex(repo)
        self.journals = JournalReader(repo.private_dir / "journal", repo.rel)
        # run id → (run.yaml record, journal, the two folded): records() folds each once
        self._folded: dict[str, tuple[RunRecord, Journal, RunRecord]] = {}
        self.active_dir = repo.private_dir / "active"
        self._live: dict[str, LiveRun] = {}
        self._locations: dict[str, str] = {}
        self._histories: dict[tuple[str, str], tuple[Stamp | None, list[Metric]]] = {}
        self._after_commit: dict[str, list[Callable[[], object]]] = {}
        self._lock = threading.RLock()
        self._batch = threading.local()  # ended run ids waiting for one_commit's commit
        register_store(self)

    def forget_writers(self) -> None:
        """In a forked child: no writers (the parent keeps flushing its own runs)."""
        self._live.clear()
        self._lock = threading.RLock()
        self.journals = JournalReader(self.journals.directory, self.repo.rel)  # its lock too

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

    def resolve_id(self, prefix: str) -> str:
        """The full id of the run whose id starts with ``prefix`` (like git's short hashes)."""
        if len(prefix) == 32:
            return prefix
        if len(prefix) < 4:
            raise InvalidParameterValue(
                f"Run id prefix {prefix!r} is too short: give at least 4 characters."
            )
        # Directory names: a run with a corrupt run.yaml is still found.
        ids = {path.name for _, path in self.index.run_dirs(None)}
        return unique_match(prefix, ids)

    def artifact_dir(self, run_id: str) -> Path:
        return self.locate(run_id) / "artifacts"

    @contextlib.contextmanager
    def run_lock(self, run_id: str) -> Any:
        with file_lock(self.repo.lock_dir, run_id):
            yield

    # ------------------------------------------------------------------ files

    def parse_run_dir(self, run_dir: Path | str) -> RunRecord:
        """The run's record from its run.yaml, validated (CorruptStore names the file).

        Text in, no pathlib: a fresh clone's first listing parses 10,000 of these."""
        run_dir = str(run_dir)
        path = run_dir + "/run.yaml" if os.sep == "/" else os.path.join(run_dir, "run.yaml")
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            raise ResourceDoesNotExist(f"{self.repo.rel(path)} does not exist") from None
        return self.parse_run_bytes(run_dir, raw)

    def parse_run_bytes(self, run_dir: str, raw: bytes) -> RunRecord:
        """:meth:`parse_run_dir` of run.yaml bytes the caller already read."""
        path = run_dir + "/run.yaml" if os.sep == "/" else os.path.join(run_dir, "run.yaml")
        data = self.repo.parse_yaml(raw, "run", self.repo.rel(path))
        *_, experiment_id, _, run_id = run_dir.replace(os.sep, "/").rsplit("/", 3)
        if data["run_id"] != run_id or data["experiment_id"] != experiment_id:
            from mltrack.exceptions import CorruptStore

            raise CorruptStore(
                self.repo.rel(path),
                "field 'run_id'/'experiment_id' does not match the run's directory",
            )
        artifacts = os.fsencode(os.path.join(run_dir, "artifacts"))
        return RunRecord.from_dict(data, artifact_uri=_file_uri(artifacts))

    def read_run(self, run_dir: Path) -> RunRecord:
        """The run as its files and its journal hold it now.

        The journal is read first: a compaction between the two reads then shows
        the compacted run.yaml with the journal folded in twice, which changes
        nothing (folding is idempotent); the other order could miss the journal.
        """
        run_id = run_dir.name
        journal = self.journals.read(run_id)
        record = self.parse_run_dir(run_dir)
        if journal is not None:
            journal.fold(record)
        return record

    def _with_journal(self, record: RunRecord, journal: Journal) -> RunRecord:
        """``record`` (a cached run.yaml) with ``journal`` folded in, computed once per pair."""
        with self._lock:
            known = self._folded.get(record.run_id)
        if known is not None and known[0] is record and known[1] is journal:
            return known[2]
        folded = record.copy()
        journal.fold(folded)
        with self._lock:
            self._folded[record.run_id] = (record, journal, folded)
        return folded

    def write_document(self, run_dir: Path, document: dict[str, Any], durable: bool = True) -> None:
        """Write a run.yaml document the caller already validated."""
        atomic_write(run_dir / "run.yaml", yamlio.dump(document), durable=durable)

    # ------------------------------------------------------------------ live runs

    def live(self, run_id: str) -> LiveRun:
        """This process's writer for ``run_id`` (loaded from disk on first use)."""
        live = self._live.get(run_id)
        if live is not None:
            return live
        # Read without the store's lock (a request on the event loop may not wait for it
        # while another thread waits here for the run's lock); the first writer made wins.
        run_dir = self.locate(run_id)
        with self.run_lock(run_id):
            disk = stamp(run_dir / "run.yaml")
            record = self.parse_run_dir(run_dir)
        fresh = LiveRun(self, record, run_dir, disk)
        ensure_flusher()
        with holding(self._lock):
            return self._live.setdefault(run_id, fresh)

    @contextlib.contextmanager
    def updating(self, run_id: str, *, compact: bool = False) -> Iterator[LiveRun]:
        """The run's writer for one change.

        Normally the change is buffered in this process. With ``write_through``
        it is applied to the run's current state under the run's lock and stored
        before the block ends (:meth:`LiveRun.transaction`): appended to the run's
        journal, or with ``compact`` written into the run's files with the journal.
        """
        live = self.live(run_id)
        if not self.write_through:
            yield live
            return
        with live.transaction(compact=compact):
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
            try:
                self.repo._write_yaml(run_dir / "run.yaml", "run", record.to_dict(), durable=False)
                live = LiveRun(self, record, run_dir, stamp(run_dir / "run.yaml"))
                self.claim(live)
            except OSError as error:
                # No empty or half-made run directory stays behind to be listed or committed.
                shutil.rmtree(run_dir, ignore_errors=True)
                with contextlib.suppress(FileNotFoundError):
                    (self.active_dir / run_id).unlink()
                raise StoreWriteError(
                    f"Could not create run {run_name} in {self.repo.rel(run_dir.parent)}: "
                    f"{error.strerror or error}. Nothing was stored; free disk space and start "
                    "the run again."
                ) from error
        self.index.remember(run_dir, record)
        live.unsynced = self.write_through
        with self._lock:
            self._live[run_id] = live
            self._locations[run_id] = experiment_id
        ensure_flusher()
        return live

    def claim(self, live: LiveRun) -> None:
        """Mark this process as the run's active writer (for KILLED detection)."""
        pid = self.owner_pid or os.getpid()
        marker = {
            "pid": pid,
            "host": HOST,
            "start": own_start() if pid == os.getpid() else process_start(pid),
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
        if marker.get("host") != HOST:
            return None
        if marker.get("pid") == os.getpid():
            live = self._live.get(run_id)
            return live is not None and live.owned
        start = process_start(int(marker.get("pid", 0)))
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
        return self.read_run(self.locate(run_id))

    def records(
        self,
        experiment_ids: Sequence[str] | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        progress: Any = None,
    ) -> list[RunRecord]:
        """Runs of the given experiments (cached reads), this process's unflushed state included."""
        # Journals before run.yaml files (see read_run).
        journals = {run_id: self.journals.read(run_id) for run_id in self.journals.run_ids()}
        found = self.index.records(experiment_ids, progress)
        with self._lock:
            for gone in self._folded.keys() - journals.keys():
                del self._folded[gone]
        if journals:
            found = [
                self._with_journal(r, journal)
                if (journal := journals.get(r.run_id)) is not None
                else r
                for r in found
            ]
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
        journal = self.journals.read(run_id)  # before metrics.arrow (see read_run)
        live = self._live.get(run_id)
        pending = live.pending_points() if live is not None else []
        if journal is not None:
            pending = journal.points_of(key) + pending
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
        mine = [point for point in pending if point[0] == key]
        if mine and stored:
            # A point this process re-sent (see metrics.new_points) is shown once.
            since = min(point[3] for point in mine)
            seen = {(key, m.value, m.step, m.timestamp) for m in stored if m.timestamp >= since}
            mine = [point for point in mine if point not in seen]
        extra = [Metric(k, v, t, s, run_id) for k, v, s, t in dict.fromkeys(mine)]
        return [*stored, *extra]

    def metric_arrays(self, run_id: str, key: str) -> tuple[Any, Any, Any]:
        """Values, steps and timestamps of ``key`` as numpy arrays (charts: no record per point).

        The same points as :meth:`metric_history`; read straight from the columns unless this
        process holds unflushed points of ``key``.
        """
        import numpy as np

        live = self._live.get(run_id)
        journal = self.journals.read(run_id)
        if (live is not None and any(point[0] == key for point in live.pending_points())) or (
            journal is not None and journal.points_of(key)
        ):
            points = self.metric_history(run_id, key)
            return (
                np.array([m.value for m in points], dtype=float),
                np.array([m.step for m in points], dtype=np.int64),
                np.array([m.timestamp for m in points], dtype=np.int64),
            )
        arrow = self.locate(run_id) / "metrics.arrow"
        return metrics_file.columns(metrics_file.read_table(arrow, self.repo.rel(arrow)), key)

    # ------------------------------------------------------------------ ending and committing

    def running_here(self, run_id: str) -> bool:
        """Whether this process (not a server) owns ``run_id`` and it is still running."""
        live = self._live.get(run_id)
        return (
            not self.write_through
            and live is not None
            and live.owned
            and live.record.status == RunStatus.RUNNING
        )

    def after_commit(self, run_id: str, action: Callable[[], object]) -> None:
        """Do ``action`` right after the run's final commit (e.g. register a model it logged)."""
        with self._lock:
            self._after_commit.setdefault(run_id, []).append(action)

    def pending_after_commit(self) -> list[Callable[[], object]]:
        with self._lock:
            return [action for actions in self._after_commit.values() for action in actions]

    def take_after_commit(self, wanted: Callable[[object], bool]) -> list[Callable[[], object]]:
        """Remove and return the waiting actions ``wanted`` selects (to do them now instead)."""
        with self._lock:
            taken = []
            for run_id, actions in list(self._after_commit.items()):
                taken += [action for action in actions if wanted(action)]
                kept = [action for action in actions if not wanted(action)]
                if kept:
                    self._after_commit[run_id] = kept
                else:
                    del self._after_commit[run_id]
            return taken

    def terminate(self, run_id: str, status: str, end_time: int | None = None) -> None:
        """End a run: write its final state and (with auto-commit) commit it."""
        with self.updating(run_id, compact=True) as live:
            live.set_info(status=status, end_time=end_time if end_time is not None else _now_ms())
        # Not fsynced: the commit that follows makes the files git objects at once,
        # which git itself does not fsync either. Flushes during the run are fsynced.
        try:
            live.flush(durable=False)
        except StoreWriteError as error:
            raise StoreWriteError(
                f"Could not end run {run_id}: {failure_reason(error)}. Its last {len(live.points)} "
                "metric point(s) and its end are still in memory: free disk space and end the "
                f"run again. What earlier flushes wrote is safe on disk in {live.where()}; if "
                "this process exits first, `mltrack commit` records the run as KILLED and "
                "commits it."
            ) from error
        self.release(live)
        batch: list[str] | None = getattr(self._batch, "ended", None)
        if batch is not None:
            batch.append(run_id)  # committed with the others when one_commit's block ends
            return
        try:
            self.commit_run(run_id)
        except (OSError, GitError) as error:
            with contextlib.suppress(OSError):
                live.sync()
            remedy = "Fix the signing key" if isinstance(error, SigningError) else "Free disk space"
            raise StoreWriteError(
                f"Run {run_id} ended and is safe on disk in {live.where()}, but committing it "
                f"failed: {failure_reason(error)}. {remedy}, then run `mltrack commit` to "
                "commit it."
            ) from error
        live.unsynced = False  # committed: as durable as a `git commit` (see flush above)
        self._forget_written(run_id)
        with self._lock:
            actions = self._after_commit.pop(run_id, [])
        for action in actions:
            action()

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
        with self._locked_records([run_id]) as found:
            run_dir, record, experiment_name = found[0]
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

    @contextlib.contextmanager
    def one_commit(self, subject: str) -> Iterator[None]:
        """Runs this thread ends inside the block become one commit, not one each.

        A parameter search's candidate runs are many small runs made at once: one
        commit keeps the history readable and costs one index update instead of
        dozens. Until the block ends they are ended runs on disk, as after a failed
        commit, so ``mltrack commit`` commits them if the process dies first.
        """
        if getattr(self._batch, "ended", None) is not None:
            yield  # nested: the outer block commits
            return
        ended: list[str] = []
        self._batch.ended = ended
        try:
            yield
        finally:
            self._batch.ended = None
            if ended:
                self._commit_ended(ended, subject)

    def _commit_ended(self, run_ids: list[str], subject: str) -> None:
        try:
            self.commit_runs(run_ids, subject)
        except (OSError, GitError) as error:
            raise StoreWriteError(
                f"{len(run_ids)} run(s) ended and are safe on disk, but committing them "
                f"failed: {failure_reason(error)}. Free disk space, then run `mltrack commit` to "
                "commit them."
            ) from error
        for run_id in run_ids:
            live = self._live.get(run_id)
            if live is not None:
                live.unsynced = False
            self._forget_written(run_id)

    def commit_runs(self, run_ids: Sequence[str], subject: str) -> str | None:
        """Commit several runs' files as one commit (one trailer line per run)."""
        if not self.repo.settings().auto_commit:
            return None
        with self._locked_records(run_ids) as found:
            paths: list[str] = []
            for run_dir, _, _ in found:
                paths += [
                    self.repo.rel(run_dir),
                    self.repo.rel(run_dir.parent.parent / "experiment.yaml"),
                ]
            lines = []  # one line per run: the timeline reads them back in trailer order
            for _, record, name in found:
                summary = run_commit_message(record, name)[1].replace("\n", "; ")
                lines.append(f"{record.run_name}: {summary or record.status}")
            return self.repo.commit(
                sorted(set(paths)),
                subject,
                body="\n".join(lines),
                trailers={
                    "Mltrack-Run": [record.run_id for _, record, _ in found],
                    "Mltrack-Experiment": [record.experiment_id for _, record, _ in found],
                    "Mltrack-Status": [record.status for _, record, _ in found],
                },
            )

    @contextlib.contextmanager
    def _locked_records(
        self, run_ids: Sequence[str]
    ) -> Iterator[list[tuple[Path, RunRecord, str]]]:
        """Flush the runs, then hold their locks: (directory, record, experiment name) each."""
        ids = sorted(run_ids)
        for run_id in ids:
            live = self._live.get(run_id)
            if self.journals.path(run_id).exists():
                self.live(run_id).compact()  # a commit never leaves a change in the journal
            elif live is not None:
                live.flush()
        # One call for every run: two runs may hash to the same lock file.
        with file_locks(self.repo.lock_dir, ids):
            found = []
            for run_id in ids:
                live = self._live.get(run_id)
                run_dir = self.locate(run_id)
                remove_dead_temporaries(run_dir)
                self.repo.prepare_large_artifacts(run_dir)
                current = live.current() if live is not None else None
                record = current if current is not None else self.read_run(run_dir)
                experiment = self.repo.read_experiment(record.experiment_id)
                found.append(
                    (run_dir, record, experiment.name if experiment else record.experiment_id)
                )
            order = {run_id: i for i, run_id in enumerate(run_ids)}
            found.sort(key=lambda item: order[item[1].run_id])
            yield found

    def writers(self) -> list[LiveRun]:
        """This process's live runs (a copy: flushing one never holds the store's lock)."""
        with self._lock:
            return list(self._live.values())

    def flush_all(self) -> None:
        for live in self.writers():
            live.flush()

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
            journal_file.remove(self.journals.path(run_id))
        self.journals.forget(run_id)
        self.index.forget(run_dir)
        return run_dir


def _file_uri(path: bytes) -> str:
    """``Path(path).as_uri()`` for an absolute path, without building a Path."""
    if os.sep != "/":
        return Path(os.fsdecode(path)).as_uri()
    return "file://" + quote_from_bytes(path)
