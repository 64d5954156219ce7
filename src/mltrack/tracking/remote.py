"""The remote client: the tracking client's methods over a tracking server's REST API.

``mltrack.set_tracking_uri("http://host:port")`` (or ``MLFLOW_TRACKING_URI``) makes
the fluent API and ``TrackingClient``/``MltrackClient`` use a
:class:`RemoteTrackingClient` instead of a local repository: a training machine
with only mltrack installed logs to a ``mltrack server`` or an MLflow server.

Metric points logged with the fluent ``log_metric`` are buffered per run
(:class:`RemoteRunBuffer`) and sent as ``runs/log-batch`` calls of at most 1000
metrics; the buffer is flushed when it is full, when the run ends and before
anything reads the run back. Artifacts are uploaded through the server's
``mlflow-artifacts`` proxy, as MLflow's client does when the server serves them.

Logged models are read and changed through ``logged-models/*`` as MLflow 3's
client does it. What needs a local repository (a run's git commit, history,
reviews) is refused with a one-line error naming what is not offered.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mltrack.entities import (
    CodeVersion,
    Dataset,
    DatasetInput,
    Experiment,
    FileInfo,
    InputTag,
    LifecycleStage,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
    ViewType,
)
from mltrack.exceptions import InvalidParameterValue, MltrackError, ResourceDoesNotExist
from mltrack.paging import PagedList
from mltrack.store import validation
from mltrack.store.repository import now_ms
from mltrack.tracking import artifacts as artifact_io
from mltrack.tracking import media
from mltrack.tracking.async_logging import RunOperations, is_async
from mltrack.tracking.rest import NotOfferedRemotely, RestTransport, not_offered

__all__ = ["NotOfferedRemotely", "RemoteRunBuffer", "RemoteRunRecord", "RemoteTrackingClient"]

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_POINT_AGE_S = 5.0
_PAGE = 1000
_VIEW_NAMES = {
    ViewType.ACTIVE_ONLY: "ACTIVE_ONLY",
    ViewType.DELETED_ONLY: "DELETED_ONLY",
    ViewType.ALL: "ALL",
}


class _PointBuffer(list[tuple[str, float, int, int]]):
    """The metric points of one run not yet sent; sends a batch once it holds 1000, or once
    its oldest point has waited ``MAX_POINT_AGE_S``: a process killed mid-training then loses
    only the last seconds of points, as a local run loses only what it had not flushed."""

    def __init__(self, owner: RemoteRunBuffer) -> None:
        super().__init__()
        self.owner = owner
        self.oldest = 0.0  # monotonic time the oldest unsent point was added

    def append(self, point: tuple[str, float, int, int]) -> None:
        now = time.monotonic()
        if not self:
            self.oldest = now
        super().append(point)
        if len(self) >= MAX_METRICS_PER_BATCH or now - self.oldest >= MAX_POINT_AGE_S:
            self.owner.flush()


class RemoteRunBuffer:
    """What the fluent API writes a remote run's metric points into (the local ``LiveRun``'s shape).

    ``points``, ``lock`` and ``failure`` are what the fluent ``log_metric`` hot path uses.
    """

    owned = True  # a failed end leaves the run active, to retry

    def __init__(self, client: RemoteTrackingClient, run_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.lock = threading.RLock()
        self.failure: BaseException | None = None
        self.points = _PointBuffer(self)

    def retry_failed_flush(self) -> None:
        self.failure = None
        self.flush()

    def flush(self) -> None:
        """Send the buffered points; on failure they stay buffered for the next flush."""
        with self.lock:
            if not self.points:
                return
            pending = list(self.points)
            list.clear(self.points)
            try:
                self.client.send_batch(
                    self.run_id,
                    metrics=[Metric(k, v, ts, step) for k, v, step, ts in pending],
                )
            except BaseException:
                self.points[:0] = pending
                raise


@dataclass(frozen=True)
class RemoteRunRecord:
    """A run as the fluent ``search_runs`` DataFrame reads it (a local run record's fields)."""

    run: Run

    def __getattr__(self, name: str) -> Any:
        if name in ("metrics", "params", "tags"):
            return getattr(self.run.data, name)
        return getattr(self.run.info, name)


class _RemoteRuns:
    @staticmethod
    def to_run(record: RemoteRunRecord) -> Run:
        return record.run


class RemoteTrackingClient:
    """The tracking client's experiment, run, logging and artifact methods over REST.

    It has ``TrackingClient``'s method names and signatures (``TrackingClient`` makes one
    for a server URI); a method it lacks is refused with :class:`NotOfferedRemotely`.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        *,
        repository: Any = None,
    ) -> None:
        self.location = str(tracking_uri)
        self._registry_uri = registry_uri
        self.transport = RestTransport(self.location)
        self._buffers: dict[str, RemoteRunBuffer] = {}
        self._artifact_roots: dict[str, str] = {}
        self._guard = threading.Lock()

    remote = True

    runs = _RemoteRuns()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise self.not_offered("This call" if name == "repository" else name)

    def not_offered(self, what: str, why: str | None = None) -> NotOfferedRemotely:
        return not_offered(what, self.location, why)

    # ------------------------------------------------------------------ buffers

    def live(self, run_id: str) -> RemoteRunBuffer:
        """The metric buffer of ``run_id`` (made on first use)."""
        with self._guard:
            buffer = self._buffers.get(run_id)
            if buffer is None:
                buffer = self._buffers[run_id] = RemoteRunBuffer(self, run_id)
            return buffer

    def flush(self, run_id: str | None = None) -> None:
        """Send buffered points: of ``run_id``, or of every run (before a search)."""
        with self._guard:
            buffers = (
                list(self._buffers.values())
                if run_id is None
                else [b for b in [self._buffers.get(run_id)] if b is not None]
            )
        for buffer in buffers:
            buffer.flush()

    # ------------------------------------------------------------------ experiments

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> str:
        body: dict[str, Any] = {"name": validation.experiment_name(name)}
        if artifact_location:
            body["artifact_location"] = artifact_location
        if tags:
            body["tags"] = [{"key": str(k), "value": str(v)} for k, v in tags.items()]
        return str(self.transport.call("POST", "experiments/create", body)["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        answer = self.transport.call(
            "GET", "experiments/get", {"experiment_id": str(experiment_id)}
        )
        return _experiment(answer["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        answer = self.transport.call(
            "GET", "experiments/get-by-name", {"experiment_name": name}, allow_missing=True
        )
        return _experiment(answer["experiment"]) if "experiment" in answer else None

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int | None = 1000,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        body: dict[str, Any] = {
            "view_type": _VIEW_NAMES[ViewType.from_any(view_type)],
            "max_results": max_results or 1000,
        }
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        if page_token:
            body["page_token"] = page_token
        answer = self.transport.call("POST", "experiments/search", body)
        return PagedList(
            [_experiment(e) for e in answer.get("experiments", [])], answer.get("next_page_token")
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self.transport.call("POST", "experiments/delete", {"experiment_id": str(experiment_id)})

    def restore_experiment(self, experiment_id: str) -> None:
        self.transport.call("POST", "experiments/restore", {"experiment_id": str(experiment_id)})

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        body = {
            "experiment_id": str(experiment_id),
            "new_name": validation.experiment_name(new_name),
        }
        self.transport.call("POST", "experiments/update", body)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        body = {"experiment_id": str(experiment_id), "key": key}
        self.transport.call("POST", "experiments/delete-experiment-tag", body)

    def ensure_experiment(self, name: str) -> Experiment:
        """The experiment named ``name``, created if the server has none (fluent set_experiment)."""
        found = self.get_experiment_by_name(name)
        if found is None:
            try:
                return self.get_experiment(self.create_experiment(name))
            except MltrackError:  # created by another process in the meantime
                found = self.get_experiment_by_name(name)
                if found is None:
                    raise
        return found

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        body = {"experiment_id": str(experiment_id), "key": key, "value": str(value)}
        self.transport.call("POST", "experiments/set-experiment-tag", body)

    # ------------------------------------------------------------------ runs

    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        *,
        code: CodeVersion | None = None,  # the server records what the client sends as tags
        user_id: str | None = None,
    ) -> Run:
        all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        if run_name:
            all_tags["mlflow.runName"] = run_name
        body: dict[str, Any] = {
            "experiment_id": str(experiment_id),
            "start_time": start_time if start_time is not None else now_ms(),
            "tags": [{"key": k, "value": v} for k, v in all_tags.items()],
        }
        if run_name:
            body["run_name"] = run_name
        user = user_id or all_tags.get("mlflow.user")
        if user:
            body["user_id"] = user
        return _run(self.transport.call("POST", "runs/create", body)["run"])

    def get_run(self, run_id: str) -> Run:
        self.flush(run_id)
        return _run(self.transport.call("GET", "runs/get", {"run_id": run_id})["run"])

    def get_parent_run(self, run_id: str) -> Run | None:
        parent = self.get_run(run_id).data.tags.get("mlflow.parentRunId")
        return self.get_run(parent) if parent else None

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        name: str | None = None,
        end_time: int | None = None,
    ) -> None:
        body: dict[str, Any] = {"run_id": run_id}
        if end_time is not None:
            body["end_time"] = end_time
        if status is not None:
            body["status"] = RunStatus.from_any(status)
        if name is not None:
            body["run_name"] = name
        self.transport.call("POST", "runs/update", body)

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        self.flush(run_id)
        body = {
            "run_id": run_id,
            "status": RunStatus.from_any(status or RunStatus.FINISHED),
            "end_time": end_time if end_time is not None else now_ms(),
        }
        self.transport.call("POST", "runs/update", body)
        with self._guard:
            self._buffers.pop(run_id, None)

    def delete_run(self, run_id: str) -> None:
        self.flush(run_id)
        self.transport.call("POST", "runs/delete", {"run_id": run_id})

    def restore_run(self, run_id: str) -> bool:
        self.transport.call("POST", "runs/restore", {"run_id": run_id})
        return True

    def search_runs(
        self,
        experiment_ids: Sequence[str] | str | None,
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        self.flush()
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [str(experiment_ids)]
        body: dict[str, Any] = {
            "experiment_ids": [str(e) for e in experiment_ids or []],
            "run_view_type": _VIEW_NAMES[ViewType.from_any(run_view_type)],
            "max_results": max_results,
        }
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        if page_token:
            body["page_token"] = page_token
        answer = self.transport.call("POST", "runs/search", body)
        return PagedList([_run(r) for r in answer.get("runs", [])], answer.get("next_page_token"))

    def search_run_records(
        self,
        experiment_ids: Sequence[str] | None,
        filter_string: str | None = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        order_by: list[str] | None = None,
        progress: Any = None,
        rev: str | None = None,
    ) -> list[RemoteRunRecord]:
        """Every matching run, all pages (the fluent ``search_runs``)."""
        if experiment_ids is None:  # every experiment, as the server knows them
            experiments = self._all_experiments()
            experiment_ids = [e.experiment_id for e in experiments]
        records: list[RemoteRunRecord] = []
        token: str | None = None
        while True:
            page = self.search_runs(
                experiment_ids, filter_string or "", run_view_type, _PAGE, order_by, token
            )
            records.extend(RemoteRunRecord(run) for run in page)
            token = page.token
            if not token:
                return records

    def _all_experiments(self) -> list[Experiment]:
        found: list[Experiment] = []
        token: str | None = None
        while True:
            page = self.search_experiments(ViewType.ALL, _PAGE, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                return found

    # ------------------------------------------------------------------ logging

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        key = validation.key(key, "param key")
        text = validation.param_value(key, value)
        self.transport.call(
            "POST", "runs/log-parameter", {"run_id": run_id, "key": key, "value": text}
        )
        return _sent(synchronous) or value

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
    ) -> None:
        metric = Metric(
            validation.key(key, "metric key"),
            validation.metric_value(key, value),
            now_ms() if timestamp is None else timestamp,
            step or 0,
            None,
            model_id,
            dataset_name,
            dataset_digest,
        )
        self.send_batch(run_id, metrics=[metric])

    def set_tag(
        self, run_id: str, key: str, value: Any, synchronous: bool | None = None
    ) -> RunOperations | None:
        key = validation.key(key, "tag key")
        text = validation.tag_value(key, value)
        self.transport.call("POST", "runs/set-tag", {"run_id": run_id, "key": key, "value": text})
        return _sent(synchronous)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.transport.call("POST", "runs/delete-tag", {"run_id": run_id, "key": key})

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        self.send_batch(run_id, metrics, params, tags)
        return _sent(synchronous)

    def send_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """``runs/log-batch`` calls of at most 1000 metrics, 100 params and 100 tags each."""
        metrics, params, tags = list(metrics), list(params), list(tags)
        while metrics or params or tags:
            body: dict[str, Any] = {"run_id": run_id}
            chunk_params, params = params[:MAX_PARAMS_PER_BATCH], params[MAX_PARAMS_PER_BATCH:]
            chunk_tags, tags = tags[:MAX_TAGS_PER_BATCH], tags[MAX_TAGS_PER_BATCH:]
            room = MAX_METRICS_PER_BATCH - len(chunk_params) - len(chunk_tags)
            chunk_metrics, metrics = metrics[:room], metrics[room:]
            if chunk_params:
                body["params"] = [{"key": p.key, "value": str(p.value)} for p in chunk_params]
            if chunk_tags:
                body["tags"] = [{"key": t.key, "value": str(t.value)} for t in chunk_tags]
            if chunk_metrics:
                body["metrics"] = [_metric_json(m) for m in chunk_metrics]
            self.transport.call("POST", "runs/log-batch", body)

    def log_inputs(
        self, run_id: str, datasets: Sequence[DatasetInput] | None = None, models: Any = None
    ) -> None:
        body: dict[str, Any] = {
            "run_id": run_id,
            "datasets": [
                {
                    "dataset": entry.dataset.to_dict(),
                    "tags": [{"key": t.key, "value": t.value} for t in entry.tags],
                }
                for entry in datasets or []
            ],
        }
        if models:  # LoggedModelInput entities, or model ids
            body["models"] = [{"model_id": str(getattr(m, "model_id", m))} for m in models]
        self.transport.call("POST", "runs/log-inputs", body)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self.flush(run_id)
        points: list[Metric] = []
        token: str | None = None
        while True:
            query: dict[str, Any] = {"run_id": run_id, "metric_key": key}
            if token:
                query["page_token"] = token
            answer = self.transport.call("GET", "metrics/get-history", query)
            points.extend(
                Metric(
                    m["key"],
                    _float(m.get("value")),
                    int(m.get("timestamp", 0)),
                    int(m.get("step", 0)),
                    run_id,
                )
                for m in answer.get("metrics", [])
            )
            token = answer.get("next_page_token")
            if not token:
                return points

    # ------------------------------------------------------------------ logged models

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """A new PENDING logged model (``POST logged-models``), its files to upload."""
        body: dict[str, Any] = {
            "experiment_id": str(experiment_id),
            "tags": _tag_json(tags, "tag"),
            "params": _tag_json(params, "param"),
        }
        for field_name, value in (
            ("name", name),
            ("source_run_id", source_run_id),
            ("model_type", model_type),
        ):
            if value:
                body[field_name] = value
        return _logged_model(self.transport.call("POST", "logged-models", body)["model"])

    def get_logged_model(self, model_id: str) -> LoggedModel:
        answer = self.transport.call("GET", f"logged-models/{_model_id(model_id)}")
        return _logged_model(answer["model"])

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[dict[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: Sequence[dict[str, Any] | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """``logged-models/search``: one page, MLflow's filter, datasets and order_by."""
        body: dict[str, Any] = {"experiment_ids": [str(e) for e in experiment_ids]}
        if filter_string:
            body["filter"] = filter_string
        if datasets:
            body["datasets"] = [_dataset_filter(d) for d in datasets]
        if max_results is not None:
            body["max_results"] = int(max_results)
        if order_by:
            body["order_by"] = [_model_order(item) for item in order_by]
        if page_token:
            body["page_token"] = page_token
        answer = self.transport.call("POST", "logged-models/search", body)
        return PagedList(
            [_logged_model(m) for m in answer.get("models", [])],
            answer.get("next_page_token") or None,
        )

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        """``PATCH logged-models/<id>``: READY or FAILED once the upload is done."""
        wire = _MODEL_STATUS_WIRE[LoggedModelStatus.from_any(status)]
        model_id = _model_id(model_id)
        body = {"model_id": model_id, "status": wire}
        answer = self.transport.call("PATCH", f"logged-models/{model_id}", body)
        return _logged_model(answer["model"])

    def set_logged_model_tags(self, model_id: str, tags: dict[str, Any]) -> None:
        model_id = _model_id(model_id)
        body = {"model_id": model_id, "tags": _tag_json(tags, "tag")}
        self.transport.call("PATCH", f"logged-models/{model_id}/tags", body)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        quoted = urllib.parse.quote(validation.key(key, "tag key"), safe="")
        self.transport.call("DELETE", f"logged-models/{_model_id(model_id)}/tags/{quoted}")

    def log_model_params(self, model_id: str, params: dict[str, Any]) -> None:
        """``logged-models/<id>/params`` in batches of 100, as MLflow's client sends them."""
        model_id = _model_id(model_id)
        pairs = _tag_json(params, "param")
        for start in range(0, len(pairs), MAX_PARAMS_PER_BATCH):
            body = {"model_id": model_id, "params": pairs[start : start + MAX_PARAMS_PER_BATCH]}
            self.transport.call("POST", f"logged-models/{model_id}/params", body)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        body = {
            "run_id": run_id,
            "models": [{"model_id": m.model_id, "step": int(m.step)} for m in models],
        }
        self.transport.call("POST", "runs/outputs", body)

    def list_logged_model_artifacts(self, model_id: str, path: str | None = None) -> list[FileInfo]:
        """The entries of one directory of the model, paths relative to the model's root."""
        location = self.get_logged_model(model_id).artifact_location
        parsed = urllib.parse.urlparse(location)
        if parsed.scheme != "mlflow-artifacts":
            raise self.not_offered(
                f"Listing the files of logged model {model_id}",
                f"they are at {location!r}, which the server does not proxy.",
            )
        root = parsed.path.strip("/")
        inside = validation.artifact_path(path)
        entries = self.transport.list(f"{root}/{inside}" if inside else root)
        return sorted(
            (
                FileInfo(
                    path=f"{inside}/{PurePosixPath(str(e['path'])).name}"
                    if inside
                    else PurePosixPath(str(e["path"])).name,
                    is_dir=bool(e.get("is_dir", False)),
                    file_size=_optional_int(e.get("file_size")),
                )
                for e in entries
            ),
            key=lambda entry: entry.path,
        )

    # ------------------------------------------------------------------ artifacts

    def artifact_root(self, run_id: str) -> str:
        """The ``mlflow-artifacts`` path of the run's artifacts (``<experiment>/<run>/artifacts``)."""
        root = self._artifact_roots.get(run_id)
        if root is None:
            uri = self.transport.call("GET", "runs/get", {"run_id": run_id})["run"]["info"][
                "artifact_uri"
            ]
            parsed = urllib.parse.urlparse(uri)
            if parsed.scheme != "mlflow-artifacts":
                raise self.not_offered(
                    f"Uploading artifacts to {uri!r}",
                    "the server does not proxy artifacts (start it with --serve-artifacts).",
                )
            root = self._artifact_roots[run_id] = parsed.path.strip("/")
        return root

    def _upload(self, run_id: str, artifact_file: str, data: bytes) -> None:
        relative = validation.artifact_path(artifact_file)
        if not relative:
            raise InvalidParameterValue(f"Invalid artifact file {artifact_file!r}.")
        self.transport.upload(f"{self.artifact_root(run_id)}/{relative}", data)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        source = Path(local_path)
        target = PurePosixPath(artifact_path or "") / source.name
        self._upload(run_id, str(target), source.read_bytes())

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        base = Path(local_dir)
        for path in sorted(base.rglob("*")):
            if path.is_file():
                target = PurePosixPath(artifact_path or "") / path.relative_to(base).as_posix()
                self._upload(run_id, str(target), path.read_bytes())

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._upload(run_id, artifact_file, text.encode("utf-8"))

    def log_stream(self, run_id: str, stream: Any, artifact_file: str) -> None:
        """A binary file-like object's contents as one artifact (one upload, as MLflow's)."""
        data = stream.read()
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidParameterValue(
                "log_stream needs a binary stream (io.BytesIO, open(..., 'rb')); "
                f"it read {type(data).__name__}."
            )
        self._upload(run_id, artifact_file, bytes(data))

    def log_dict(self, run_id: str, dictionary: dict[str, Any], artifact_file: str) -> None:
        self._upload(run_id, artifact_file, artifact_io.serialize_dict(dictionary, artifact_file))

    def log_figure(
        self,
        run_id: str,
        figure: Any,
        artifact_file: str,
        *,
        save_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._upload(
            run_id, artifact_file, artifact_io.render_figure(figure, artifact_file, save_kwargs)
        )

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """An image as ``artifact_file``, or time-stepped under ``key`` (PNG and thumbnail)."""
        for path, data in media.image_files(image, artifact_file, key, step, timestamp).items():
            self._upload(run_id, path, data)
        if artifact_file is None:
            self.set_tag(run_id, media.LOGGED_IMAGES_TAG, "True")

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """A table file; when the run has one already, it is fetched and the rows appended."""
        relative = validation.artifact_path(artifact_file)
        parent = str(PurePosixPath(relative).parent).strip(".")
        stored = any(
            entry.path == relative and not entry.is_dir
            for entry in self.list_artifacts(run_id, parent or None)
        )
        with tempfile.TemporaryDirectory(prefix="mltrack-table-") as scratch:
            existing = Path(self.download_artifacts(run_id, relative, scratch)) if stored else None
            content = media.table_bytes(data, artifact_file, existing)
        self._upload(run_id, artifact_file, content)
        current = self.get_run(run_id).data.tags.get(media.LOGGED_ARTIFACTS_TAG)
        tag = media.table_tag(current, artifact_file)
        if tag is not None:
            self.set_tag(run_id, media.LOGGED_ARTIFACTS_TAG, tag)

    def load_table(self, run_id: str, artifact_file: str) -> Any:
        """The table a run logged as ``artifact_file`` (a pandas DataFrame), fetched."""
        with tempfile.TemporaryDirectory(prefix="mltrack-table-") as scratch:
            return media.read_table(Path(self.download_artifacts(run_id, artifact_file, scratch)))

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The entries of one artifact directory of the run (``artifacts/list``), by path."""
        body: dict[str, Any] = {"run_id": run_id, "path": validation.artifact_path(path) or None}
        entries: list[FileInfo] = []
        while True:
            answer = self.transport.call("GET", "artifacts/list", body)
            entries.extend(
                FileInfo(
                    path=str(f["path"]),
                    is_dir=bool(f.get("is_dir", False)),
                    file_size=_optional_int(f.get("file_size")),
                )
                for f in answer.get("files", [])
            )
            token = answer.get("next_page_token")
            if not token:
                return sorted(entries, key=lambda entry: entry.path)
            body["page_token"] = token

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """A local copy of an artifact file or directory, as the local client makes it.

        The copy is ``<dst_path>/<name of path>`` (``<dst_path>/artifacts`` for the whole
        run); without ``dst_path`` it goes to a new temporary directory.
        """
        relative = validation.artifact_path(path)
        entries = self.list_artifacts(run_id, relative or None)
        # artifacts/list of a file answers nothing (MLflow) or the file itself (mltrack).
        is_file = bool(relative) and (
            not entries
            or (len(entries) == 1 and entries[0].path == relative and not entries[0].is_dir)
        )
        parent = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="mltrack-artifacts-"))
        destination = parent / (PurePosixPath(relative).name if relative else "artifacts")
        destination.parent.mkdir(parents=True, exist_ok=True)
        if is_file:
            try:
                data = self.transport.download(f"{self.artifact_root(run_id)}/{relative}")
            except ResourceDoesNotExist:
                raise ResourceDoesNotExist(
                    f"No artifact at {relative!r} in run {run_id}."
                ) from None
            destination.write_bytes(data)
            return str(destination)
        destination.mkdir(parents=True, exist_ok=True)
        self._download_tree(run_id, relative, entries, destination)
        return str(destination)

    def _download_tree(
        self, run_id: str, relative: str, entries: list[FileInfo], destination: Path
    ) -> None:
        for entry in entries:
            # entry paths are relative to the run's root; the copy is relative to ``relative``
            target = destination / (entry.path[len(relative) + 1 :] if relative else entry.path)
            if entry.is_dir:
                target.mkdir(parents=True, exist_ok=True)
                inner = self.list_artifacts(run_id, entry.path)
                self._download_tree(run_id, relative, inner, destination)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(
                    self.transport.download(f"{self.artifact_root(run_id)}/{entry.path}")
                )

    def get_artifact_uri(self, run_id: str, artifact_path: str | None = None) -> str:
        uri = str(self.get_run(run_id).info.artifact_uri)
        relative = validation.artifact_path(artifact_path)
        return f"{uri.rstrip('/')}/{relative}" if relative else uri


def _sent(synchronous: bool | None) -> RunOperations | None:
    """MLflow's answer to a logging call: a handle if asynchronous (here, nothing left to wait for)."""
    return RunOperations() if is_async(synchronous) else None


# ---------------------------------------------------------------------- JSON → entities


def _float(value: Any) -> float:
    if isinstance(value, str):  # "NaN", "Infinity" as protobuf's JSON writes them
        return float(value)
    return math.nan if value is None else float(value)


def _metric_json(metric: Metric) -> dict[str, Any]:
    value = metric.value
    if not math.isfinite(value):  # protobuf's JSON spelling; json.dumps would write NaN bare
        value = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    out = {"key": metric.key, "value": value, "timestamp": metric.timestamp, "step": metric.step}
    for name in ("model_id", "dataset_name", "dataset_digest"):  # MLflow 3's model metrics
        linked = getattr(metric, name, None)
        if linked is not None:
            out[name] = linked
    return out


def _pairs(items: Any) -> dict[str, str]:
    return {str(item["key"]): str(item.get("value", "")) for item in items or []}


def _optional_int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _experiment(data: dict[str, Any]) -> Experiment:
    return Experiment(
        experiment_id=str(data["experiment_id"]),
        name=str(data["name"]),
        artifact_location=str(data.get("artifact_location", "")),
        lifecycle_stage=str(data.get("lifecycle_stage", LifecycleStage.ACTIVE)),
        tags=_pairs(data.get("tags")),
        creation_time=_optional_int(data.get("creation_time")),
        last_update_time=_optional_int(data.get("last_update_time")),
    )


_MODEL_STATUS_WIRE = {
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING",
    LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}


def _model_id(model_id: str) -> str:
    text = str(model_id)
    if not text or "/" in text:
        raise InvalidParameterValue(f"Invalid logged model id {model_id!r}.")
    return urllib.parse.quote(text, safe="")


def _tag_json(items: dict[str, Any] | None, what: str) -> list[dict[str, str]]:
    """Key/value pairs as MLflow sends them, each checked here (a bad one fails before sending)."""
    checked = []
    for key, value in (items or {}).items():
        key = validation.key(key, f"{what} key")
        text = (
            validation.param_value(key, value)
            if what == "param"
            else validation.tag_value(key, value)
        )
        checked.append({"key": key, "value": text})
    return checked


def _dataset_filter(item: dict[str, Any]) -> dict[str, str]:
    if not isinstance(item, dict) or not item.get("dataset_name"):
        raise InvalidParameterValue(
            f"Invalid datasets entry {item!r}: each needs 'dataset_name' (and may have "
            "'dataset_digest')."
        )
    out = {"dataset_name": str(item["dataset_name"])}
    if item.get("dataset_digest"):
        out["dataset_digest"] = str(item["dataset_digest"])
    return out


def _model_order(item: dict[str, Any] | str) -> dict[str, Any]:
    """An ``order_by`` entry as MLflow sends it; ``"name DESC"`` strings are accepted too."""
    if isinstance(item, str):
        field_name, _, direction = item.strip().partition(" ")
        return {"field_name": field_name, "ascending": direction.strip().upper() != "DESC"}
    if not isinstance(item, dict) or not item.get("field_name"):
        raise InvalidParameterValue(f"Invalid order_by entry {item!r}: it needs 'field_name'.")
    out: dict[str, Any] = {
        "field_name": str(item["field_name"]),
        "ascending": bool(item.get("ascending", True)),
    }
    for key in ("dataset_name", "dataset_digest"):
        if item.get(key):
            out[key] = str(item[key])
    return out


def _logged_model(data: dict[str, Any]) -> LoggedModel:
    info = data["info"]
    location = str(info.get("artifact_uri", ""))
    # Within its run's artifacts on mltrack server (<exp>/<run>/artifacts/<path>); MLflow's
    # server keeps a model's files apart from every run (<exp>/models/<id>/artifacts).
    _, marker, inside = urllib.parse.urlparse(location).path.partition("/artifacts/")
    created = int(info.get("creation_timestamp_ms", 0))
    return LoggedModel(
        model_id=str(info["model_id"]),
        experiment_id=str(info.get("experiment_id", "")),
        name=str(info.get("name", "")),
        source_run_id=str(info.get("source_run_id", "")),
        artifact_path=inside.strip("/") if marker else "",
        artifact_location=location,
        status=LoggedModelStatus.from_any(
            str(info.get("status", "LOGGED_MODEL_READY")).replace("STATUS_UNSPECIFIED", "PENDING")
        ),
        creation_timestamp=created,
        last_updated_timestamp=int(info.get("last_updated_timestamp_ms", created)),
        model_type=str(info["model_type"]) if info.get("model_type") else None,
        tags=_pairs(info.get("tags")),
        params=_pairs(data.get("data", {}).get("params")),
    )


def _run(data: dict[str, Any]) -> Run:
    info = data["info"]
    body = data.get("data", {})
    run_id = str(info.get("run_id") or info["run_uuid"])
    tags = _pairs(body.get("tags"))
    run_info = RunInfo(
        run_id=run_id,
        experiment_id=str(info["experiment_id"]),
        run_name=str(info.get("run_name") or tags.get("mlflow.runName", "")),
        user_id=str(info.get("user_id", "")),
        status=str(info.get("status", RunStatus.RUNNING)),
        start_time=int(info.get("start_time", 0)),
        end_time=_optional_int(info.get("end_time")),
        lifecycle_stage=str(info.get("lifecycle_stage", LifecycleStage.ACTIVE)),
        artifact_uri=str(info.get("artifact_uri", "")),
    )
    metrics = [
        Metric(m["key"], _float(m.get("value")), int(m.get("timestamp", 0)), int(m.get("step", 0)))
        for m in body.get("metrics", [])
    ]
    inputs = tuple(
        DatasetInput(
            Dataset.from_dict(entry["dataset"]),
            tuple(InputTag(k, v) for k, v in _pairs(entry.get("tags")).items()),
        )
        for entry in data.get("inputs", {}).get("dataset_inputs", [])
    )
    return Run(
        info=run_info,
        data=RunData(
            metrics={m.key: m.value for m in metrics},
            params=_pairs(body.get("params")),
            tags=tags,
        ),
        inputs=RunInputs(
            inputs,
            tuple(
                LoggedModelInput(str(entry["model_id"]))
                for entry in data.get("inputs", {}).get("model_inputs", [])
            ),
        ),
        latest_metrics=tuple(metrics),
        outputs=RunOutputs(
            tuple(
                LoggedModelOutput(str(entry["model_id"]), int(entry.get("step") or 0))
                for entry in data.get("outputs", {}).get("model_outputs", [])
            )
        ),
    )
