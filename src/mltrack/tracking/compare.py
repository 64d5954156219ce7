"""Side-by-side comparisons: two runs, or the runs of two revisions (for review)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mltrack.entities import LifecycleStage, RunStatus
from mltrack.store.records import RunRecord
from mltrack.store.repository import Repository
from mltrack.store.revisions import Progress, Snapshot

__all__ = [
    "RevisionDiff",
    "RunComparison",
    "ValueRow",
    "compare_revisions",
    "compare_runs",
    "compare_snapshots",
]


@dataclass(frozen=True)
class ValueRow:
    key: str
    a: Any
    b: Any

    @property
    def changed(self) -> bool:
        if (
            isinstance(self.a, float)
            and isinstance(self.b, float)
            and math.isnan(self.a)
            and math.isnan(self.b)
        ):
            return False
        return bool(self.a != self.b)

    @property
    def delta(self) -> float | None:
        if isinstance(self.a, (int, float)) and isinstance(self.b, (int, float)):
            return float(self.b) - float(self.a)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "a": self.a,
            "b": self.b,
            "delta": self.delta,
            "changed": self.changed,
        }


@dataclass(frozen=True)
class RunComparison:
    """Run ``a`` (baseline, may be missing) against run ``b`` (candidate, may be missing)."""

    title: str
    a: RunRecord | None
    b: RunRecord | None
    params: list[ValueRow]
    metrics: list[ValueRow]

    def to_dict(self) -> dict[str, Any]:
        def side(run: RunRecord | None) -> dict[str, Any] | None:
            if run is None:
                return None
            return {"run_id": run.run_id, "run_name": run.run_name, "status": run.status}

        return {
            "title": self.title,
            "a": side(self.a),
            "b": side(self.b),
            "params": [row.to_dict() for row in self.params],
            "metrics": [row.to_dict() for row in self.metrics],
        }


def _rows(a: dict[str, Any], b: dict[str, Any]) -> list[ValueRow]:
    return [ValueRow(key, a.get(key), b.get(key)) for key in sorted(set(a) | set(b))]


def compare_runs(a: RunRecord | None, b: RunRecord | None, title: str = "") -> RunComparison:
    return RunComparison(
        title=title,
        a=a,
        b=b,
        params=_rows(a.params if a else {}, b.params if b else {}),
        metrics=_rows(a.metrics if a else {}, b.metrics if b else {}),
    )


@dataclass
class RevisionDiff:
    a: Snapshot
    b: Snapshot
    experiments: list[RunComparison] = field(default_factory=list)
    added: list[RunRecord] = field(default_factory=list)
    removed: list[RunRecord] = field(default_factory=list)
    changed: list[RunComparison] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def brief(run: RunRecord) -> dict[str, Any]:
            return {
                "run_id": run.run_id,
                "run_name": run.run_name,
                "experiment_id": run.experiment_id,
                "status": run.status,
                "metrics": dict(run.metrics),
                "params": dict(run.params),
            }

        return {
            "a": {"label": self.a.label, "commit": self.a.commit},
            "b": {"label": self.b.label, "commit": self.b.commit},
            "experiments": [c.to_dict() for c in self.experiments],
            "added": [brief(r) for r in self.added],
            "removed": [brief(r) for r in self.removed],
            "changed": [c.to_dict() for c in self.changed],
        }


def _latest_finished(runs: list[RunRecord]) -> RunRecord | None:
    finished = [
        r
        for r in runs
        if r.status == RunStatus.FINISHED and r.lifecycle_stage == LifecycleStage.ACTIVE
    ]
    return max(finished, key=lambda r: (r.end_time or 0, r.start_time, r.run_id), default=None)


def compare_snapshots(a: Snapshot, b: Snapshot) -> RevisionDiff:
    """What a reviewer asks of a branch: which runs it adds, and how each experiment's
    latest finished run compares with the base revision's."""
    diff = RevisionDiff(a, b)
    diff.added = sorted(
        (r for k, r in b.runs.items() if k not in a.runs), key=lambda r: r.start_time
    )
    diff.removed = sorted(
        (r for k, r in a.runs.items() if k not in b.runs), key=lambda r: r.start_time
    )
    for run_id in sorted(set(a.runs) & set(b.runs)):
        before, after = a.runs[run_id], b.runs[run_id]
        if before.to_dict() != after.to_dict():
            diff.changed.append(compare_runs(before, after, f"run {after.run_name} ({run_id[:8]})"))
    for experiment_id in sorted(set(a.experiments) | set(b.experiments)):
        base = _latest_finished([r for r in a.runs.values() if r.experiment_id == experiment_id])
        head = _latest_finished([r for r in b.runs.values() if r.experiment_id == experiment_id])
        if base is None and head is None:
            continue
        if base is not None and head is not None and base.run_id == head.run_id:
            continue
        experiment = b.experiments.get(experiment_id) or a.experiments.get(experiment_id)
        name = experiment.name if experiment else experiment_id
        diff.experiments.append(compare_runs(base, head, f"experiment {name}: latest finished run"))
    return diff


def compare_revisions(
    repo: Repository, rev_a: str, rev_b: str | None, progress: Progress | None = None
) -> RevisionDiff:
    """The runs of revision ``rev_b`` (None: the working tree) against those of ``rev_a``."""
    reader = repo.revisions
    return compare_snapshots(reader.snapshot(rev_a, progress), reader.snapshot(rev_b, progress))
