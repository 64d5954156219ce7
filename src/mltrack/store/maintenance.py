"""Whole-repository checks and upkeep: ``fsck``, ``gc`` and committing pending runs."""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mltrack import safepath
from mltrack.entities import LifecycleStage, RunStatus, ViewType
from mltrack.exceptions import CorruptStore, MltrackError
from mltrack.gitstore import MLTRACK_DIR
from mltrack.store import journal as journal_file
from mltrack.store import metrics as metrics_file
from mltrack.store.model_store import ModelStore
from mltrack.store.processes import remove_dead_temporaries

if TYPE_CHECKING:
    from mltrack.store.repository import Repository

__all__ = ["CommitReport", "GcReport", "Problem", "commit_pending", "fsck", "gc"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def fsck(repo: Repository, progress: Progress | None = None) -> list[Problem]:
    """Validate every file under ``.mltrack/``; each problem names the file and the field."""
    problems: list[Problem] = []

    def check(action: Callable[[], object]) -> None:
        try:
            action()
        except CorruptStore as error:
            problems.append(Problem(error.path, error.problem))
        except MltrackError as error:
            problems.append(Problem(MLTRACK_DIR, error.message))

    if not repo.dir.is_dir():
        return [Problem(MLTRACK_DIR, "missing: run `mltrack init` to create the store")]
    check(repo.settings)
    experiment_ids = []
    for entry in sorted(os.listdir(repo.experiments_dir)) if repo.experiments_dir.is_dir() else []:
        path = repo.experiments_dir / entry
        if not entry.isdigit():
            problems.append(
                Problem(repo.rel(path), "not an experiment directory (names are digits)")
            )
            continue
        if not (path / "experiment.yaml").is_file():
            problems.append(Problem(repo.rel(path / "experiment.yaml"), "missing"))
            continue
        experiment_ids.append(entry)
        check(functools.partial(repo.read_experiment, entry))
    runs = repo.runs
    for _, run_dir in runs.index.run_keys(experiment_ids):
        if not os.path.isfile(run_dir + "/run.yaml"):
            problems.append(Problem(repo.rel(run_dir + "/run.yaml"), "missing"))
    # One pass through the per-clone cache: run.yaml files it holds unchanged were checked
    # when they were parsed; the others are parsed and checked now (and cached for `runs list`).
    records = runs.index.records(experiment_ids, progress, warn=False, save=False)
    problems.extend(Problem(error.path, error.problem) for error in runs.index.problems)
    known_runs = {record.run_id for record in records}
    experiments_dir = str(repo.experiments_dir)
    for record in records:
        # Text paths: 10,000 runs of Path objects would cost more than the checks.
        run_path = f"{experiments_dir}/{record.experiment_id}/runs/{record.run_id}"
        if record.parent_run_id and record.parent_run_id not in known_runs:
            problems.append(
                Problem(
                    repo.rel(run_path + "/run.yaml"),
                    f"field 'parent_run_id': no run {record.parent_run_id}",
                )
            )
        arrow = run_path + "/metrics.arrow"
        check(
            functools.partial(
                runs.index.check_file,
                arrow,
                functools.partial(metrics_file.read_table, arrow, repo.rel(arrow)),
            )
        )
        if record.status == RunStatus.RUNNING and runs.owner_alive(record.run_id) is False:
            problems.append(
                Problem(
                    repo.rel(run_path + "/run.yaml"),
                    "RUNNING, but its process is gone (a crash or kill mid-run): "
                    "`mltrack commit` records it as KILLED and commits what was written",
                )
            )
    runs.index.save()
    problems.extend(_journal_problems(repo, known_runs))
    for leftover in _interrupted_writes(repo.dir):
        problems.append(
            Problem(
                repo.rel(leftover),
                "temporary file left by an interrupted write: `mltrack commit` removes it "
                "once its writer is gone and commits the run",
            )
        )
    problems.extend(Problem(path, message) for path, message in ModelStore(repo).check())
    problems.extend(_unsafe_committed_paths(repo))
    return problems


def _journal_problems(repo: Repository, known_runs: set[str]) -> list[Problem]:
    """A server's run journals (``.git/mltrack/journal/``): each must belong to a run here and
    hold only run changes; a torn end (an append cut by a crash) is reported, not an error
    of the run: it was never acknowledged, readers ignore it and the next write cuts it."""
    journals = repo.runs.journals
    problems = []
    for run_id in sorted(journals.run_ids()):
        path = journals.path(run_id)
        where = repo.rel(path)
        if run_id not in known_runs:
            problems.append(Problem(where, "a journal of a run that is not in the working tree"))
            continue
        try:
            data = path.read_bytes()
            _, end = journal_file.read_entries(data)
        except journal_file.JournalError as error:
            problems.append(Problem(where, str(error)))
            continue
        except OSError as error:
            problems.append(Problem(where, f"unreadable ({error.strerror or error})"))
            continue
        if end < len(data):
            problems.append(
                Problem(
                    where,
                    f"torn end of {len(data) - end} byte(s) ignored (an append cut short by a "
                    "crash, never acknowledged); `mltrack commit` folds the rest into the run",
                )
            )
    return problems


def _interrupted_writes(directory: Path) -> list[Path]:
    """Files named ``.<name>.tmp-*`` (an atomic write's temporary) anywhere under ``directory``."""
    found = []
    for folder, _dirs, names in os.walk(directory):
        found += [Path(folder, name) for name in names if name[:1] == "." and ".tmp-" in name]
    return found


# A path of printable ASCII without backslashes, empty, '.' or '..' components or "git" in any
# case: nothing in it can be refused by safepath.tree_path, which checks the rest one by one.
_COMPONENT = r"(?!\.\.?(?:/|$))[ -.0-\[\]-~]+"
_PLAIN_PATH = re.compile(f"{_COMPONENT}(?:/{_COMPONENT})*")


def _unsafe_committed_paths(repo: Repository) -> list[Problem]:
    """Paths in HEAD's ``.mltrack/`` tree that git refuses to check out (``..``, ``.git``)."""
    commit = repo.git.head().commit
    if commit is None:
        return []
    problems = []
    for entry in repo.git.history.list_files(commit, MLTRACK_DIR):
        if _PLAIN_PATH.fullmatch(entry.path) and "git" not in entry.path.lower():
            continue
        try:
            safepath.tree_path(entry.path)
        except MltrackError as error:
            problems.append(
                Problem(
                    entry.path,
                    f"{error.message.split(': ', 1)[-1]} A clone cannot check it out; remove it "
                    "from the branch with `git rm --cached` and commit.",
                )
            )
    return problems


@dataclass
class GcReport:
    runs: list[str] = field(default_factory=list)
    experiments: list[str] = field(default_factory=list)
    commit: str | None = None
    refs: list[str] = field(default_factory=list)  # refs/mltrack/detached/* no longer needed


def gc(
    repo: Repository,
    older_than_ms: int | None = None,
    run_ids: list[str] | None = None,
    experiment_ids: list[str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> GcReport:
    """Remove deleted runs and experiments for good, in one commit (history keeps them)."""
    report = GcReport()
    cutoff = int(time.time() * 1000) - older_than_ms if older_than_ms is not None else None

    def expired(deleted_time: int | None) -> bool:
        return cutoff is None or (deleted_time or 0) <= cutoff

    deleted_experiments = [
        e
        for e in repo.list_experiments()
        if e.lifecycle_stage == LifecycleStage.DELETED
        and expired(e.deleted_time)
        and (experiment_ids is None or e.experiment_id in experiment_ids)
    ]
    gone_experiments = {e.experiment_id for e in deleted_experiments}
    candidates = repo.runs.records(None, ViewType.ALL)
    doomed = [
        r
        for r in candidates
        if r.experiment_id in gone_experiments
        or (
            r.lifecycle_stage == LifecycleStage.DELETED
            and expired(r.deleted_time)
            and (run_ids is None or r.run_id in run_ids)
        )
    ]
    report.runs = [r.run_id for r in doomed]
    report.experiments = sorted(gone_experiments)
    if not dry_run:
        report.refs = repo.git.prune_detached_refs()
    if dry_run or not (doomed or gone_experiments):
        return report
    paths: list[str] = []
    for number, record in enumerate(doomed):
        paths.append(repo.rel(repo.runs.remove(record.run_id)))
        if progress is not None:
            progress(number + 1, len(doomed))
    for experiment_id in gone_experiments:
        directory = repo.experiment_dir(experiment_id)
        _remove_tree(directory)
        paths.append(repo.rel(directory))
    report.commit = repo.commit(
        paths,
        f"gc: remove {len(doomed)} deleted run(s) and {len(gone_experiments)} deleted experiment(s)",
        body="Their files stay in git history; registered model versions keep their tagged snapshots.",
        trailers={"Mltrack-Gc": f"{len(doomed)} runs"},
    )
    return report


def _remove_tree(directory: Path) -> None:
    import shutil

    if directory.exists():
        shutil.rmtree(directory)


@dataclass
class CommitReport:
    committed: list[str] = field(default_factory=list)  # run ids
    finalized: list[str] = field(default_factory=list)  # runs whose dead process left them RUNNING
    skipped: list[str] = field(default_factory=list)  # runs still active
    other_commit: str | None = None
    integrated: list[str] = field(default_factory=list)  # parked commits now on their branch


def commit_pending(repo: Repository) -> CommitReport:
    """``mltrack commit``: one commit per pending run, plus one for other store changes."""
    report = CommitReport()
    report.integrated = repo.git.integrate_parked()
    runs = repo.runs
    runs.flush_all()
    remove_dead_temporaries(repo.dir)  # a crash mid-write left them: never commit one
    changed = repo.git.worktree.changed_paths(MLTRACK_DIR)
    run_paths: dict[str, list[str]] = {}
    other: list[str] = []
    for path in changed:
        parts = path.split("/")
        if len(parts) >= 5 and parts[1] == "experiments" and parts[3] == "runs":
            run_paths.setdefault(parts[4], []).append(path)
        else:
            other.append(path)
    for run_id in sorted(runs.journals.run_ids()):  # changes a server has not compacted yet
        run_paths.setdefault(run_id, [])
    for run_id, paths in run_paths.items():
        try:
            record = runs.get(run_id)
        except MltrackError:
            other += paths  # a run removed by hand: commit its removal with the rest
            continue
        if record.status == RunStatus.RUNNING:
            alive = runs.owner_alive(run_id)
            if alive is not False:
                report.skipped.append(run_id)
                continue
            live = runs.live(run_id)
            last = _last_activity(runs.locate(run_id), runs.journals.path(run_id))
            live.set_info(status=RunStatus.KILLED, end_time=max(last, record.start_time))
            live.flush()
            runs.release(live)
            report.finalized.append(run_id)
        runs.commit_run(run_id, force=True)
        report.committed.append(run_id)
    if other:
        # Run commits also carry the store's settings; only report a commit that was made.
        before = repo.git.head().commit
        commit = repo.commit(sorted(set(other)), "Update mltrack store")
        report.other_commit = commit if commit != before else None
    return report


def _last_activity(run_dir: Path, journal: Path) -> int:
    stamps = [
        p.stat().st_mtime
        for p in (run_dir / "run.yaml", run_dir / "metrics.arrow", journal)
        if p.exists()
    ]
    return int(max(stamps, default=time.time()) * 1000)
