"""MLflow's REST wire format: request fields in, entities out, as the 3.x client expects.

- A request's fields come from the JSON body (POST, PATCH, DELETE) or the query
  string (GET, repeated keys for lists). int64 fields may be JSON numbers or
  strings; ``run_id`` and ``run_uuid`` are the same field.
- Responses omit unset fields and empty lists, keep int64 as numbers, ids and
  registry versions as strings, and write non-finite metrics as protobuf does
  (``"NaN"``, ``"Infinity"``).
- Artifact locations are ``mlflow-artifacts:/<experiment>/<run>/artifacts/...``,
  which the client turns into this server's ``/api/2.0/mlflow-artifacts/`` URLs.

Each route is a plain function ``(Params, Backend) -> dict`` that makes library
calls; :class:`RouteTable` runs it and writes the JSON. Most run in the thread pool.
A route marked ``inline`` (a metric, a param, a tag, a small batch, reading a run) is
short and makes no git call: the event loop runs it itself, which saves the hop to a
worker thread and back (about a third of a ``log-metric``'s server time). It takes
its locks only if they are free (:func:`~mltrack.store.files.never_waiting`): when
another thread or process holds one (a commit, an fsync, a compaction), or the
change would rewrite the run's files, it goes to the thread pool after all, before
it changed anything.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mltrack.exceptions import InvalidParameterValue
from mltrack.paging import PagedList
from mltrack.store.files import WouldWait, never_waiting

if TYPE_CHECKING:
    from mltrack.entities import Experiment, LoggedModel, Metric, Run, RunInfo
    from mltrack.registry import ModelVersion, RegisteredModel
    from mltrack.server.backend import Backend

__all__ = [
    "Params",
    "RouteTable",
    "artifact_root",
    "experiment_json",
    "json_response",
    "logged_model_json",
    "metric_json",
    "model_version_json",
    "paged",
    "registered_model_json",
    "run_info_json",
    "run_json",
]

Handler = Callable[["Params", "Backend"], "dict[str, Any] | None"]
# Whether the event loop runs a route itself: always, never, or as the request decides.
Inline = bool | Callable[["Params"], bool]
_HINT = "See the API docs for more information about request parameters."
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
# String fields that name a number, which clients may send as a JSON number. Every other
# string field is refused as MLflow does (``{"name": 123}``, ``"run_id": 31``: 400).
_NUMBERED = frozenset({"version", "experiment_id"})


# ---------------------------------------------------------------------- requests


class Params:
    """The fields of one request, typed and checked with MLflow's messages."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    @classmethod
    async def read(cls, request: Request) -> Params:
        if request.method == "GET":
            query = request.query_params
            return cls({key: _one_or_list(query.getlist(key)) for key in query})
        return cls.from_body(await request.body())

    @classmethod
    def from_body(cls, body: bytes) -> Params:
        """The fields of a JSON object body (empty: no fields)."""
        if not body.strip():
            return cls({})
        try:
            data = json.loads(body)
        except ValueError as error:
            raise InvalidParameterValue(f"Malformed JSON request body: {error}") from None
        except RecursionError:
            raise InvalidParameterValue("The request body nests JSON too deeply.") from None
        if not isinstance(data, dict):
            raise InvalidParameterValue("The request body must be a JSON object.")
        if _ESCAPED_SURROGATE.search(body):  # rare: only then walk the whole document
            try:
                json.dumps(data, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidParameterValue(
                    "The request body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff); "
                    "strings must be valid Unicode."
                ) from None
        return cls(data)

    def _get(self, name: str, required: bool) -> Any:
        value = self.fields.get(name)
        if value is None and required:
            raise InvalidParameterValue(f"Missing value for required parameter '{name}'. {_HINT}")
        return value

    def string(self, name: str, required: bool = False) -> str | None:
        value = self._get(name, required)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None:
            if required:  # [] or [null] for a required field
                raise InvalidParameterValue(
                    f"Missing value for required parameter '{name}'. {_HINT}"
                )
            return None
        if name in _NUMBERED and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # e.g. a registry version sent as a number
        if not isinstance(value, str):
            raise _invalid(name, value)
        if required and value == "":
            raise InvalidParameterValue(f"Missing value for required parameter '{name}'. {_HINT}")
        return value

    def required(self, name: str) -> str:
        value = self.string(name, required=True)
        assert value is not None
        return value

    def run_id(self) -> str:
        """``run_id``, or the older ``run_uuid`` (clients send both)."""
        value = self.string("run_id") or self.string("run_uuid")
        if not value:
            raise InvalidParameterValue(f"Missing value for required parameter 'run_id'. {_HINT}")
        return value

    def int64(self, name: str, required: bool = False) -> int | None:
        value = self._get(name, required)
        if isinstance(value, list):
            value = value[0] if value else None
        return None if value is None else _int64(name, value)

    def double(self, name: str, required: bool = False) -> float | None:
        value = self._get(name, required)
        return None if value is None else _double(name, value)

    def boolean(self, name: str) -> bool:
        value = self._get(name, False)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _invalid(name, value)

    def strings(self, name: str) -> list[str]:
        value = self._get(name, False)
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in items):
            raise _invalid(name, value)
        return list(items)

    def objects(self, name: str) -> list[dict[str, Any]]:
        value = self._get(name, False)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise _invalid(name, value)
        return value

    def tags(self, name: str = "tags") -> dict[str, str]:
        """A ``[{"key", "value"}]`` list as a dict."""
        return {
            _field(item, "key", name): _field(item, "value", name, "")
            for item in self.objects(name)
        }


def _one_or_list(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def _invalid(name: str, value: Any) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Invalid value {json.dumps(value)[:200]} for parameter '{name}' supplied:  "
        f"Hint: Value was of type '{type(value).__name__}'. {_HINT}"
    )


def _int64(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise _invalid(name, value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise _invalid(name, value)


def _double(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise _invalid(name, value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    raise _invalid(name, value)


def _field(item: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = item.get(key, default)
    if value is None:
        raise InvalidParameterValue(
            f"Missing value for required parameter '{where}.{key}'. {_HINT}"
        )
    if not isinstance(value, str):
        raise _invalid(f"{where}.{key}", value)
    return value


def metric_fields(item: dict[str, Any], where: str = "") -> tuple[str, float, int, int]:
    """(key, value, timestamp, step) of one metric in a request; ``where`` prefixes the field
    names in messages as MLflow does (``metrics[0].timestamp`` in a batch)."""
    prefix = f"{where}." if where else ""
    for required in ("key", "value", "timestamp"):
        if item.get(required) is None:
            raise InvalidParameterValue(
                f"Missing value for required parameter '{prefix}{required}'. {_HINT}"
            )
    key = item["key"]
    if not isinstance(key, str):
        raise _invalid(f"{prefix}key", key)
    return (
        key,
        _double(f"{prefix}value", item["value"]),
        _int64(f"{prefix}timestamp", item["timestamp"]),
        _int64(f"{prefix}step", item.get("step") or 0),
    )


# ---------------------------------------------------------------------- responses


def paged(key: str, found: PagedList, to_json: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """One page as MLflow answers it: the entities under ``key`` and ``next_page_token``,
    each left out when empty."""
    out: dict[str, Any] = {}
    if found:
        out[key] = [to_json(item) for item in found]
    if found.token:
        out["next_page_token"] = found.token
    return out


def json_response(payload: dict[str, Any], status_code: int = 200) -> Response:
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return Response(body, status_code, media_type="application/json")


def _number(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _pairs(items: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in items.items()]


def _set(out: dict[str, Any], key: str, value: Any) -> None:
    """MLflow omits unset fields and empty lists."""
    if value is not None and value != [] and value != {}:
        out[key] = value


def artifact_root(experiment_id: str, run_id: str) -> str:
    return f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": f"mlflow-artifacts:/{experiment.experiment_id}",
        "lifecycle_stage": experiment.lifecycle_stage,
    }
    _set(out, "last_update_time", experiment.last_update_time)
    _set(out, "creation_time", experiment.creation_time)
    _set(out, "tags", _pairs(experiment.tags))
    return out


def run_info_json(info: RunInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_uuid": info.run_id,
        "experiment_id": info.experiment_id,
        "run_name": info.run_name,
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
    }
    _set(out, "end_time", info.end_time)
    out["artifact_uri"] = artifact_root(info.experiment_id, info.run_id)
    out["lifecycle_stage"] = info.lifecycle_stage
    out["run_id"] = info.run_id
    return out


def metric_json(metric: Metric, with_run: bool = False) -> dict[str, Any]:
    out = {
        "key": metric.key,
        "value": _number(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
    }
    if with_run and metric.run_id:
        out["run_id"] = metric.run_id
    return out


def model_metric_json(metric: Metric) -> dict[str, Any]:
    """A logged model's metric: the point with its run, model and dataset (MLflow 3)."""
    out = metric_json(metric, with_run=True)
    for name in ("model_id", "dataset_name", "dataset_digest"):
        value = getattr(metric, name)
        if value is not None:
            out[name] = value
    return out


def run_json(run: Run, outputs: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {}
    _set(data, "metrics", [metric_json(m) for m in run.latest_metrics])
    _set(data, "params", _pairs(run.data.params))
    _set(data, "tags", _pairs(run.data.tags))
    inputs: dict[str, Any] = {}
    _set(
        inputs,
        "dataset_inputs",
        [
            {
                "tags": [{"key": t.key, "value": t.value} for t in item.tags],
                "dataset": item.dataset.to_dict(),
            }
            for item in run.inputs.dataset_inputs
        ],
    )
    _set(inputs, "model_inputs", [{"model_id": m.model_id} for m in run.inputs.model_inputs])
    out: dict[str, Any] = {"info": run_info_json(run.info), "data": data, "inputs": inputs}
    if outputs:
        produced: dict[str, Any] = {}
        _set(
            produced,
            "model_outputs",
            [{"model_id": o.model_id, "step": o.step} for o in run.outputs.model_outputs],
        )
        out["outputs"] = produced
    return out


_MODEL_STATUS = {
    "PENDING": "LOGGED_MODEL_PENDING",
    "READY": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
}


def logged_model_json(model: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": model.experiment_id,
        "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp,
        "last_updated_timestamp_ms": model.last_updated_timestamp,
        "artifact_uri": f"{artifact_root(model.experiment_id, model.files_run_id)}/"
        f"{model.artifact_path}",
        "status": _MODEL_STATUS.get(model.status, "LOGGED_MODEL_STATUS_UNSPECIFIED"),
        "model_type": model.model_type or "",
        "source_run_id": model.source_run_id,
    }
    _set(info, "tags", _pairs(dict(sorted(model.tags.items()))))
    data: dict[str, Any] = {}
    _set(data, "params", _pairs(model.params))
    _set(data, "metrics", [model_metric_json(m) for m in model.metrics])
    return {"info": info, "data": data}


def model_version_json(version: ModelVersion, aliases: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": version.creation_timestamp,
        "last_updated_timestamp": version.last_updated_timestamp,
        "current_stage": version.current_stage,
        "description": version.description,
        "source": version.source,
        "run_id": version.run_id,
        "status": version.status,
        "run_link": version.run_link,
    }
    _set(out, "tags", _pairs(version.tags))
    if aliases:
        _set(out, "aliases", list(version.aliases))
    _set(out, "model_id", version.model_id)
    return out


def registered_model_json(model: RegisteredModel, brief: bool = False) -> dict[str, Any]:
    """The full entity, or (``brief``, as ``registered-models/create`` answers) what was set."""
    out: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
    }
    if model.description or not brief:
        out["description"] = model.description
    if not brief:
        latest = sorted(model.latest_versions, key=lambda v: v.version)
        _set(out, "latest_versions", [model_version_json(v, False) for v in latest])
    _set(out, "tags", _pairs(model.tags))
    if not brief:
        _set(
            out,
            "aliases",
            [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
        )
    return out


# ---------------------------------------------------------------------- routes


class RouteTable:
    """Routes of one module: ``@routes.post("runs/create")`` over a ``(Params, Backend)`` function."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.routes: list[Route] = []

    def add(
        self, methods: Sequence[str], path: str, *, inline: Inline = False
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            full = f"{self.prefix}/{path}" if path else self.prefix
            self.routes.append(Route(full, _endpoint(handler, inline), methods=list(methods)))
            return handler

        return register

    def get(self, path: str, *, inline: Inline = False) -> Callable[[Handler], Handler]:
        return self.add(["GET"], path, inline=inline)

    def post(self, path: str, *, inline: Inline = False) -> Callable[[Handler], Handler]:
        return self.add(["POST"], path, inline=inline)

    def patch(self, path: str) -> Callable[[Handler], Handler]:
        return self.add(["PATCH"], path)

    def delete(self, path: str) -> Callable[[Handler], Handler]:
        return self.add(["DELETE"], path)


def _endpoint(handler: Handler, inline: Inline) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        params = await Params.read(request)
        params.fields.update(request.path_params)
        backend = request.app.state.backend
        if inline is True or (inline and inline(params)):
            try:
                with never_waiting():
                    result = handler(params, backend)
            except WouldWait:  # raised before anything changed: a worker thread may wait
                result = await run_in_threadpool(handler, params, backend)
        else:
            result = await run_in_threadpool(handler, params, backend)
        return json_response(result or {})

    endpoint.__name__ = handler.__name__
    return endpoint


def pairs_to_dict(items: Iterable[dict[str, Any]], where: str) -> dict[str, str]:
    return {_field(item, "key", where): _field(item, "value", where, "") for item in items}
