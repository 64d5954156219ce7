"""``/api/2.0/mlflow/``: experiments, runs, metrics and the run-side artifact listing.

Each route reads its fields, makes one library call (``MltrackClient``) and
answers in MLflow's shapes. Runs end, and are committed, when a client sends a
terminal status to ``runs/update``.
"""

from __future__ import annotations

import re
from typing import Any

from mltrack.entities import (
    CodeVersion,
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Param,
    RunTag,
    ViewType,
)
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.paging import paginate
from mltrack.server.artifacts import check_path
from mltrack.server.backend import Backend
from mltrack.server.protocol import (
    Params,
    RouteTable,
    artifact_root,
    experiment_json,
    metric_fields,
    metric_json,
    paged,
    pairs_to_dict,
    run_info_json,
    run_json,
)
from mltrack.tracking.runs import SEARCH_MAX_RESULTS

__all__ = ["routes"]

_GIT_SHA = re.compile(r"[0-9a-f]{40}")

table = RouteTable("/api/2.0/mlflow")
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_HISTORY_RESULTS = 25000
MAX_BULK_RUNS = 100  # runs per get-history-bulk(-interval) request, as MLflow limits them
MAX_INTERVAL_RESULTS = 2500
MAX_DATASET_EXPERIMENTS = 20
INLINE_BATCH = 100  # entries of a log-batch the event loop stores itself; larger: a worker thread
DATASET_CONTEXT_TAG = "mlflow.data.context"


# ---------------------------------------------------------------------- experiments


@table.post("experiments/create")
def create_experiment(req: Params, server: Backend) -> dict[str, Any]:
    name = req.required("name")
    req.string("artifact_location")  # type-checked as MLflow does; see docs/mlflow-compatibility.md
    experiment_id = server.client.create_experiment(name, tags=req.tags())
    return {"experiment_id": experiment_id}


@table.get("experiments/get")
def get_experiment(req: Params, server: Backend) -> dict[str, Any]:
    experiment_id = req.required("experiment_id")
    if not experiment_id.isdigit():
        raise InvalidParameterValue(
            f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer."
        )
    return {"experiment": experiment_json(server.client.get_experiment(experiment_id))}


@table.get("experiments/get-by-name")
def get_experiment_by_name(req: Params, server: Backend) -> dict[str, Any]:
    name = req.required("experiment_name")
    experiment = server.client.get_experiment_by_name(name)
    if experiment is None:
        raise ResourceDoesNotExist(f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_json(experiment)}


@table.add(["GET", "POST"], "experiments/search")
def search_experiments(req: Params, server: Backend) -> dict[str, Any]:
    found = server.client.search_experiments(
        view_type=ViewType.from_any(req.string("view_type")),
        max_results=req.int64("max_results") or 1000,
        filter_string=req.string("filter"),
        order_by=req.strings("order_by"),
        page_token=req.string("page_token"),
    )
    return paged("experiments", found, experiment_json)


@table.post("experiments/update")
def update_experiment(req: Params, server: Backend) -> None:
    new_name = req.string("new_name")
    if new_name:
        server.client.rename_experiment(req.required("experiment_id"), new_name)


@table.post("experiments/delete")
def delete_experiment(req: Params, server: Backend) -> None:
    server.client.delete_experiment(req.required("experiment_id"))


@table.post("experiments/restore")
def restore_experiment(req: Params, server: Backend) -> None:
    server.client.restore_experiment(req.required("experiment_id"))


@table.post("experiments/set-experiment-tag")
def set_experiment_tag(req: Params, server: Backend) -> None:
    server.client.set_experiment_tag(
        req.required("experiment_id"), req.required("key"), req.string("value") or ""
    )


@table.post("experiments/delete-experiment-tag")
def delete_experiment_tag(req: Params, server: Backend) -> None:
    server.client.delete_experiment_tag(req.required("experiment_id"), req.required("key"))


# ---------------------------------------------------------------------- runs


@table.post("runs/create")
def create_run(req: Params, server: Backend) -> dict[str, Any]:
    tags = req.tags()
    run = server.client.create_run(
        req.string("experiment_id") or "0",
        start_time=req.int64("start_time"),
        tags=tags,
        run_name=req.string("run_name") or None,
        user_id=req.string("user_id") or None,
        code=CodeVersion(
            commit=_git_commit(tags.get("mlflow.source.git.commit")),
            branch=tags.get("mlflow.source.git.branch"),
            entry_point=tags.get("mlflow.source.name"),
        ),
    )
    return {"run": run_json(run, outputs=False)}


def _git_commit(tag: str | None) -> str | None:
    """The run's source commit when the tag names a git commit; MLflow takes any text, which
    the tag keeps."""
    return tag if tag is not None and _GIT_SHA.fullmatch(tag) else None


@table.post("runs/update")
def update_run(req: Params, server: Backend) -> dict[str, Any]:
    run_id = req.run_id()
    server.client.update_run(
        run_id,
        status=req.string("status"),
        name=req.string("run_name") or None,
        end_time=req.int64("end_time"),
    )
    return {"run_info": run_info_json(server.client.get_run(run_id).info)}


@table.post("runs/delete")
def delete_run(req: Params, server: Backend) -> None:
    server.client.delete_run(req.run_id())


@table.post("runs/restore")
def restore_run(req: Params, server: Backend) -> None:
    server.client.restore_run(req.run_id())


@table.get("runs/get", inline=True)
def get_run(req: Params, server: Backend) -> dict[str, Any]:
    return {"run": run_json(server.client.get_run(req.run_id()))}


@table.post("runs/search")
def search_runs(req: Params, server: Backend) -> dict[str, Any]:
    found = server.client.search_runs(
        req.strings("experiment_ids"),
        filter_string=req.string("filter") or "",
        run_view_type=ViewType.from_any(req.string("run_view_type")),
        max_results=req.int64("max_results") or 1000,
        order_by=req.strings("order_by"),
        page_token=req.string("page_token"),
    )
    return paged("runs", found, run_json)


@table.post("runs/log-metric", inline=lambda req: not req.fields.get("model_id"))
def log_metric(req: Params, server: Backend) -> None:
    key, value, timestamp, step = metric_fields(req.fields)
    server.client.log_metric(
        req.run_id(),
        key,
        value,
        timestamp=timestamp,
        step=step,
        dataset_name=req.string("dataset_name"),
        dataset_digest=req.string("dataset_digest"),
        model_id=req.string("model_id"),
    )


@table.post("runs/log-parameter", inline=True)
def log_param(req: Params, server: Backend) -> None:
    server.client.log_param(req.run_id(), req.required("key"), req.string("value") or "")


@table.post("runs/set-tag", inline=True)
def set_tag(req: Params, server: Backend) -> None:
    server.client.set_tag(req.run_id(), req.required("key"), req.string("value") or "")


@table.post("runs/delete-tag", inline=True)
def delete_tag(req: Params, server: Backend) -> None:
    server.client.delete_tag(req.run_id(), req.required("key"))


@table.post("runs/log-batch", inline=lambda req: _small_batch(req))
def log_batch(req: Params, server: Backend) -> None:
    metrics = req.objects("metrics")
    params = req.objects("params")
    tags = req.objects("tags")
    _check_batch_size(len(metrics), len(params), len(tags))
    server.client.log_batch(
        req.run_id(),
        metrics=[
            Metric(key, value, timestamp, step, None, *_model_link(item))
            for index, item in enumerate(metrics)
            for key, value, timestamp, step in [metric_fields(item, f"metrics[{index}]")]
        ],
        params=[Param(k, v) for k, v in _ordered_pairs(params, "params")],
        tags=[RunTag(k, v) for k, v in pairs_to_dict(tags, "tags").items()],
    )


def _small_batch(req: Params) -> bool:
    """A batch short enough for the event loop: at most INLINE_BATCH entries, none of them
    a logged model's metric (that also writes the model's files)."""
    entries = [req.fields.get(name) for name in ("metrics", "params", "tags")]
    if not all(isinstance(items, list | None) for items in entries):
        return True  # refused by the route's checks, at once
    metrics = entries[0] or []
    return sum(len(items or ()) for items in entries) <= INLINE_BATCH and not any(
        isinstance(item, dict) and item.get("model_id") for item in metrics
    )


def _model_link(item: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(model_id, dataset_name, dataset_digest) of a batch metric (MLflow 3), each optional."""
    fields = Params(item)
    return (
        fields.string("model_id"),
        fields.string("dataset_name"),
        fields.string("dataset_digest"),
    )


def _ordered_pairs(items: list[dict[str, Any]], where: str) -> list[tuple[str, str]]:
    """Pairs in request order, duplicates kept (the library reports duplicate params)."""
    return [next(iter(pairs_to_dict([item], where).items())) for item in items]


def _check_batch_size(metrics: int, params: int, tags: int) -> None:
    for kind, count, limit in (
        ("metrics", metrics, MAX_METRICS_PER_BATCH),
        ("params", params, MAX_PARAMS_TAGS_PER_BATCH),
        ("tags", tags, MAX_PARAMS_TAGS_PER_BATCH),
        ("metrics, params, and tags", metrics + params + tags, MAX_ENTITIES_PER_BATCH),
    ):
        if count > limit:
            raise InvalidParameterValue(
                f"A batch logging request can contain at most {limit} {kind}. Got {count} "
                f"{kind}. Please split up {kind} across multiple requests and try again."
            )


@table.post("runs/log-inputs")
def log_inputs(req: Params, server: Backend) -> None:
    inputs = []
    for item in req.objects("datasets"):
        dataset = item.get("dataset")
        if not isinstance(dataset, dict):
            raise InvalidParameterValue(
                "Missing value for required parameter 'datasets.dataset'. See the API docs "
                "for more information about request parameters."
            )
        tags = pairs_to_dict(item.get("tags") or [], "datasets.tags")
        try:
            entity = Dataset.from_dict(dataset)
        except KeyError as missing:
            raise InvalidParameterValue(
                f"Missing value for required parameter 'datasets.dataset.{missing.args[0]}'."
            ) from None
        inputs.append(DatasetInput(entity, tuple(InputTag(k, v) for k, v in tags.items())))
    models = [LoggedModelInput(_model_id(item, "models")) for item in req.objects("models")]
    server.client.log_inputs(req.run_id(), inputs, models=models)


def _model_id(item: dict[str, Any], where: str) -> str:
    model_id = item.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        raise InvalidParameterValue(
            f"Missing value for required parameter '{where}.model_id'. See the API docs for "
            "more information about request parameters."
        )
    return model_id


@table.post("runs/outputs")
def log_outputs(req: Params, server: Backend) -> None:
    server.client.log_outputs(
        req.run_id(),
        [
            LoggedModelOutput(_model_id(item, "models"), int(item.get("step") or 0))
            for item in req.objects("models")
        ],
    )


# ---------------------------------------------------------------------- metrics


@table.get("metrics/get-history")
def get_metric_history(req: Params, server: Backend) -> dict[str, Any]:
    history = server.client.get_metric_history(req.run_id(), req.required("metric_key"))
    found = paginate(history, req.int64("max_results"), req.string("page_token"))
    return paged("metrics", found, metric_json)


@table.get("metrics/get-history-bulk")
def get_metric_history_bulk(req: Params, server: Backend) -> dict[str, Any]:
    """One key's full history in several runs (MLflow's UI charts), by run id, at most
    ``max_results`` points in all."""
    run_ids = [r for r in req.strings("run_id") if r]
    if not run_ids:
        raise InvalidParameterValue(
            "GetMetricHistoryBulk request must specify at least one run_id."
        )
    if len(run_ids) > MAX_BULK_RUNS:
        raise InvalidParameterValue(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_BULK_RUNS} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )
    key = req.string("metric_key")
    if not key:
        raise InvalidParameterValue("GetMetricHistoryBulk request must specify a metric_key.")
    limit = min(req.int64("max_results") or MAX_HISTORY_RESULTS, MAX_HISTORY_RESULTS)
    points = [
        metric_json(m, with_run=True)
        for run_id in sorted(set(run_ids))
        for m in server.client.get_metric_history(run_id, key)
    ]
    return {"metrics": points[:limit]} if points else {}


@table.get("metrics/get-history-bulk-interval")
def get_metric_history_bulk_interval(req: Params, server: Backend) -> dict[str, Any]:
    """Points of one key in several runs, sampled to at most about ``max_results`` steps: every
    k-th step of the range and each run's last step, the same steps for every run."""
    run_ids = [r for r in req.strings("run_ids") if r]
    if not run_ids:
        raise InvalidParameterValue(
            "Missing value for required parameter 'run_ids'. See the API docs for more "
            "information about request parameters."
        )
    if len(run_ids) > MAX_BULK_RUNS:
        raise InvalidParameterValue(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_BULK_RUNS} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )
    limit = req.int64("max_results")
    limit = MAX_INTERVAL_RESULTS if limit is None else limit
    if not 1 <= limit <= MAX_INTERVAL_RESULTS:
        raise InvalidParameterValue(
            f"max_results must be between 1 and {MAX_INTERVAL_RESULTS}. Received {limit}."
        )
    key = req.required("metric_key")
    start, end = req.int64("start_step"), req.int64("end_step")
    if (start is None) != (end is None):
        raise InvalidParameterValue(
            "If either start step or end step are specified, both must be specified."
        )
    if start is not None and end is not None and end < start:
        raise InvalidParameterValue(
            f"end_step must be greater than start_step. Found start_step={start} and "
            f"end_step={end}."
        )
    histories = {
        run_id: sorted(
            (
                m
                for m in server.client.get_metric_history(run_id, key)
                if start is None or end is None or start <= m.step <= end
            ),
            key=lambda m: (m.step, m.timestamp),
        )
        for run_id in dict.fromkeys(run_ids)
    }
    keep = _sampled_steps(
        [sorted({m.step for m in history}) for history in histories.values()], limit
    )
    points = [
        metric_json(m, with_run=True)
        for history in histories.values()
        for m in history
        if m.step in keep
    ]
    return {"metrics": points} if points else {}


def _sampled_steps(steps_per_run: list[list[int]], limit: int) -> set[int]:
    every = sorted({step for steps in steps_per_run for step in steps})
    if len(every) <= limit:
        return set(every)
    first, last = every[0], every[-1]
    interval = max(1, (last - first) // max(1, limit - 1))
    wanted = set(range(first, last + 1, interval))
    return {s for s in every if s in wanted} | {steps[-1] for steps in steps_per_run if steps}


# ---------------------------------------------------------------------- datasets


@table.post("experiments/search-datasets")
def search_datasets(req: Params, server: Backend) -> dict[str, Any]:
    """The distinct (dataset, context) pairs the runs of some experiments used (MLflow's UI)."""
    experiment_ids = req.strings("experiment_ids")
    if not experiment_ids:
        raise InvalidParameterValue(
            "SearchDatasets request must specify at least one experiment_id."
        )
    if len(experiment_ids) > MAX_DATASET_EXPERIMENTS:
        raise InvalidParameterValue(
            f"SearchDatasets request cannot specify more than {MAX_DATASET_EXPERIMENTS} "
            f"experiment_ids. Received {len(experiment_ids)} experiment_ids."
        )
    summaries: dict[tuple[str, str, str, str], None] = {}
    token: str | None = None
    while True:
        page = server.client.search_runs(
            experiment_ids, max_results=SEARCH_MAX_RESULTS, page_token=token
        )
        for run in page:
            for item in run.inputs.dataset_inputs:
                context = next((t.value for t in item.tags if t.key == DATASET_CONTEXT_TAG), "")
                found = (run.info.experiment_id, item.dataset.name, item.dataset.digest, context)
                summaries[found] = None
        token = page.token
        if not token:
            break
    out = [
        _dataset_summary(experiment_id, name, digest, context)
        for experiment_id, name, digest, context in summaries
    ]
    return {"dataset_summaries": out} if out else {}


def _dataset_summary(experiment_id: str, name: str, digest: str, context: str) -> dict[str, Any]:
    out = {"experiment_id": experiment_id, "name": name, "digest": digest}
    if context:
        out["context"] = context
    return out


# ---------------------------------------------------------------------- run artifacts


@table.get("artifacts/list")
def list_artifacts(req: Params, server: Backend) -> dict[str, Any]:
    run_id = req.run_id()
    run = server.client.get_run(run_id)
    files = server.client.list_artifacts(run_id, check_path(req.string("path")) or None)
    out: dict[str, Any] = {"root_uri": artifact_root(run.info.experiment_id, run_id)}
    if files:
        out["files"] = [_file_json(f.path, f.is_dir, f.file_size) for f in files]
    return out


def _file_json(path: str, is_dir: bool, size: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"path": path, "is_dir": is_dir}
    if not is_dir and size is not None:
        out["file_size"] = size
    return out


routes = table.routes
