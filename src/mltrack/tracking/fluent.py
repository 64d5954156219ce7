"""MLflow's fluent tracking API (``mltrack.start_run``, ``mltrack.log_metric`` …).

State is process-wide like MLflow's: the current tracking URI
(:mod:`mltrack.tracking.context`), the active experiment, and a per-thread stack
of active runs (:mod:`mltrack.tracking.active_runs`, which also ends them at exit).
Every call works through the client of the current repository (:func:`client`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from time import time as _now
from typing import TYPE_CHECKING, Any, cast

from mltrack.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LoggedModel,
    LoggedModelInput,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from mltrack.exceptions import InvalidParameterValue, MltrackError
from mltrack.store import validation
from mltrack.store.repository import DEFAULT_EXPERIMENT_ID, now_ms
from mltrack.tracking import active_model, system_metrics
from mltrack.tracking.active_runs import (
    ActiveRun,
    current_stack,
    end_active_run,
    install_exit_hook,
    run_stack,
)
from mltrack.tracking.active_runs import reset as reset_active_runs
from mltrack.tracking.async_logging import RunOperations, is_async
from mltrack.tracking.client import TrackingClient
from mltrack.tracking.context import (
    current_repository,
    current_tracking_uri,
    is_server_uri,
    open_repository,
    set_current_tracking_uri,
    source_tags,
)

if TYPE_CHECKING:
    import pandas

    from mltrack.store.runs import LiveRun
    from mltrack.tracking.remote import RemoteRunBuffer, RemoteTrackingClient

__all__ = [
    "ActiveRun",
    "active_run",
    "create_experiment",
    "delete_experiment",
    "delete_experiment_tag",
    "delete_run",
    "delete_tag",
    "end_run",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_parent_run",
    "get_registry_uri",
    "get_run",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "last_active_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_inputs",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_stream",
    "log_text",
    "restore_experiment",
    "restore_run",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_registry_uri",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]

_active_experiment_id: str | None = None
_last_active_run_id: str | None = None
_last_logged_model_id: str | None = None
_client: TrackingClient | None = None
# MLFLOW_ENABLE_ASYNC_LOGGING as read when the last run started: log_metric's hot path
# does not read the environment on every call.
_async_by_default = False


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def client() -> TrackingClient:
    """The client of the current repository (the tracking URI set, else the working directory's).

    An ``http(s)://`` tracking URI: the REST client of that tracking server.
    """
    global _client
    uri = current_tracking_uri()
    if is_server_uri(uri):
        if _client is None or _client.location != uri or not _client.remote:
            _client = TrackingClient(uri)
        return _client
    repo = current_repository()
    if _client is None or _client.repository is not repo:
        _client = TrackingClient(repository=repo)
    return _client


def _remote(the_client: TrackingClient) -> RemoteTrackingClient | None:
    """The REST client when the tracking URI names a server, else None."""
    return cast("RemoteTrackingClient", the_client) if the_client.remote else None


# ---------------------------------------------------------------------- tracking URI


def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Use the git repository at ``uri`` (a path or file:// URI) for everything that follows."""
    global _active_experiment_id
    set_current_tracking_uri(os.fspath(uri))
    _active_experiment_id = None


def is_tracking_uri_set() -> bool:
    """Whether a tracking URI was set (``set_tracking_uri`` or the environment)."""
    return current_tracking_uri() is not None


def get_tracking_uri() -> str:
    """The repository in use: the URI set, else the git repository around the working directory."""
    uri = current_tracking_uri()
    if uri:
        return uri
    return open_repository(None).root.as_uri()


def set_registry_uri(uri: str) -> None:
    """Accepted for MLflow compatibility: the registry lives in the same repository."""


def get_registry_uri() -> str:
    return get_tracking_uri()


# ---------------------------------------------------------------------- experiments


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment active, creating it by name if needed."""
    global _active_experiment_id
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidParameterValue(
            "Must specify exactly one of: `experiment_id` or `experiment_name`."
        )
    the_client = client()
    remote_client = _remote(the_client)
    if remote_client is not None:
        remote = (
            remote_client.get_experiment(str(experiment_id))
            if experiment_id is not None
            else remote_client.ensure_experiment(validation.experiment_name(experiment_name))
        )
        _check_active(remote.name, remote.lifecycle_stage)
        _active_experiment_id = remote.experiment_id
        return remote
    repo = the_client.repository
    if experiment_id is not None:
        record = repo.get_experiment(str(experiment_id))
    else:
        name = validation.experiment_name(experiment_name)
        found = repo.find_experiment(name)
        if found is None:
            try:
                found = repo.create_experiment(name)
            except MltrackError:  # created by another process in the meantime
                found = repo.find_experiment(name)
                if found is None:
                    raise
        record = found
    _check_active(record.name, record.lifecycle_stage)
    _active_experiment_id = record.experiment_id
    return the_client.experiments.entity(record)


def _check_active(name: str, lifecycle_stage: str) -> None:
    if lifecycle_stage != "active":
        raise InvalidParameterValue(
            f"Cannot set a deleted experiment {name!r} as the active experiment. "
            "Restore it with `mltrack experiments restore` or choose another name."
        )


def active_experiment_id() -> str:
    """The experiment of the active run, else the one new runs go to (as MLflow's)."""
    active = active_run()
    return active.info.experiment_id if active is not None else _active_experiment()


def _active_experiment() -> str:
    if _active_experiment_id is not None:
        return _active_experiment_id
    by_id = _env("MLTRACK_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_ID")
    if by_id:
        return by_id
    by_name = _env("MLTRACK_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME")
    if by_name:
        return set_experiment(by_name).experiment_id
    the_client = client()
    if not the_client.remote:  # a server has its Default experiment
        the_client.repository.ensure_default_experiment()
    return DEFAULT_EXPERIMENT_ID


def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
) -> str:
    return client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    return client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return client().get_experiment_by_name(name)


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[Experiment]:
    return list(client().search_experiments(view_type, max_results, filter_string, order_by))


def delete_experiment(experiment_id: str) -> None:
    client().delete_experiment(experiment_id)


def restore_experiment(experiment_id: str) -> None:
    client().restore_experiment(experiment_id)


def set_experiment_tag(key: str, value: Any) -> None:
    client().set_experiment_tag(_active_experiment(), key, value)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    for key, value in tags.items():
        set_experiment_tag(key, value)


def delete_experiment_tag(key: str) -> None:
    client().delete_experiment_tag(_active_experiment(), key)


# ---------------------------------------------------------------------- runs


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a new run, or resume ``run_id``; returns a context manager.

    ``log_system_metrics``: sample CPU, memory, disk and network while the run is
    active (:mod:`mltrack.tracking.system_metrics`; None: as enabled for the process).
    """
    global _last_active_run_id, _async_by_default
    _async_by_default = is_async(None)
    stack = run_stack()
    if stack and not nested:
        raise InvalidParameterValue(
            f"Run with UUID {stack[-1].run_id} is already active. To start a new run, first end "
            "the current run with mltrack.end_run(). To start a nested run, call start_run with "
            "nested=True"
        )
    run_id = run_id or _env("MLTRACK_RUN_ID", "MLFLOW_RUN_ID")
    the_client = client()
    resumed = bool(run_id)
    if run_id:
        run = _resume(run_id, tags, description)
    else:
        parent = parent_run_id or (stack[-1].run_id if nested and stack else None)
        all_tags = {}
        if the_client.remote:
            all_tags.update(source_tags(None, None, None))
        else:
            repo = the_client.repository
            code = repo.code_state()
            all_tags.update(source_tags(repo, code.commit, code.branch))
        all_tags.update({str(k): v for k, v in (tags or {}).items()})
        if description:
            all_tags["mlflow.note.content"] = description
        run = the_client.create_run(
            experiment_id=str(experiment_id) if experiment_id is not None else _active_experiment(),
            tags=all_tags,
            run_name=run_name,
            parent_run_id=parent,
        )
        run_id = run.info.run_id
    active = ActiveRun(run_id, _live_of(the_client, run_id), the_client)
    if system_metrics.wanted(log_system_metrics):
        active.system_metrics = system_metrics.start_monitor(run_id, the_client, resumed=resumed)
    stack.append(active)
    _last_active_run_id = run_id
    install_exit_hook()
    return active


def _resume(run_id: str, tags: dict[str, Any] | None, description: str | None) -> Run:
    the_client = client()
    remote = _remote(the_client)
    if remote is not None:
        remote.update_run(validation.run_id(run_id), RunStatus.RUNNING)
    else:
        repo = the_client.repository
        live = repo.runs.live(validation.run_id(run_id))
        live.set_info(status=RunStatus.RUNNING, end_time=None)
        repo.runs.claim(live)
    extra = {str(k): v for k, v in (tags or {}).items()}
    if description:
        extra["mlflow.note.content"] = description
    for key, value in extra.items():
        the_client.set_tag(run_id, key, value)
    return the_client.get_run(run_id)


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End the active run (commit-per-run: its files become one commit)."""
    end_active_run(status)


def active_run() -> ActiveRun | None:
    stack = run_stack()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    active = active_run()
    if active is not None:
        return active.client.get_run(active.run_id)
    return client().get_run(_last_active_run_id) if _last_active_run_id else None


def last_logged_model() -> LoggedModel | None:
    """The model this process logged last (``log_model`` of any flavor), or None."""
    return client().get_logged_model(_last_logged_model_id) if _last_logged_model_id else None


def note_logged_model(model_id: str) -> None:
    """Remember ``model_id`` as the process's last logged model (flavors call it)."""
    global _last_logged_model_id
    _last_logged_model_id = model_id


def get_run(run_id: str) -> Run:
    return client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    return client().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    client().restore_run(run_id)


def _live_of(the_client: TrackingClient, run_id: str) -> LiveRun | RemoteRunBuffer:
    remote = _remote(the_client)
    if remote is not None:
        return remote.live(run_id)
    return the_client.repository.runs.live(run_id)


def live_run(run_id: str | None = None) -> LiveRun | RemoteRunBuffer:
    """The buffer of ``run_id``, else of the active run (started now if there is none)."""
    if run_id is not None:
        return _live_of(client(), run_id)
    stack = run_stack()
    if stack:
        return stack[-1].live
    return start_run().live  # MLflow starts a run implicitly on the first log call


def local_live_run(what: str) -> LiveRun:
    """``live_run()`` for what writes into the run's directory: refused with a server URI."""
    remote = _remote(client())
    if remote is not None:
        raise remote.not_offered(what)
    return cast("LiveRun", live_run())


def _active_run_id(run_id: str | None = None) -> str:
    return run_id if run_id is not None else live_run().run_id


# ---------------------------------------------------------------------- logging


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    model_id: str | None = None,
    dataset: Any = None,
) -> RunOperations | None:
    """Log one metric point (buffered in memory, flushed durably).

    ``synchronous=False`` returns a :class:`RunOperations` (MLflow's); the point is
    logged either way (:mod:`mltrack.tracking.async_logging` says what async means here).
    ``model_id`` (and ``dataset``) also make it a metric of that logged model, measured
    on that dataset; unlike MLflow, the active model is not linked implicitly.
    """
    if model_id is not None or dataset is not None:
        return log_metrics({key: value}, step, synchronous, run_id, timestamp, model_id, dataset)
    # The hot path of a training loop: plain types skip the general checks.
    stack = current_stack()
    live = stack[-1].live if run_id is None and stack else live_run(run_id)
    if key not in validation.known_keys:
        key = validation.key(key, "metric key")
    if type(value) is not float:
        value = validation.metric_value(key, value)
    if step is None:
        step = 0
    elif type(step) is not int:
        step = validation.metric_step(key, step)
    if timestamp is None:
        timestamp = int(_now() * 1000)
    else:
        timestamp = validation.metric_timestamp(key, timestamp)
    with live.lock:
        if live.failure is not None:
            live.retry_failed_flush()  # a background flush failed (disk full): say so now
        live.points.append((key, value, step, timestamp))
    if synchronous is False or (synchronous is None and _async_by_default):
        return RunOperations([live])
    return None


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
    model_id: str | None = None,
    dataset: Any = None,
) -> RunOperations | None:
    """Log several metrics at one step; ``model_id``/``dataset`` as for :func:`log_metric`."""
    when = now_ms() if timestamp is None else timestamp
    run_id = _active_run_id(run_id)
    entity = _dataset_entity(dataset)
    if model_id is not None or entity is not None:
        _log_metric_inputs(run_id, model_id, entity)
    return client().log_batch(
        run_id,
        metrics=[
            Metric(
                k,
                v,
                when,
                step or 0,
                None,
                model_id,
                None if entity is None else entity.name,
                None if entity is None else entity.digest,
            )
            for k, v in metrics.items()
        ],
        synchronous=synchronous,
    )


def _dataset_entity(dataset: Any) -> Dataset | None:
    """The Dataset entity of an ``mltrack.data`` dataset (or the entity itself)."""
    if dataset is None:
        return None
    entity = dataset.to_entity() if hasattr(dataset, "to_entity") else dataset
    if isinstance(entity, Dataset):
        return entity
    try:  # another library's dataset entity (MLflow's has the same dict form)
        return Dataset.from_dict(entity.to_dict())
    except (AttributeError, KeyError, TypeError):
        raise InvalidParameterValue(
            f"Invalid dataset {dataset!r}: pass a dataset from mltrack.data or a Dataset."
        ) from None


def _log_metric_inputs(run_id: str, model_id: str | None, dataset: Dataset | None) -> None:
    """As MLflow's fluent API: a metric's model becomes an input of the run unless the run
    already has it as an input or output, and its dataset an input unless already one."""
    run = client().get_run(run_id)
    models = []
    if model_id is not None and model_id not in {
        *(m.model_id for m in run.inputs.model_inputs),
        *(o.model_id for o in run.outputs.model_outputs),
    }:
        models.append(LoggedModelInput(model_id))
    datasets = []
    if dataset is not None and (dataset.name, dataset.digest) not in {
        (d.dataset.name, d.dataset.digest) for d in run.inputs.dataset_inputs
    }:
        datasets.append(DatasetInput(dataset))
    if models or datasets:
        client().log_inputs(run_id, datasets, models=models)


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """The value logged (MLflow's return), or a :class:`RunOperations` if ``synchronous=False``."""
    return client().log_param(_active_run_id(), key, value, synchronous=synchronous)


def log_params(
    params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None
) -> RunOperations | None:
    return client().log_batch(
        _active_run_id(run_id),
        params=[Param(str(k), str(v)) for k, v in params.items()],
        synchronous=synchronous,
    )


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> RunOperations | None:
    return client().set_tag(_active_run_id(), key, value, synchronous=synchronous)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> RunOperations | None:
    return client().log_batch(
        _active_run_id(),
        tags=[RunTag(str(k), str(v)) for k, v in tags.items()],
        synchronous=synchronous,
    )


def delete_tag(key: str) -> None:
    client().delete_tag(_active_run_id(), key)


def log_artifact(
    local_path: str, artifact_path: str | None = None, run_id: str | None = None
) -> None:
    client().log_artifact(_active_run_id(run_id), local_path, artifact_path)


def log_artifacts(
    local_dir: str, artifact_path: str | None = None, run_id: str | None = None
) -> None:
    client().log_artifacts(_active_run_id(run_id), local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    client().log_text(_active_run_id(run_id), text, artifact_file)


def log_stream(stream: Any, artifact_file: str, run_id: str | None = None) -> None:
    """A binary file-like object (``io.BytesIO``) as an artifact of the active run."""
    client().log_stream(_active_run_id(run_id), stream, artifact_file)


def log_dict(dictionary: dict[str, Any], artifact_file: str, run_id: str | None = None) -> None:
    client().log_dict(_active_run_id(run_id), dictionary, artifact_file)


def log_figure(
    figure: Any,
    artifact_file: str,
    *,
    save_kwargs: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> None:
    client().log_figure(_active_run_id(run_id), figure, artifact_file, save_kwargs=save_kwargs)


def log_input(
    dataset: Any = None,
    context: str | None = None,
    tags: dict[str, str] | None = None,
    model: LoggedModelInput | None = None,
) -> None:
    """Record a dataset (``mltrack.data.from_pandas``/``from_numpy``) and/or a logged model
    (``LoggedModelInput``) as an input of the active run."""
    log_inputs(
        [] if dataset is None else [dataset],
        [context],
        [tags],
        [] if model is None else [model],
    )


def log_inputs(
    datasets: Sequence[Any] | None = None,
    contexts: Sequence[str | None] | None = None,
    tags_list: Sequence[dict[str, str] | None] | None = None,
    models: Sequence[LoggedModelInput] | None = None,
) -> None:
    """Datasets (each with its context and tags) and logged models as inputs of the active run."""
    datasets = list(datasets or [])
    contexts = list(contexts or [None] * len(datasets))[: len(datasets)]
    tags_list = list(tags_list or [None] * len(datasets))[: len(datasets)]
    inputs = []
    for dataset, context, tags in zip(datasets, contexts, tags_list, strict=True):
        input_tags = [InputTag(str(k), str(v)) for k, v in (tags or {}).items()]
        if context:
            input_tags.append(InputTag("mlflow.data.context", context))
        entity = _dataset_entity(dataset)
        if entity is not None:
            inputs.append(DatasetInput(entity, tuple(input_tags)))
    if inputs or models:
        client().log_inputs(_active_run_id(), inputs, models=list(models or ()))


def get_artifact_uri(artifact_path: str | None = None) -> str:
    the_client = client()
    remote = _remote(the_client)
    if remote is not None:
        return remote.get_artifact_uri(_active_run_id(), artifact_path)
    root = the_client.repository.runs.artifact_dir(_active_run_id())
    relative = validation.artifact_path(artifact_path)
    return (root / relative).as_uri() if relative else root.as_uri()


# ---------------------------------------------------------------------- search


def search_runs(
    experiment_ids: list[str] | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = 100000,
    order_by: list[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: list[str] | None = None,
) -> pandas.DataFrame | list[Run]:
    """Runs matching MLflow's filter grammar, as a DataFrame (MLflow's columns) or a list."""
    the_client = client()
    if experiment_names:
        ids = []
        for name in experiment_names:
            experiment = the_client.get_experiment_by_name(name)
            if experiment is not None:
                ids.append(experiment.experiment_id)
        experiment_ids = (experiment_ids or []) + ids
        if not experiment_ids:
            return [] if output_format == "list" else records_to_pandas([])
    elif experiment_ids is None or len(experiment_ids) == 0:
        experiment_ids = None if search_all_experiments else [_active_experiment()]
    if output_format not in ("pandas", "list"):
        raise InvalidParameterValue(
            f"Unsupported output format {output_format!r}: use 'pandas' or 'list'."
        )
    records = the_client.search_run_records(experiment_ids, filter_string, run_view_type, order_by)
    if output_format == "pandas":
        return records_to_pandas(records[:max_results])
    return [the_client.runs.to_run(r) for r in records[:max_results]]


def records_to_pandas(records: Sequence[Any]) -> pandas.DataFrame:
    """MLflow's search_runs DataFrame: info columns, then metrics.*, params.*, tags.*."""
    import numpy as np
    import pandas as pd

    metric_keys = sorted({k for r in records for k in r.metrics})
    param_keys = sorted({k for r in records for k in r.params})
    tag_keys = sorted({k for r in records for k in r.tags})
    starts = np.array([r.start_time for r in records], dtype="datetime64[ms]")
    ends = np.array(
        [r.end_time if r.end_time is not None else "NaT" for r in records], dtype="datetime64[ms]"
    )
    columns: dict[str, Any] = {
        "run_id": [r.run_id for r in records],
        "experiment_id": [r.experiment_id for r in records],
        "status": [r.status for r in records],
        "artifact_uri": [r.artifact_uri for r in records],
        "start_time": pd.DatetimeIndex(starts).tz_localize("UTC"),
        "end_time": pd.DatetimeIndex(ends).tz_localize("UTC"),
    }
    for key in metric_keys:
        columns[f"metrics.{key}"] = [r.metrics.get(key) for r in records]
    for key in param_keys:
        columns[f"params.{key}"] = [r.params.get(key) for r in records]
    for key in tag_keys:
        columns[f"tags.{key}"] = [r.tags.get(key) for r in records]
    return pd.DataFrame(columns)


# ---------------------------------------------------------------------- process state


def reset_state() -> None:
    """Forget process state: active runs, tracking URI, experiment (tests, long-lived hosts)."""
    global _active_experiment_id, _last_active_run_id, _last_logged_model_id, _client
    reset_active_runs()
    system_metrics.reset()
    active_model.reset()
    set_current_tracking_uri(None)
    _active_experiment_id = None
    _last_active_run_id = None
    _last_logged_model_id = None
    _client = None
