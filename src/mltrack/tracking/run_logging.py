"""Logging into runs by id: params, metrics, tags, batches and dataset inputs.

Every value is checked before anything is kept; a batch is all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mltrack.entities import DatasetInput, Metric, Param, RunTag
from mltrack.exceptions import InvalidParameterValue
from mltrack.store import validation
from mltrack.store.repository import Repository, now_ms
from mltrack.tracking.async_logging import RunOperations, operations_if_async

__all__ = ["RunLogger"]


class RunLogger:
    """Writes the data of the runs of one repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        key = validation.key(key, "param key")
        text = validation.param_value(key, value)
        with self.repo.runs.updating(run_id) as live:
            live.log_params({key: text})
        return operations_if_async(self.repo, run_id, synchronous) or value

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
        **_: Any,
    ) -> RunOperations | None:
        key = validation.key(key, "metric key")
        point = (
            validation.metric_value(key, value),
            validation.metric_step(key, step),
            now_ms() if timestamp is None else validation.metric_timestamp(key, timestamp),
        )
        with self.repo.runs.updating(run_id) as live:
            live.log_metric(key, *point)
        return operations_if_async(self.repo, run_id, synchronous)

    def set_tag(
        self, run_id: str, key: str, value: Any, synchronous: bool | None = None
    ) -> RunOperations | None:
        key = validation.key(key, "tag key")
        text = validation.tag_value(key, value)
        name = validation.run_name(text) if key == "mlflow.runName" else None
        with self.repo.runs.updating(run_id) as live:
            live.set_tags({key: text})
            if name is not None:
                live.set_info(run_name=name)
        return operations_if_async(self.repo, run_id, synchronous)

    def delete_tag(self, run_id: str, key: str) -> None:
        with self.repo.runs.updating(run_id) as live:
            live.delete_tag(key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log metrics, params and tags at once; all are checked before anything is kept.

        ``synchronous=False``: a :class:`~mltrack.tracking.async_logging.RunOperations`.
        """
        clean_params: dict[str, str] = {}
        for param in params:
            key = validation.key(param.key, "param key")
            if key in clean_params:
                raise InvalidParameterValue(
                    f"Duplicate parameter keys have been submitted: ['{key}']. Please ensure the "
                    "request contains only one param value per param key."
                )
            clean_params[key] = validation.param_value(key, param.value)
        clean_tags = {
            validation.key(t.key, "tag key"): validation.tag_value(t.key, t.value) for t in tags
        }
        default_time = now_ms()
        points = [
            (
                validation.key(m.key, "metric key"),
                validation.metric_value(m.key, m.value),
                validation.metric_step(m.key, m.step),
                default_time
                if m.timestamp is None
                else validation.metric_timestamp(m.key, m.timestamp),
            )
            for m in metrics
        ]
        name = clean_tags.get("mlflow.runName")
        if name is not None:
            name = validation.run_name(name)
        with self.repo.runs.updating(run_id) as live:
            if clean_params:
                live.log_params(clean_params)
            if clean_tags:
                live.set_tags(clean_tags)
                if name is not None:
                    live.set_info(run_name=name)
            if points:
                live.log_points(points)
        return operations_if_async(self.repo, run_id, synchronous)

    def log_inputs(
        self, run_id: str, datasets: Sequence[Any] | None = None, models: Any = None
    ) -> None:
        """Record dataset inputs (``mltrack.data`` datasets or DatasetInput entities)."""
        items = [validation.dataset_input(_dataset_item(entry)) for entry in datasets or ()]
        if items:
            with self.repo.runs.updating(run_id) as live:
                live.add_inputs(items)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.repo.runs.metric_history(run_id, key)


def _dataset_item(entry: Any) -> dict[str, Any]:
    """A run.yaml ``inputs`` entry from an mltrack dataset or a DatasetInput entity."""
    if isinstance(entry, DatasetInput):
        dataset = entry.dataset
        tags = {t.key: t.value for t in entry.tags}
    else:
        dataset = entry.to_entity() if hasattr(entry, "to_entity") else entry
        tags = {}
    item = dataset.to_dict()
    if tags:
        item["tags"] = tags
    return item
