"""Logging into runs by id: params, metrics, tags, batches and dataset and model inputs.

Every value is checked before anything is kept; a batch is all or nothing. A metric
logged with a ``model_id`` (MLflow 3) is also kept on that logged model, with its
run and dataset (:meth:`LoggedModels.record_metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mltrack.entities import DatasetInput, Metric, Param, RunTag
from mltrack.exceptions import InvalidParameterValue
from mltrack.store import validation
from mltrack.store.repository import Repository, now_ms
from mltrack.tracking.async_logging import RunOperations, operations_if_async

if TYPE_CHECKING:
    from mltrack.tracking.logged_models import LoggedModels

__all__ = ["RunLogger"]


class RunLogger:
    """Writes the data of the runs of one repository."""

    def __init__(self, repo: Repository, models: LoggedModels) -> None:
        self.repo = repo
        self.models = models

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
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
        model_id: str | None = None,
    ) -> RunOperations | None:
        """One point; with ``model_id`` it is also the model's metric, on the named dataset."""
        key = validation.key(key, "metric key")
        value = validation.metric_value(key, value)
        step = validation.metric_step(key, step)
        when = now_ms() if timestamp is None else validation.metric_timestamp(key, timestamp)
        metric = Metric(key, value, when, step, None, model_id, dataset_name, dataset_digest)
        found = _linked_metric(run_id, metric)
        linked = [] if found is None else [found]
        self._check_models(linked)
        with self.repo.runs.updating(run_id) as live:
            live.log_metric(key, value, step, when)
        self._record_model_metrics(linked)
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
        linked = [
            point
            for m, (key, value, step, timestamp) in zip(metrics, points, strict=True)
            if (
                point := _linked_metric(
                    run_id, Metric(key, value, timestamp, step, None, getattr(m, "model_id", None),
                                   getattr(m, "dataset_name", None),
                                   getattr(m, "dataset_digest", None))
                )
            ) is not None
        ]  # fmt: skip
        self._check_models(linked)
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
        self._record_model_metrics(linked)
        return operations_if_async(self.repo, run_id, synchronous)

    def log_inputs(
        self, run_id: str, datasets: Sequence[Any] | None = None, models: Any = None
    ) -> None:
        """Record dataset inputs (``mltrack.data`` datasets or DatasetInput entities) and
        logged models the run used (LoggedModelInput entities or model ids)."""
        items = [validation.dataset_input(_dataset_item(entry)) for entry in datasets or ()]
        if items:
            with self.repo.runs.updating(run_id) as live:
                live.add_inputs(items)
        if models:
            self.models.log_inputs(run_id, list(models))

    def _check_models(self, linked: Sequence[Metric]) -> None:
        for model_id in dict.fromkeys(m.model_id for m in linked if m.model_id):
            self.models.check_exists(model_id)

    def _record_model_metrics(self, linked: Sequence[Metric]) -> None:
        by_model: dict[str, list[Metric]] = {}
        for metric in linked:
            if metric.model_id:
                by_model.setdefault(metric.model_id, []).append(metric)
        for model_id, metrics in by_model.items():
            self.models.record_metrics(model_id, metrics)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.repo.runs.metric_history(run_id, key)


def _linked_metric(run_id: str, metric: Metric) -> Metric | None:
    """The point as its logged model keeps it (with its run), or None if it names no model."""
    if not metric.model_id:
        return None
    for name, text in (("dataset_name", metric.dataset_name),
                       ("dataset_digest", metric.dataset_digest)):  # fmt: skip
        if text is not None and not isinstance(text, str):
            raise InvalidParameterValue(f"Invalid {name} {text!r}: it must be a string.")
    return Metric(
        metric.key,
        metric.value,
        metric.timestamp,
        metric.step,
        run_id,
        metric.model_id,
        metric.dataset_name,
        metric.dataset_digest,
    )


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
