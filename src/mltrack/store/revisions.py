"""Reading the store at any git revision, and the run timeline rebuilt from commits.

Parsed run.yaml files are cached by their git blob id (content-addressed, so a
cached entry can never be stale) in ``.git/mltrack/cache/``.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mltrack.entities import ViewType
from mltrack.exceptions import CorruptStore, MltrackError
from mltrack.gitstore import MLTRACK_DIR
from mltrack.store.files import atomic_write
from mltrack.store.records import ExperimentRecord, RunRecord

if TYPE_CHECKING:
    from mltrack.store.repository import Repository

__all__ = ["RevisionReader", "Snapshot", "TimelineEntry", "timeline"]

_CACHE_VERSION = 1
logger = logging.getLogger("mltrack")
Progress = Callable[[int, int], None]


@dataclass
class Snapshot:
    """Every experiment and run stored at one revision (or in the working tree)."""

    label: str
    commit: str | None
    experiments: dict[str, ExperimentRecord] = field(default_factory=dict)
    runs: dict[str, RunRecord] = field(default_factory=dict)
    problems: list[CorruptStore] = field(default_factory=list)


class RevisionReader:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._path = repo.private_dir / "cache" / f"blobs-v{_CACHE_VERSION}.pickle"
        self._blobs: dict[str, RunRecord | ExperimentRecord] | None = None
        self._dirty = False

    def _cache(self) -> dict[str, RunRecord | ExperimentRecord]:
        if self._blobs is None:
            self._blobs = {}
            with contextlib.suppress(Exception):  # a damaged cache is a cold cache
                with open(self._path, "rb") as handle:
                    version, blobs = pickle.load(handle)
                if version == _CACHE_VERSION:
                    self._blobs = blobs
        return self._blobs

    def _save(self) -> None:
        if self._dirty and self._blobs is not None:
            with contextlib.suppress(OSError):
                atomic_write(
                    self._path,
                    pickle.dumps((_CACHE_VERSION, self._blobs), protocol=5),
                    durable=False,
                )
            self._dirty = False

    def snapshot(self, rev: str | None, progress: Progress | None = None) -> Snapshot:
        """The store at ``rev``; None means the working tree."""
        if rev is None:
            return self._worktree_snapshot(progress)
        git = self.repo.git
        commit = git.rev_parse(rev)
        snapshot = Snapshot(rev, commit)
        cache = self._cache()
        entries = [
            entry
            for entry in git.history.list_files(commit, f"{MLTRACK_DIR}/experiments")
            if entry.path.endswith(("/run.yaml", "/experiment.yaml"))
        ]
        for number, entry in enumerate(entries):
            record = cache.get(entry.sha)
            if record is None:
                kind = "run" if entry.path.endswith("/run.yaml") else "experiment"
                try:
                    data = self.repo.parse_yaml(
                        git.objects.blob(entry.sha), kind, f"{entry.path} at {rev}"
                    )
                except CorruptStore as problem:
                    snapshot.problems.append(problem)
                    logger.warning(
                        "skipping unreadable file: %s (check with `mltrack fsck`)", problem
                    )
                    continue
                if kind == "run":
                    run_dir = self.repo.root / entry.path.rsplit("/", 1)[0]
                    record = RunRecord.from_dict(data, (run_dir / "artifacts").as_uri())
                else:
                    record = ExperimentRecord.from_dict(data)
                cache[entry.sha] = record
                self._dirty = True
            if isinstance(record, RunRecord):
                snapshot.runs[record.run_id] = record
            else:
                snapshot.experiments[record.experiment_id] = record
            if progress is not None and number % 500 == 0:
                progress(number, len(entries))
        self._save()
        return snapshot

    def _worktree_snapshot(self, progress: Progress | None) -> Snapshot:
        snapshot = Snapshot("working tree", None)
        for experiment in self.repo.list_experiments():
            snapshot.experiments[experiment.experiment_id] = experiment
        runs = self.repo.runs
        for run in runs.records(None, ViewType.ALL, progress):
            snapshot.runs[run.run_id] = run
        snapshot.problems = list(runs.index.problems)
        return snapshot


@dataclass(frozen=True)
class TimelineEntry:
    """One run commit, rebuilt from the commit's message and trailers alone."""

    commit: str
    author: str
    time: int
    subject: str
    run_id: str
    experiment_id: str | None
    status: str | None
    code_commit: str | None
    summary: str


def timeline(
    repo: Repository, rev: str = "HEAD", max_count: int | None = None
) -> list[TimelineEntry]:
    """Run commits reachable from ``rev``, newest first.

    A run whose own commit is gone (a squash merge folds many run commits, and their
    trailers, into one) is found in the tree instead: listed at the commit that added
    its run.yaml, runs of one commit newest start first.
    """
    entries = _trailed(repo, rev, max_count)
    if max_count is not None and len(entries) >= max_count:
        return entries
    recovered = _untrailed(repo, rev, {entry.run_id for entry in entries})
    if not recovered:
        return entries
    position = {sha: index for index, sha in enumerate(repo.git.history.rev_list(rev))}
    combined = sorted(
        [(position.get(e.commit, len(position)), 0, e) for e in entries] + recovered,
        key=lambda item: (item[0], item[1]),
    )
    found = [entry for _, _, entry in combined]
    return found if max_count is None else found[:max_count]


def _untrailed(repo: Repository, rev: str, known: set[str]) -> list[tuple[int, int, TimelineEntry]]:
    """(commit position, order within it, entry) of the runs in ``rev``'s tree without a run commit."""
    git = repo.git
    try:
        tip = git.rev_parse(rev)
    except MltrackError:
        return []
    missing: dict[str, str] = {}
    for experiment in git.history.list_dir(tip, f"{MLTRACK_DIR}/experiments"):
        for run in git.history.list_dir(tip, f"{experiment.path}/runs"):
            run_id = run.path.rsplit("/", 1)[-1]
            if run.is_dir and run_id not in known:
                missing[f"{run.path}/run.yaml"] = run_id
    if not missing:
        return []
    position = {sha: index for index, sha in enumerate(git.history.rev_list(rev))}
    found: list[tuple[int, int, TimelineEntry]] = []
    for path, info in git.history.added_by(list(missing), rev).items():
        raw = git.history.read_blob(info.sha, path)
        if raw is None:
            continue
        try:
            record = RunRecord.from_dict(repo.parse_yaml(raw, "run", path))
        except CorruptStore:
            continue
        entry = TimelineEntry(
            commit=info.sha,
            author=info.author_name,
            time=info.author_time,
            subject=f"Run {record.run_name or record.run_id}: {record.status} (in {info.subject})",
            run_id=record.run_id,
            experiment_id=record.experiment_id,
            status=record.status,
            code_commit=record.code.get("commit"),
            summary="",
        )
        found.append((position.get(info.sha, len(position)), -record.start_time, entry))
    return found


def _trailed(repo: Repository, rev: str, max_count: int | None) -> list[TimelineEntry]:
    entries = []
    # Selected by trailer, not by path: a path-limited log diffs every commit's tree, which
    # costs O(runs) per commit once an experiment holds thousands of run directories.
    for info in repo.git.history.log(rev, max_count=max_count, grep="Mltrack-Run: "):
        run_ids = info.trailers.get("mltrack-run", [])
        body_lines = [
            line
            for line in info.body.split("\n\n", 1)[0].splitlines()
            if ": " in line and not line.startswith("Mltrack-")
        ]
        experiments = info.trailers.get("mltrack-experiment", [])
        statuses = info.trailers.get("mltrack-status", [])
        # A commit of several runs (a parameter search's candidates) lists each in order.
        for i, run_id in enumerate(run_ids):
            summary = "; ".join(body_lines) if len(run_ids) == 1 else _nth(body_lines, i) or ""
            entries.append(
                TimelineEntry(
                    commit=info.sha,
                    author=info.author_name,
                    time=info.author_time,
                    subject=info.subject,
                    run_id=run_id,
                    experiment_id=_nth(experiments, i),
                    status=_nth(statuses, i),
                    code_commit=info.trailer("Mltrack-Code"),
                    summary=summary,
                )
            )
    return entries


def _nth(values: list[str], i: int) -> str | None:
    """The i-th value of a repeated trailer; a trailer given once holds for every run."""
    if len(values) == 1:
        return values[0]
    return values[i] if i < len(values) else None
