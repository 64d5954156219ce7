"""In-memory forms of ``run.yaml`` and ``experiment.yaml``, converted at the storage edge.

A :class:`RunRecord` is what the store keeps, caches and searches: one parsed
run.yaml. It exposes the attributes the search grammar reads (``metrics`` as
latest values, ``params``, ``tags``, ``datasets`` …) and turns into the public
:class:`~mltrack.entities.Run` with :meth:`RunRecord.to_run`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mltrack.entities import (
    CodeVersion,
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)

__all__ = ["ExperimentRecord", "RunRecord", "latest_key", "run_commit_message"]


def latest_key(step: int, timestamp: int, value: float) -> tuple[int, int, float]:
    """MLflow's order for "the latest" point of a metric: highest (step, timestamp, value)."""
    return (step, timestamp, -math.inf if math.isnan(value) else value)


def _copy_entry(item: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in item.items()}


@dataclass(slots=True)
class RunRecord:
    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    user_id: str
    parent_run_id: str | None = None
    deleted_time: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metric_points: dict[str, tuple[int, int]] = field(
        default_factory=dict
    )  # key → (step, timestamp)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    code: dict[str, Any] = field(default_factory=dict)
    artifact_uri: str = ""
    # MLflow 3: logged models the run used (ids), and models of other runs it logged
    # ({model_id, step}; the run's own models are its ``outputs``).
    model_inputs: list[str] = field(default_factory=list)
    model_outputs: list[dict[str, Any]] = field(default_factory=list)

    def __setstate__(self, state: Any) -> None:
        """Unpickling (the run index's cache): a record pickled before a field existed gets
        the field's default instead of an unset slot."""
        self.model_inputs, self.model_outputs = [], []
        slots = state[1] if isinstance(state, tuple) else state
        for name, value in (slots or {}).items():
            setattr(self, name, value)

    # -- search protocol -------------------------------------------------------

    @property
    def datasets(self) -> list[tuple[str, str, str | None]]:
        return [
            (item["name"], item["digest"], item.get("tags", {}).get("mlflow.data.context"))
            for item in self.inputs
        ]

    # -- updates ----------------------------------------------------------------

    def offer_metric(self, key: str, value: float, step: int, timestamp: int) -> None:
        """Keep ``value`` as the latest if it beats the current latest point."""
        current = self.metric_points.get(key)
        if current is None or latest_key(step, timestamp, value) >= latest_key(
            current[0], current[1], self.metrics[key]
        ):
            self.metrics[key] = value
            self.metric_points[key] = (step, timestamp)

    def offer_points(self, points: Iterable[tuple[str, float, int, int]]) -> None:
        """``offer_metric`` for many points: the latest of each key is found first, in one pass."""
        best: dict[str, tuple[str, float, int, int]] = {}
        for point in points:
            current = best.get(point[0])
            if (
                current is None
                or point[2] > current[2]
                or (point[2] == current[2] and point[3] > current[3])
                or (point[2] == current[2] and point[3] == current[3]
                    and latest_key(point[2], point[3], point[1])
                    >= latest_key(current[2], current[3], current[1]))
            ):  # fmt: skip
                best[point[0]] = point
        for key, value, step, timestamp in best.values():
            self.offer_metric(key, value, step, timestamp)

    def copy(self) -> RunRecord:
        """An independent copy (values are immutable; containers are copied one level deep)."""
        return RunRecord(
            run_id=self.run_id,
            experiment_id=self.experiment_id,
            run_name=self.run_name,
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            lifecycle_stage=self.lifecycle_stage,
            user_id=self.user_id,
            parent_run_id=self.parent_run_id,
            deleted_time=self.deleted_time,
            params=dict(self.params),
            tags=dict(self.tags),
            metrics=dict(self.metrics),
            metric_points=dict(self.metric_points),
            inputs=[_copy_entry(item) for item in self.inputs],
            outputs=[_copy_entry(item) for item in self.outputs],
            code=dict(self.code),
            artifact_uri=self.artifact_uri,
            model_inputs=list(self.model_inputs),
            model_outputs=[dict(item) for item in self.model_outputs],
        )

    # -- storage edge -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "experiment_id": self.experiment_id,
            "status": self.status,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "lifecycle_stage": self.lifecycle_stage,
            "user": self.user_id,
            "parent_run_id": self.parent_run_id,
            "params": dict(self.params),
            "tags": dict(self.tags),
            "metrics": {
                key: {
                    "value": value,
                    "step": self.metric_points[key][0],
                    "timestamp": self.metric_points[key][1],
                }
                for key, value in self.metrics.items()
            },
            "inputs": [dict(item) for item in self.inputs],
            "code": {
                "commit": self.code.get("commit"),
                "branch": self.code.get("branch"),
                "dirty": self.code.get("dirty"),
                "entry_point": self.code.get("entry_point"),
            },
        }
        if self.deleted_time is not None:
            out["deleted_time"] = self.deleted_time
        if self.outputs:
            out["outputs"] = [dict(item) for item in self.outputs]
        if self.model_inputs:
            out["model_inputs"] = [{"model_id": model_id} for model_id in self.model_inputs]
        if self.model_outputs:
            out["model_outputs"] = [dict(item) for item in self.model_outputs]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], artifact_uri: str = "") -> RunRecord:
        metrics = data.get("metrics") or {}
        return cls(
            run_id=data["run_id"],
            experiment_id=data["experiment_id"],
            run_name=data["run_name"],
            status=data["status"],
            start_time=data["start_time"],
            end_time=data.get("end_time"),
            lifecycle_stage=data["lifecycle_stage"],
            user_id=data.get("user", ""),
            parent_run_id=data.get("parent_run_id"),
            deleted_time=data.get("deleted_time"),
            params=dict(data.get("params") or {}),
            tags=dict(data.get("tags") or {}),
            metrics={key: float(point["value"]) for key, point in metrics.items()},
            metric_points={
                key: (point["step"], point["timestamp"]) for key, point in metrics.items()
            },
            inputs=list(data.get("inputs") or []),
            outputs=list(data.get("outputs") or []),
            code=dict(data.get("code") or {}),
            artifact_uri=artifact_uri,
            model_inputs=[item["model_id"] for item in data.get("model_inputs") or ()],
            model_outputs=[dict(item) for item in data.get("model_outputs") or ()],
        )

    def to_run(self, status: str | None = None) -> Run:
        """The public entity; ``status`` overrides the stored one (e.g. KILLED for a dead process)."""
        info = RunInfo(
            run_id=self.run_id,
            experiment_id=self.experiment_id,
            run_name=self.run_name,
            user_id=self.user_id,
            status=status or self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            lifecycle_stage=self.lifecycle_stage,
            artifact_uri=self.artifact_uri,
        )
        data = RunData(metrics=dict(self.metrics), params=dict(self.params), tags=dict(self.tags))
        inputs = RunInputs(
            tuple(
                DatasetInput(
                    Dataset.from_dict(item),
                    tuple(InputTag(k, v) for k, v in sorted((item.get("tags") or {}).items())),
                )
                for item in self.inputs
            ),
            tuple(LoggedModelInput(model_id) for model_id in self.model_inputs),
        )
        latest = tuple(
            Metric(key, value, self.metric_points[key][1], self.metric_points[key][0], self.run_id)
            for key, value in self.metrics.items()
        )
        outputs = RunOutputs(
            tuple(
                LoggedModelOutput(o["model_id"], int(o.get("step") or 0))
                for o in (*self.outputs, *self.model_outputs)
            )
        )
        return Run(info, data, inputs, CodeVersion.from_dict(self.code), latest, outputs)


@dataclass(slots=True)
class ExperimentRecord:
    experiment_id: str
    name: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    deleted_time: int | None = None
    # ms since epoch; None for an experiment written before it was recorded (and the
    # Default experiment, which every store writes alike): then its runs give it.
    creation_time: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "lifecycle_stage": self.lifecycle_stage,
            "tags": dict(self.tags),
        }
        if self.deleted_time is not None:
            out["deleted_time"] = self.deleted_time
        if self.creation_time is not None:
            out["creation_time"] = self.creation_time
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentRecord:
        return cls(
            experiment_id=data["experiment_id"],
            name=data["name"],
            lifecycle_stage=data["lifecycle_stage"],
            tags=dict(data.get("tags") or {}),
            deleted_time=data.get("deleted_time"),
            creation_time=data.get("creation_time"),
        )

    def to_experiment(
        self, artifact_location: str, creation_time: int | None, last_update_time: int | None
    ) -> Experiment:
        return Experiment(
            experiment_id=self.experiment_id,
            name=self.name,
            artifact_location=artifact_location,
            lifecycle_stage=self.lifecycle_stage,
            tags=dict(self.tags),
            creation_time=creation_time,
            last_update_time=last_update_time,
        )


def run_commit_message(record: RunRecord, experiment_name: str) -> tuple[str, str]:
    """Subject and body of the commit that records a run: its status and a summary."""
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
