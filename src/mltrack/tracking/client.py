"""``TrackingClient``: MlflowClient's experiment, run, metric and artifact methods.

``mltrack.MltrackClient`` (also ``mltrack.MlflowClient``) adds the registry
methods on top (``mltrack.client``). Every method takes explicit ids, as in MLflow. Writes to runs are buffered in
memory and flushed durably (at run end, every few seconds, at exit); reads in
the same process always see them.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrack import search
from mltrack.entities import (
    CodeVersion,
    Experiment,
    FileInfo,
    LifecycleStage,
    LoggedModel,
    LoggedModelOutput,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.store import validation
from mltrack.store.records import ExperimentRecord, RunRecord
from mltrack.store.repository import DEFAULT_EXPERIMENT_ID, Repository, now_ms
from mltrack.tracking import artifacts as artifact_io
from mltrack.tracking.context import (
    CodeProbe,
    current_user,
    entry_point,
    generate_run_name,
    open_repository,
)

if TYPE_CHECKING:
    from mltrack.tracking.logged_models import LoggedModels

__all__ = ["PagedList", "TrackingClient"]

SEARCH_MAX_RESULTS = 50000


class PagedList(list[Any]):
    """A page of results with the token of the next page (MLflow's PagedList)."""

    def __init__(self, items: Sequence[Any], token: str | None) -> None:
        super().__init__(items)
        self.token = token


def _page_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(page_token: str | None) -> int:
    if not page_token:
        return 0
    try:
        offset = int(json.loads(base64.b64decode(page_token))["offset"])
    except Exception:
        raise InvalidParameterValue(f"Invalid page token {page_token!r}.") from None
    if offset < 0:
        raise InvalidParameterValue(f"Invalid page token {page_token!r}.")
    return offset


class TrackingClient:
    """Experiments, runs, metrics and artifacts by id (MlflowClient's tracking methods)."""

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        self._tracking_uri = tracking_uri
        self._registry_uri = registry_uri
        self._probes: dict[str, CodeProbe] = {}
        self._models: LoggedModels | None = None

    @property
    def repository(self) -> Repository:
        from mltrack.tracking.fluent import get_tracking_uri_or_none

        return open_repository(self._tracking_uri or get_tracking_uri_or_none())

    # ------------------------------------------------------------------ experiments

    def _experiment(self, record: ExperimentRecord) -> Experiment:
        repo = self.repository
        runs = repo.runs.records([record.experiment_id], ViewType.ALL)
        starts = [r.start_time for r in runs]
        ends = [t for r in runs for t in (r.start_time, r.end_time or 0)]
        return record.to_experiment(
            repo.experiment_dir(record.experiment_id).as_uri(),
            min(starts) if starts else None,
            max(ends) if ends else None,
        )

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        record = self.repository.create_experiment(
            name, {k: str(v) for k, v in (tags or {}).items()}
        )
        return record.experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._experiment(self.repository.get_experiment(str(experiment_id)))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        record = self.repository.find_experiment(name)
        return None if record is None else self._experiment(record)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int | None = 1000,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        view = ViewType.from_any(view_type)
        records = [
            r
            for r in self.repository.list_experiments()
            if LifecycleStage.matches_view_type(view, r.lifecycle_stage)
        ]
        experiments = [self._experiment(r) for r in records]
        matcher = search.parse_filter(filter_string, search.ENTITY_EXPERIMENTS)
        experiments = [e for e in experiments if matcher.matches(e)]
        order = search.parse_order_by(order_by, search.ENTITY_EXPERIMENTS)
        experiments = search.sort_records(experiments, order, search.ENTITY_EXPERIMENTS)
        return paginate(experiments, max_results, page_token)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        old = self.repository.get_experiment(str(experiment_id)).name
        self.repository.update_experiment(
            str(experiment_id), f"Rename experiment {old} to {new_name}", name=new_name
        )

    def delete_experiment(self, experiment_id: str) -> None:
        experiment_id = str(experiment_id)
        if experiment_id == "0":
            raise InvalidParameterValue("Cannot delete the Default experiment '0'.")
        record = self.repository.get_experiment(experiment_id)
        self.repository.update_experiment(
            experiment_id,
            f"Delete experiment {record.name}",
            lifecycle_stage=LifecycleStage.DELETED,
            deleted_time=now_ms(),
        )

    def restore_experiment(self, experiment_id: str) -> None:
        record = self.repository.get_experiment(str(experiment_id))
        if record.lifecycle_stage == LifecycleStage.ACTIVE:
            return
        self.repository.update_experiment(
            str(experiment_id),
            f"Restore experiment {record.name}",
            lifecycle_stage=LifecycleStage.ACTIVE,
            deleted_time=None,
        )

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        record = self.repository.get_experiment(str(experiment_id))
        key = validation.key(key, "tag key")
        tags = dict(record.tags, **{key: validation.experiment_tag_value(key, value)})
        self.repository.update_experiment(
            str(experiment_id), f"Tag experiment {record.name}: {key}", tags=tags
        )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        record = self.repository.get_experiment(str(experiment_id))
        if key not in record.tags:
            raise ResourceDoesNotExist(f"No tag with name: {key} in experiment {experiment_id}")
        tags = {k: v for k, v in record.tags.items() if k != key}
        self.repository.update_experiment(
            str(experiment_id), f"Untag experiment {record.name}: {key}", tags=tags
        )

    # ------------------------------------------------------------------ runs

    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        *,
        code: CodeVersion | None = None,
        user_id: str | None = None,
    ) -> Run:
        """Create a run (status RUNNING) owned by this process.

        Two mltrack extensions, keyword-only: ``code`` is the code version to record
        in run.yaml's ``code`` section. By default it is the tracking repository's
        own code commit and branch, with the dirty flag checked in the background
        and the running script as entry point. Front ends that run code from
        elsewhere pass it explicitly: ``mltrack run`` records the project's
        commit and entry point, a tracking server what the remote client reported.
        ``user_id`` overrides the user (a server records the client's).
        """
        repo = self.repository
        clean_tags = {
            validation.key(k, "tag key"): validation.tag_value(k, v)
            for k, v in (tags or {}).items()
        }
        name = run_name or clean_tags.get("mlflow.runName") or generate_run_name()
        name = validation.run_name(name)
        clean_tags["mlflow.runName"] = name
        if str(experiment_id) == DEFAULT_EXPERIMENT_ID:
            repo.ensure_initialized()  # the first run in a repository without `mltrack init`
        experiment = repo.get_experiment(str(experiment_id))
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"The experiment {experiment.experiment_id} must be in the 'active' state. "
                "Current state is deleted."
            )
        parent = parent_run_id or clean_tags.get("mlflow.parentRunId")
        if parent is not None:
            repo.runs.locate(validation.run_id(parent))
            clean_tags["mlflow.parentRunId"] = parent
        if code is None:
            state = repo.code_state()
            code = CodeVersion(state.commit, state.branch, None, entry_point(repo))
            probe_dirty = state.commit is not None
        else:
            probe_dirty = False
        run_id = uuid.uuid4().hex
        live = repo.runs.create(
            experiment_id=experiment.experiment_id,
            run_id=run_id,
            run_name=name,
            start_time=int(start_time) if start_time is not None else now_ms(),
            user_id=user_id or clean_tags.get("mlflow.user") or current_user(),
            tags=clean_tags,
            parent_run_id=parent,
            code=code.to_dict(),
        )
        if probe_dirty:
            self._probes[run_id] = CodeProbe(repo, code.commit)
        return live.snapshot().to_run()

    def _record(self, run_id: str) -> RunRecord:
        if not isinstance(run_id, str):
            raise InvalidParameterValue(f"Invalid run id {run_id!r}: run ids are strings.")
        return self.repository.runs.get(run_id)

    def _to_run(self, record: RunRecord) -> Run:
        return record.to_run(self.repository.runs.effective_status(record))

    def get_run(self, run_id: str) -> Run:
        return self._to_run(self._record(run_id))

    def get_parent_run(self, run_id: str) -> Run | None:
        parent = self._record(run_id).tags.get("mlflow.parentRunId")
        return self.get_run(parent) if parent else None

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        name: str | None = None,
        end_time: int | None = None,
    ) -> None:
        """Rename a run or change its status; a terminal status ends (and commits) it."""
        changes: dict[str, Any] = {}
        if name is not None:
            changes["run_name"] = validation.run_name(name)
        ends = status is not None and RunStatus.is_terminated(RunStatus.from_any(status))
        if status is not None and not ends:
            changes["status"] = RunStatus.from_any(status)
        if changes:
            with self.repository.runs.updating(run_id) as live:
                if name is not None:
                    live.set_tags({"mlflow.runName": changes["run_name"]})
                live.set_info(**changes)
        if ends:
            self.set_terminated(run_id, status, end_time)

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        """End a run; its files are committed (commit-per-run) unless auto_commit is off."""
        status = RunStatus.from_any(status or RunStatus.FINISHED)
        repo = self.repository
        probe = self._probes.pop(run_id, None)
        if probe is not None:
            with repo.runs.updating(run_id) as live:
                live.set_info(code={"dirty": probe.result()})
        repo.runs.terminate(run_id, status, end_time)

    def delete_run(self, run_id: str) -> None:
        self.repository.runs.set_lifecycle(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self.repository.runs.set_lifecycle(run_id, LifecycleStage.ACTIVE)

    def search_runs(
        self,
        experiment_ids: Sequence[str] | str | None,
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [str(experiment_ids)]
        if max_results is not None and (max_results <= 0 or max_results > SEARCH_MAX_RESULTS):
            raise InvalidParameterValue(
                f"Invalid value {max_results} for parameter 'max_results': use 1 to {SEARCH_MAX_RESULTS}."
            )
        records = self.search_run_records(experiment_ids, filter_string, run_view_type, order_by)
        page = paginate(records, max_results, page_token)
        return PagedList([self._to_run(r) for r in page], page.token)

    def search_run_records(
        self,
        experiment_ids: Sequence[str] | None,
        filter_string: str | None = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        order_by: list[str] | None = None,
        progress: Any = None,
        rev: str | None = None,
    ) -> list[RunRecord]:
        """Matching runs as stored records, sorted (the engine behind search_runs and the CLI).

        ``rev`` reads the runs stored at any git revision instead of the working tree.
        """
        matcher = search.parse_filter(filter_string, search.ENTITY_RUNS)
        order = search.parse_order_by(order_by, search.ENTITY_RUNS)
        view = ViewType.from_any(run_view_type)
        ids = None if experiment_ids is None else {str(e) for e in experiment_ids}
        if rev is not None:
            snapshot = self.repository.revisions.snapshot(rev, progress)
            records = [
                r
                for r in snapshot.runs.values()
                if (ids is None or r.experiment_id in ids)
                and LifecycleStage.matches_view_type(view, r.lifecycle_stage)
            ]
        else:
            runs = self.repository.runs
            records = runs.records(None if ids is None else sorted(ids), view, progress)
            records = [_with_effective_status(runs, r) for r in records]
        return search.sort_records(
            [r for r in records if matcher.matches(r)], order, search.ENTITY_RUNS
        )

    def resolve_run_id(self, prefix: str, rev: str | None = None) -> str:
        """The full id of the run whose id starts with ``prefix`` (like git's short hashes)."""
        if len(prefix) == 32:
            return prefix
        if len(prefix) < 4:
            raise InvalidParameterValue(
                f"Run id prefix {prefix!r} is too short: give at least 4 characters."
            )
        if rev is None:  # directory names: a run with a corrupt run.yaml is still found
            ids = {path.name for _, path in self.repository.runs.index.run_dirs(None)}
        else:
            ids = {r.run_id for r in self.search_run_records(None, "", ViewType.ALL, rev=rev)}
        matches = sorted(run_id for run_id in ids if run_id.startswith(prefix))
        if not matches:
            raise ResourceDoesNotExist(
                f"No run id starts with {prefix!r}. List runs with `mltrack runs list`."
            )
        if len(matches) > 1:
            shown = ", ".join(m[:12] for m in matches[:5])
            raise InvalidParameterValue(f"Run id prefix {prefix!r} is ambiguous: {shown}")
        return matches[0]

    # ------------------------------------------------------------------ logging

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        key = validation.key(key, "param key")
        text = validation.param_value(key, value)
        with self.repository.runs.updating(run_id) as live:
            live.log_params({key: text})
        return value

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
        **_: Any,
    ) -> None:
        key = validation.key(key, "metric key")
        point = (
            validation.metric_value(key, value),
            validation.metric_step(key, step),
            now_ms() if timestamp is None else validation.metric_timestamp(key, timestamp),
        )
        with self.repository.runs.updating(run_id) as live:
            live.log_metric(key, *point)

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        key = validation.key(key, "tag key")
        text = validation.tag_value(key, value)
        name = validation.run_name(text) if key == "mlflow.runName" else None
        with self.repository.runs.updating(run_id) as live:
            live.set_tags({key: text})
            if name is not None:
                live.set_info(run_name=name)

    def delete_tag(self, run_id: str, key: str) -> None:
        with self.repository.runs.updating(run_id) as live:
            live.delete_tag(key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Log metrics, params and tags at once; all are checked before anything is kept."""
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
        with self.repository.runs.updating(run_id) as live:
            if clean_params:
                live.log_params(clean_params)
            if clean_tags:
                live.set_tags(clean_tags)
                if name is not None:
                    live.set_info(run_name=name)
            if points:
                live.log_points(points)

    def log_inputs(
        self, run_id: str, datasets: Sequence[Any] | None = None, models: Any = None
    ) -> None:
        """Record dataset inputs (``mltrack.data`` datasets or DatasetInput entities)."""
        items = []
        for entry in datasets or ():
            items.append(validation.dataset_input(_dataset_item(entry)))
        if items:
            with self.repository.runs.updating(run_id) as live:
                live.add_inputs(items)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.repository.runs.metric_history(run_id, key)

    # ------------------------------------------------------------------ artifacts

    def _artifact_root(self, run_id: str) -> Path:
        return self.repository.runs.artifact_dir(run_id)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        artifact_io.copy_file(Path(local_path), self._artifact_root(run_id), artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        artifact_io.copy_tree(Path(local_dir), self._artifact_root(run_id), artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        artifact_io.write_bytes(self._artifact_root(run_id), artifact_file, text.encode("utf-8"))

    def log_dict(self, run_id: str, dictionary: dict[str, Any], artifact_file: str) -> None:
        artifact_io.write_bytes(
            self._artifact_root(run_id),
            artifact_file,
            artifact_io.serialize_dict(dictionary, artifact_file),
        )

    def log_figure(
        self,
        run_id: str,
        figure: Any,
        artifact_file: str,
        *,
        save_kwargs: dict[str, Any] | None = None,
    ) -> None:
        artifact_io.write_bytes(
            self._artifact_root(run_id),
            artifact_file,
            artifact_io.render_figure(figure, artifact_file, save_kwargs),
        )

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return artifact_io.list_dir(self._artifact_root(run_id), path)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        return str(artifact_io.download(self._artifact_root(run_id), path, dst_path))

    def get_artifact_file(self, run_id: str, path: str) -> Path:
        """The stored file of one artifact, to stream it (directories are refused)."""
        return artifact_io.stored_file(self._artifact_root(run_id), path)

    def open_artifact_writer(self, run_id: str, artifact_file: str) -> artifact_io.ArtifactWriter:
        """A writer that receives one artifact in pieces (an upload) without holding it in memory."""
        return artifact_io.ArtifactWriter(self._artifact_root(run_id), artifact_file)

    # ------------------------------------------------------------------ logged models (MLflow 3)

    @property
    def _logged_models(self) -> LoggedModels:
        if self._models is None:
            from mltrack.tracking.logged_models import LoggedModels

            self._models = LoggedModels(self)
        return self._models

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """A PENDING logged model stored with ``source_run_id`` (a holder run is created without one)."""
        return self._logged_models.create(
            experiment_id, name, source_run_id, tags, params, model_type
        )

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return self._logged_models.get(model_id)

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        return self._logged_models.finalize(model_id, status)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, Any]) -> None:
        self._logged_models.set_tags(model_id, tags)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._logged_models.delete_tag(model_id, key)

    def log_model_params(self, model_id: str, params: dict[str, Any]) -> None:
        self._logged_models.log_params(model_id, params)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Any = None,
        max_results: int | None = None,
        order_by: Sequence[dict[str, Any] | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        return self._logged_models.search(
            experiment_ids, filter_string, max_results, order_by, page_token
        )

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record the step at which ``run_id`` logged each of its models."""
        for output in models:
            self._logged_models.record_output(run_id, output.model_id, output.step)


def _with_effective_status(runs: Any, record: RunRecord) -> RunRecord:
    if record.status != RunStatus.RUNNING:
        return record
    status = runs.effective_status(record)
    if status == record.status:
        return record
    copy = record.copy()
    copy.status = status
    return copy


def paginate(items: list[Any], max_results: int | None, page_token: str | None) -> PagedList:
    start = _offset(page_token)
    if max_results is None:
        return PagedList(items[start:], None)
    end = start + max_results
    token = _page_token(end) if end < len(items) else None
    return PagedList(items[start:end], token)


def _dataset_item(entry: Any) -> dict[str, Any]:
    """A run.yaml ``inputs`` entry from an mltrack dataset or a DatasetInput entity."""
    from mltrack.entities import DatasetInput

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
