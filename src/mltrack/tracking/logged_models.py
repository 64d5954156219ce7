"""MLflow 3 logged models, kept with the run that produced them.

A logged model is an entry in its source run's ``outputs`` (run.yaml) plus a
directory ``artifacts/<artifact_path>/`` of that run, so ``models:/m-<id>`` and
``runs:/<run_id>/<artifact_path>`` name the same files and the model is
committed with its run. This module is what MLflow's client-side protocol
needs: create a model (status PENDING) and learn where to put its files,
finalize it (READY, with the sha256 of its MLmodel), tag it, find it, search.

- The artifact path is the model's name, made unique within the run
  (``model``, ``model-2`` …) so two models never share files.
- A model created without a source run gets a *holder run* named after it
  (tag ``mltrack.loggedModelHolder``), which ends, and is committed, when the
  model is finalized.
- A source run this repository lacks (MLflow accepts any ``source_run_id``) is
  recorded as given (``source_run_id`` in the entry) and a holder run holds the
  model; :attr:`LoggedModel.files_run_id` names the run with its files.
- Metrics logged with a ``model_id`` keep their latest point per key, run and
  dataset in the model's entry (``metrics``), so ``get_logged_model`` shows them
  and ``search(datasets=...)`` filters on them.
- Deleting a model marks its entry deleted (``lifecycle_stage``, ``deleted_time``),
  as MLflow's soft delete: it is no longer found or searched, and its files stay in
  the run's artifacts and in git history.
- A change to the model of a run that already ended (finalized late, tagged)
  is committed at once: the run's own commit is done.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mltrack import search
from mltrack.entities import (
    CodeVersion,
    FileInfo,
    LifecycleStage,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    RunStatus,
    ViewType,
)
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.hashing import sha256_file
from mltrack.paging import PagedList, paginate
from mltrack.store import validation
from mltrack.store.model_store import ModelStore
from mltrack.store.records import RunRecord, latest_key
from mltrack.store.repository import Repository, now_ms
from mltrack.tracking import artifacts as artifact_io
from mltrack.tracking.context import generate_run_name
from mltrack.tracking.runs import Runs
from mltrack.uris import is_logged_model_id, new_logged_model_id

__all__ = ["HOLDER_TAG", "REGISTRATIONS_TAG", "LoggedModels"]

HOLDER_TAG = "mltrack.loggedModelHolder"
# MLflow's tag listing a logged model's registered versions; mltrack derives it from the
# registry's version tags, so a registration never rewrites (and re-commits) a finished run.
REGISTRATIONS_TAG = "mlflow.modelVersions"
MLMODEL = "MLmodel"


class LoggedModels:
    """The logged models of one repository; holder runs are made and ended through ``runs``."""

    def __init__(self, repo: Repository, runs: Runs) -> None:
        self.repo = repo
        self._run_service = runs
        self._runs = repo.runs
        self._where: dict[str, str] = {}  # model_id -> run_id, checked on use

    # ------------------------------------------------------------------ creating

    def create(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        model_type: str | None = None,
        *,
        model_id: str | None = None,
    ) -> LoggedModel:
        """A new PENDING model in ``source_run_id`` (or a holder run), with a fresh artifact path.

        ``model_id`` (an mltrack extension) keeps a given ``m-<hex>`` id: an import from MLflow
        keeps MLflow's, so ``models:/m-…`` URIs stay valid.
        """
        experiment_id = str(experiment_id)
        self.repo.get_experiment(experiment_id)
        name = name or generate_run_name()
        base = validation.artifact_path(name, "model name")
        if not base:
            raise InvalidParameterValue(f"Invalid model name {name!r}.")
        clean_tags = {
            validation.key(k, "tag key"): validation.tag_value(k, v)
            for k, v in (tags or {}).items()
            if k != REGISTRATIONS_TAG
        }
        clean_params = {
            validation.key(k, "param key"): validation.param_value(k, v)
            for k, v in (params or {}).items()
        }
        external_source = None
        if source_run_id is not None and not self._is_local_run(source_run_id):
            # MLflow records any source run id; this one names no run here (another
            # store, another clone): it is kept as given and a holder run holds the model.
            if not isinstance(source_run_id, str) or not source_run_id:
                raise InvalidParameterValue(f"Invalid source run id {source_run_id!r}.")
            external_source, source_run_id = source_run_id, None
        if source_run_id is None:
            holder = self._run_service.create(
                experiment_id, run_name=name, tags={HOLDER_TAG: "true"}, code=CodeVersion()
            )
            source_run_id = holder.info.run_id
        if model_id is None:
            model_id = new_logged_model_id()
        elif not is_logged_model_id(model_id) or not model_id[2:].isalnum():
            raise InvalidParameterValue(f"Invalid logged model id {model_id!r}.")
        with self._runs.updating(validation.run_id(source_run_id)) as live:
            record: RunRecord = live.record
            if record.experiment_id != experiment_id:
                raise InvalidParameterValue(
                    f"Run {source_run_id} belongs to experiment {record.experiment_id}, "
                    f"not {experiment_id}; log the model in the run's experiment."
                )
            entry = {
                "model_id": model_id,
                "name": name,
                "artifact_path": _free_path(base, record, live.run_dir / "artifacts"),
                "step": 0,
                "status": LoggedModelStatus.PENDING,
                "model_type": model_type,
                "creation_timestamp": now_ms(),
                "tags": clean_tags,
                "params": clean_params,
            }
            if external_source is not None:
                entry["source_run_id"] = external_source
            live.add_outputs([entry])
            run_dir = live.run_dir
        self._where[model_id] = source_run_id
        return _entity(record, entry, run_dir)

    def _is_local_run(self, run_id: str) -> bool:
        try:
            self._runs.get(validation.run_id(run_id))
        except (InvalidParameterValue, ResourceDoesNotExist):
            return False
        return True

    # ------------------------------------------------------------------ reading

    def get(self, model_id: str) -> LoggedModel:
        record = self._source_run(model_id)
        model = _entity(record, _entry(record, model_id), self._runs.locate(record.run_id))
        return _with_registrations(model, self._registrations())

    def _registrations(self) -> dict[str, list[dict[str, Any]]]:
        """model id -> its registered versions ``{"name", "version"}`` in registration order,
        from the registry's version tags (one ``git for-each-ref``)."""
        found: dict[str, list[tuple[int, str, int]]] = {}
        for versions in ModelStore(self.repo).tagged().values():
            for tagged in versions.values():
                if tagged.model_id:
                    found.setdefault(tagged.model_id, []).append(
                        (tagged.created_ms, tagged.name, tagged.version)
                    )
        return {
            model_id: [{"name": name, "version": version} for _, name, version in sorted(items)]
            for model_id, items in found.items()
        }

    def search(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Any = None,
        max_results: int | None = None,
        order_by: Sequence[dict[str, Any] | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """Logged models of the experiments' active runs, MLflow's filter grammar and paging.

        ``datasets`` (``[{"dataset_name": ..., "dataset_digest": ...}]``, the digest
        optional): only models with a metric logged on one of these datasets, as MLflow.
        """
        wanted = _dataset_filters(datasets)
        matcher = search.parse_filter(filter_string, search.ENTITY_LOGGED_MODELS)
        order = search.parse_order_by(
            [_order_clause(item) for item in order_by or ()], search.ENTITY_LOGGED_MODELS
        )
        runs = self._runs
        registrations = self._registrations()
        found = [
            _with_registrations(
                _entity(record, entry, runs.run_dir(record.experiment_id, record.run_id)),
                registrations,
            )
            for record in runs.records([str(e) for e in experiment_ids], ViewType.ACTIVE_ONLY)
            for entry in record.outputs
            if not _is_deleted(entry)
        ]
        found = search.sort_records(
            [m for m in found if matcher.matches(m) and _on_datasets(m, wanted)],
            order,
            search.ENTITY_LOGGED_MODELS,
        )
        return paginate(found, max_results, page_token)

    def list_artifacts(self, model_id: str, path: str | None = None) -> list[FileInfo]:
        """The entries of one directory of the model, paths relative to the model's root
        (MlflowClient's ``list_logged_model_artifacts``; ``mltrack server`` serves it too)."""
        model = self.get(model_id)
        inside = validation.artifact_path(path)
        prefix = model.artifact_path + (f"/{inside}" if inside else "")
        cut = len(model.artifact_path) + 1
        return [
            FileInfo(entry.path[cut:], entry.is_dir, entry.file_size)
            for entry in artifact_io.list_dir(self._runs.artifact_dir(model.files_run_id), prefix)
        ]

    # ------------------------------------------------------------------ changing

    def finalize(self, model_id: str, status: str) -> LoggedModel:
        """Mark the upload done (READY, recording the MLmodel's sha256) or FAILED."""
        status = LoggedModelStatus.from_any(status)
        model = self.get(model_id)
        change: dict[str, Any] = {"status": status}
        mlmodel = self._runs.artifact_dir(model.files_run_id) / model.artifact_path / MLMODEL
        if status == LoggedModelStatus.READY and mlmodel.is_file():
            change["mlmodel_sha256"] = sha256_file(mlmodel)
        record = self._update(model_id, **change)
        if record.tags.get(HOLDER_TAG) == "true" and record.status == RunStatus.RUNNING:
            self._run_service.set_terminated(record.run_id, RunStatus.FINISHED)
        return self.get(model_id)

    def set_tags(self, model_id: str, tags: dict[str, Any]) -> None:
        """Set tags; ``mlflow.modelVersions`` is not stored (the registry's version tags are
        what it says, and MLflow's client sets it after each registration)."""
        clean = {
            validation.key(k, "tag key"): validation.tag_value(k, v)
            for k, v in tags.items()
            if k != REGISTRATIONS_TAG
        }
        if clean:
            self._update(model_id, tags=clean)
        else:
            self.check_exists(model_id)

    def delete_tag(self, model_id: str, key: str) -> None:
        entry = _entry(self._source_run(model_id), model_id)
        if key not in (entry.get("tags") or {}):
            raise ResourceDoesNotExist(f"No tag with key {key!r} on logged model {model_id}.")
        self._update(model_id, drop_tag=key)

    def log_params(self, model_id: str, params: dict[str, Any]) -> None:
        clean = {
            validation.key(k, "param key"): validation.param_value(k, v) for k, v in params.items()
        }
        self._update(model_id, params=clean)

    def delete(self, model_id: str) -> None:
        """Mark the model deleted (MLflow's soft delete): ``get`` and ``search`` no longer
        find it; its files stay in its run's artifacts and in git history."""
        self._update(model_id, lifecycle_stage=LifecycleStage.DELETED, deleted_time=now_ms())

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record the step at which ``run_id`` logged each model (its own or another run's)."""
        for output in models:
            self.record_output(run_id, output.model_id, output.step)

    def record_output(self, run_id: str, model_id: str, step: int) -> None:
        """``runs/outputs``: a model of the run itself gets its step; a model held by another
        run is listed in this run's ``model_outputs``."""
        step = validation.metric_step("step", step)
        record = self._source_run(model_id)
        if record.run_id == run_id:
            self._update(model_id, step=step)
            return
        with self._runs.updating(validation.run_id(run_id)) as live:
            kept = [o for o in live.record.model_outputs if o["model_id"] != model_id]
            live.set_info(model_outputs=[*kept, {"model_id": model_id, "step": step}])

    def log_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        """Record logged models as inputs of ``run_id`` (each once)."""
        model_ids = [_input_id(model) for model in models]
        for model_id in model_ids:
            self._source_run(model_id)  # an unknown model is an error, before anything changes
        with self._runs.updating(validation.run_id(run_id)) as live:
            known = list(live.record.model_inputs)
            added = [m for m in dict.fromkeys(model_ids) if m not in known]
            if added:
                live.set_info(model_inputs=[*known, *added])

    def check_exists(self, model_id: str) -> None:
        """Raise ResourceDoesNotExist unless ``model_id`` is a logged model here (not deleted)."""
        _entry(self._source_run(model_id), model_id)

    def record_metrics(self, model_id: str, metrics: Sequence[Metric]) -> None:
        """Keep the latest of ``metrics`` (each with its run id) per key, run and dataset in
        the model's entry."""
        if metrics:
            self._update(model_id, add_metrics=list(metrics))

    # ------------------------------------------------------------------ helpers

    def _update(self, model_id: str, **change: Any) -> RunRecord:
        run_id = self._source_run(model_id).run_id
        with self._runs.updating(run_id) as live:
            entry = dict(_entry(live.record, model_id))
            if "tags" in change:
                entry["tags"] = {**(entry.get("tags") or {}), **change.pop("tags")}
            if "params" in change:
                entry["params"] = {**(entry.get("params") or {}), **change.pop("params")}
            if "drop_tag" in change:
                key = change.pop("drop_tag")
                entry["tags"] = {k: v for k, v in (entry.get("tags") or {}).items() if k != key}
            if "add_metrics" in change:
                entry["metrics"] = _latest_metrics(
                    entry.get("metrics") or [], change.pop("add_metrics")
                )
            entry.update(change)
            live.add_outputs([entry])
            record = live.record.copy()
        if RunStatus.is_terminated(record.status):
            self._runs.commit_run(run_id)  # the run's commit is done: this change needs its own
        return record

    def _source_run(self, model_id: str) -> RunRecord:
        if not is_logged_model_id(model_id):
            raise InvalidParameterValue(f"Invalid logged model id {model_id!r}: ids are m-<hex>.")
        runs = self._runs
        run_id = self._where.get(model_id)
        if run_id is not None:
            with contextlib.suppress(ResourceDoesNotExist):
                cached: RunRecord = runs.get(run_id)
                if any(o["model_id"] == model_id for o in cached.outputs):
                    return cached
        for record in _all_runs(runs):
            if any(o["model_id"] == model_id for o in record.outputs):
                self._where[model_id] = record.run_id
                return record
        raise ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found.")


def _all_runs(runs: Any) -> Iterable[RunRecord]:
    found: list[RunRecord] = runs.records(None, ViewType.ALL)
    return found


def _entry(record: RunRecord, model_id: str) -> dict[str, Any]:
    for output in record.outputs:
        if output["model_id"] == model_id and not _is_deleted(output):
            return output
    raise ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found.")


def _with_registrations(
    model: LoggedModel, registrations: dict[str, list[dict[str, Any]]]
) -> LoggedModel:
    """The model with MLflow's ``mlflow.modelVersions`` tag when it has registered versions."""
    versions = registrations.get(model.model_id)
    if not versions:
        return model
    return replace(model, tags={**model.tags, REGISTRATIONS_TAG: json.dumps(versions)})


def _is_deleted(entry: dict[str, Any]) -> bool:
    return entry.get("lifecycle_stage") == LifecycleStage.DELETED


def _input_id(model: Any) -> str:
    model_id = model.model_id if isinstance(model, LoggedModelInput) else model
    if not is_logged_model_id(model_id):
        raise InvalidParameterValue(f"Invalid logged model id {model_id!r}: ids are m-<hex>.")
    return str(model_id)


def _metric_identity(item: dict[str, Any]) -> tuple[str, str, str, str]:
    return (
        item["key"],
        item["run_id"],
        item.get("dataset_name") or "",
        item.get("dataset_digest") or "",
    )


def _latest_metrics(stored: list[dict[str, Any]], points: Sequence[Metric]) -> list[dict[str, Any]]:
    """``stored`` with each point kept if it is the latest of its key, run and dataset
    (MLflow's order: highest step, then timestamp, then value); sorted, so the file is
    byte-stable."""
    latest = {_metric_identity(item): item for item in stored}
    for point in points:
        item: dict[str, Any] = {
            "key": point.key,
            "value": point.value,
            "step": point.step,
            "timestamp": point.timestamp,
            "run_id": point.run_id,
        }
        if point.dataset_name is not None:
            item["dataset_name"] = point.dataset_name
        if point.dataset_digest is not None:
            item["dataset_digest"] = point.dataset_digest
        identity = _metric_identity(item)
        current = latest.get(identity)
        if current is None or latest_key(point.step, point.timestamp, point.value) >= latest_key(
            current["step"], current["timestamp"], current["value"]
        ):
            latest[identity] = item
    return [latest[identity] for identity in sorted(latest)]


def _dataset_filters(datasets: Any) -> list[tuple[str, str | None]]:
    """MLflow's ``datasets`` argument as (name, digest or None) pairs; a name is required."""
    wanted: list[tuple[str, str | None]] = []
    for item in datasets or ():
        name = item.get("dataset_name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidParameterValue(
                "`dataset_name` in the `datasets` clause must be specified."
            )
        digest = item.get("dataset_digest")
        wanted.append((name, None if digest is None else str(digest)))
    return wanted


def _on_datasets(model: LoggedModel, wanted: list[tuple[str, str | None]]) -> bool:
    """Whether a metric of the model was logged on one of the ``wanted`` datasets (no filter:
    every model)."""
    if not wanted:
        return True
    return any(
        metric.dataset_name == name and (digest is None or metric.dataset_digest == digest)
        for metric in model.metrics
        for name, digest in wanted
    )


def _free_path(base: str, record: RunRecord, artifacts: Path) -> str:
    """``base``, or ``base-2``, ``base-3`` … : the first path no model or artifact of the run uses."""
    taken = {o["artifact_path"] for o in record.outputs}
    candidate, number = base, 1
    while candidate in taken or (artifacts / candidate).exists():
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _order_clause(item: dict[str, Any] | str) -> str:
    """MLflow's ``{"field_name": ..., "ascending": ...}`` as an order_by clause."""
    if isinstance(item, str):
        return item
    field = item.get("field_name")
    if not isinstance(field, str) or not field:
        raise InvalidParameterValue(f"Invalid order_by entry {item!r}: it needs a field_name.")
    return f"{field} {'ASC' if item.get('ascending', True) else 'DESC'}"


def _entity(record: RunRecord, entry: dict[str, Any], run_dir: Path) -> LoggedModel:
    created = int(entry.get("creation_timestamp") or record.start_time)
    return LoggedModel(
        model_id=entry["model_id"],
        experiment_id=record.experiment_id,
        name=entry.get("name") or entry["artifact_path"],
        source_run_id=entry.get("source_run_id") or record.run_id,
        artifact_path=entry["artifact_path"],
        artifact_location=(run_dir / "artifacts" / entry["artifact_path"]).as_uri(),
        status=entry.get("status") or LoggedModelStatus.READY,
        creation_timestamp=created,
        last_updated_timestamp=created,
        model_type=entry.get("model_type"),
        step=int(entry.get("step") or 0),
        tags=dict(entry.get("tags") or {}),
        params=dict(entry.get("params") or {}),
        metrics=[
            Metric(
                item["key"],
                item["value"],
                item["timestamp"],
                item["step"],
                item["run_id"],
                entry["model_id"],
                item.get("dataset_name"),
                item.get("dataset_digest"),
            )
            for item in entry.get("metrics") or ()
        ],
        files_run_id=record.run_id,
    )
