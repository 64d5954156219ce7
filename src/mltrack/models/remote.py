"""Models over a tracking server's REST API, as MLflow 3's client logs and loads them.

Logging: ``POST logged-models`` (the server answers with the model's
``mlflow-artifacts:`` location), ``runs/outputs``, the model saved by the
flavor's own code into a scratch directory and PUT file by file through the
server's artifact proxy, then ``PATCH logged-models/<id>`` to READY.
Loading: the logged model's location (``GET logged-models/<id>``; for a
registered version ``model-versions/get-download-uri``; for ``runs:/<run>/<name>``
the run's logged model of that name, else the run's artifacts) is downloaded
through the artifact proxy into a scratch directory and loaded from there.
"""

from __future__ import annotations

import contextlib
import tempfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from mltrack.exceptions import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from mltrack.models.model import MLMODEL, Model, ModelInfo
from mltrack.uris import (
    MODELS_SCHEME,
    RUNS_SCHEME,
    ModelReference,
    is_logged_model_id,
    logged_model_uri,
    parse_models_uri,
    parse_runs_uri,
    runs_uri,
)

if TYPE_CHECKING:
    from mltrack.tracking.remote import RemoteTrackingClient

__all__ = [
    "download_model",
    "download_path",
    "log_model",
    "model_location",
    "replace_model_file",
    "split_models_uri",
]

Writer = Callable[[Path, Model], Model]


def _pairs(items: dict[str, Any] | None) -> list[dict[str, str]]:
    return [{"key": str(k), "value": str(v)} for k, v in (items or {}).items()]


def _proxied_path(uri: str, what: str) -> str:
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme != "mlflow-artifacts":
        raise InvalidParameterValue(
            f"{what} is stored at {uri!r}, which the server does not proxy "
            "(start it with --serve-artifacts)."
        )
    return parsed.path.strip("/")


def log_model(
    client: RemoteTrackingClient,
    write: Writer,
    *,
    run_id: str,
    name: str,
    params: dict[str, Any] | None,
    tags: dict[str, Any] | None,
    model_type: str | None,
    step: int,
    registered_model_name: str | None = None,
) -> ModelInfo:
    """Create the logged model on the server, upload what ``write`` saves, mark it READY."""
    client.flush(run_id)
    run = client.get_run(run_id)
    # MLflow records the run's params on the model too (the model's own win).
    model_params = {**dict(run.data.params), **{str(k): str(v) for k, v in (params or {}).items()}}
    body: dict[str, Any] = {
        "experiment_id": str(run.info.experiment_id),
        "name": name,
        "source_run_id": run_id,
        "params": _pairs(model_params),
        "tags": _pairs(tags),
    }
    if model_type:
        body["model_type"] = model_type
    info = client.transport.call("POST", "logged-models", body)["model"]["info"]
    model_id = str(info["model_id"])
    location = str(info["artifact_uri"])
    remote_root = _proxied_path(location, f"Logged model {model_id}")
    client.transport.call(
        "POST",
        "runs/outputs",
        {"run_id": run_id, "models": [{"model_id": model_id, "step": int(step)}]},
    )
    model = Model(artifact_path=location, run_id=run_id, model_id=model_id, model_uuid=model_id)
    try:
        with tempfile.TemporaryDirectory(prefix="mltrack-model-") as scratch:
            local = Path(scratch) / "model"
            saved = write(local, model)
            for path in sorted(local.rglob("*")):
                if path.is_file():
                    relative = path.relative_to(local).as_posix()
                    client.transport.upload(f"{remote_root}/{relative}", path.read_bytes())
    except BaseException:
        # The server keeps the model: say it failed rather than leave it PENDING.
        with contextlib.suppress(Exception):
            _finalize(client, model_id, "LOGGED_MODEL_UPLOAD_FAILED")
        raise
    _finalize(client, model_id, "LOGGED_MODEL_READY")
    version = _register(client, registered_model_name, model_id, run_id)
    return saved.info(
        logged_model_uri(model_id),
        artifact_path=name,
        model_id=model_id,
        run_id=run_id,
        registered_model_version=version,
    )


def _finalize(client: RemoteTrackingClient, model_id: str, status: str) -> None:
    body = {"model_id": model_id, "status": status}
    client.transport.call("PATCH", f"logged-models/{model_id}", body)


def _register(
    client: RemoteTrackingClient, name: str | None, model_id: str, run_id: str
) -> int | None:
    """Register ``models:/<model_id>`` as MLflow 3 does: the model made if new, then a version."""
    if not name:
        return None
    with contextlib.suppress(ResourceAlreadyExists):  # registered earlier: add a version
        client.transport.call("POST", "registered-models/create", {"name": name})
    body = {
        "name": name,
        "source": logged_model_uri(model_id),
        "run_id": run_id,
        "model_id": model_id,
    }
    answer = client.transport.call("POST", "model-versions/create", body)
    return int(answer["model_version"]["version"])


def _logged_model_location(client: RemoteTrackingClient, model_id: str) -> str:
    info = client.transport.call("GET", f"logged-models/{model_id}")["model"]["info"]
    return str(info["artifact_uri"])


def _run_logged_model(client: RemoteTrackingClient, run_id: str, name: str) -> dict[str, Any]:
    """The run's logged model called ``name`` (its JSON), or ``{}``."""
    run = client.get_run(run_id)
    answer = client.transport.call(
        "POST",
        "logged-models/search",
        {
            "experiment_ids": [str(run.info.experiment_id)],
            "filter": f"source_run_id = '{run_id}' AND name = '{name}'",
            "max_results": 1,
        },
    )
    models = answer.get("models", [])
    return dict(models[0]) if models else {}


def _run_model_location(client: RemoteTrackingClient, run_id: str, name: str) -> str:
    """The run's logged model called ``name``, else ``name`` under the run's artifacts."""
    found = _run_logged_model(client, run_id, name)
    if found:
        return str(found["info"]["artifact_uri"])
    return client.get_artifact_uri(run_id, name)


def _download_tree(client: RemoteTrackingClient, remote: str, local: Path) -> None:
    local.mkdir(parents=True, exist_ok=True)
    for entry in client.transport.list(remote):
        entry_name = PurePosixPath(str(entry["path"])).name
        if entry.get("is_dir"):
            _download_tree(client, f"{remote}/{entry_name}", local / entry_name)
        else:
            (local / entry_name).write_bytes(client.transport.download(f"{remote}/{entry_name}"))


def _registered_version(client: RemoteTrackingClient, reference: ModelReference) -> dict[str, Any]:
    """The version a ``models:/<name>/…`` reference names, as MLflow's client resolves it."""
    name = str(reference.name)
    if reference.version is not None:
        body = {"name": name, "version": str(reference.version)}
        return dict(client.transport.call("GET", "model-versions/get", body)["model_version"])
    if reference.alias is not None:
        body = {"name": name, "alias": reference.alias}
        return dict(client.transport.call("GET", "registered-models/alias", body)["model_version"])
    stages = [reference.stage] if reference.stage else []
    found = client.transport.call(
        "POST", "registered-models/get-latest-versions", {"name": name, "stages": stages}
    )
    versions = found.get("model_versions", [])
    if not versions:
        which = f"in stage {reference.stage!r}" if reference.stage else "at all"
        raise ResourceDoesNotExist(f"Registered model {name!r} has no version {which}.")
    return dict(max(versions, key=lambda v: int(v["version"])))


def _source_location(client: RemoteTrackingClient, version: dict[str, Any]) -> str:
    """Where a version's files are by its source: its logged model, its run's model, or the URI."""
    if version.get("model_id"):
        return _logged_model_location(client, str(version["model_id"]))
    source = str(version.get("source", ""))
    if source.startswith(MODELS_SCHEME):
        model_id = parse_models_uri(source).model_id
        if model_id is not None:
            return _logged_model_location(client, model_id)
    if source.startswith(RUNS_SCHEME):
        parsed = parse_runs_uri(source)
        return _run_model_location(client, parsed.run_id, parsed.path)
    return source


def _version_location(client: RemoteTrackingClient, version: dict[str, Any]) -> str:
    """``model-versions/get-download-uri``, as MLflow's client asks: ``mltrack server`` answers
    with the files its git tag recorded, MLflow's server with where the version's files are.
    A location the server does not proxy falls back to the version's source."""
    query = {"name": str(version["name"]), "version": str(version["version"])}
    answer = client.transport.call("GET", "model-versions/get-download-uri", query)
    location = str(answer.get("artifact_uri", ""))
    if urllib.parse.urlparse(location).scheme == "mlflow-artifacts":
        return location
    return _source_location(client, version)


def model_location(client: RemoteTrackingClient, reference: ModelReference) -> tuple[str, str]:
    """The ``mlflow-artifacts`` path of the model a ``models:/`` reference names, and a
    description of it for messages."""
    if reference.model_id is not None:
        location = _logged_model_location(client, reference.model_id)
        description = logged_model_uri(reference.model_id)
    else:
        version = _registered_version(client, reference)
        location = _version_location(client, version)
        description = f"{version['name']!r} version {version['version']}"
    return _proxied_path(location, description), description


def split_models_uri(uri: str) -> tuple[ModelReference, str]:
    """``models:/<name>/<version>/<path>``, ``models:/<name>@<alias>/<path>`` or
    ``models:/m-<id>/<path>``: the model's reference and the path inside it (MLflow's split)."""
    parts = uri[len(MODELS_SCHEME) :].strip("/").split("/")
    cut = 1 if is_logged_model_id(parts[0]) or "@" in parts[0] else 2
    model = MODELS_SCHEME + "/".join(parts[:cut])
    return parse_models_uri(model), "/".join(parts[cut:])


def download_path(client: RemoteTrackingClient, remote: str, destination: Path) -> Path:
    """A local copy of the file or directory at ``remote`` (an ``mlflow-artifacts`` path)."""
    entries = client.transport.list(remote)
    name = PurePosixPath(remote).name
    # listing a file answers nothing (MLflow's server) or the file itself (mltrack server)
    is_file = not entries or (
        len(entries) == 1
        and PurePosixPath(str(entries[0]["path"])).name == name
        and not entries[0].get("is_dir")
    )
    if is_file:
        data = client.transport.download(remote)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
    else:
        _download_tree(client, remote, destination)
    return destination


def replace_model_file(
    client: RemoteTrackingClient, model_uri: str, name: str, data: bytes
) -> None:
    """Upload ``data`` as file ``name`` of the model at a ``runs:/`` or ``models:/m-<id>`` URI
    (``set_signature``'s new MLmodel); a READY logged model is finalized again, so that
    ``mltrack server`` records the new MLmodel's sha256 (MLflow's server changes nothing)."""
    if model_uri.startswith(RUNS_SCHEME):
        parsed = parse_runs_uri(model_uri)
        found = _run_logged_model(client, parsed.run_id, parsed.path)
        location = (
            str(found["info"]["artifact_uri"])
            if found
            else client.get_artifact_uri(parsed.run_id, parsed.path)
        )
        info = found["info"] if found else None
    else:
        model_id = parse_models_uri(model_uri).model_id
        if model_id is None:
            raise InvalidParameterValue(f"Model {model_uri!r} is a registered version: read-only.")
        info = client.transport.call("GET", f"logged-models/{model_id}")["model"]["info"]
        location = str(info["artifact_uri"])
    client.transport.upload(f"{_proxied_path(location, model_uri)}/{name}", data)
    if info is not None and info.get("status") == "LOGGED_MODEL_READY":
        _finalize(client, str(info["model_id"]), "LOGGED_MODEL_READY")


def download_model(
    client: RemoteTrackingClient,
    *,
    model_id: str | None = None,
    run_id: str = "",
    name: str = "",
    reference: ModelReference | None = None,
) -> tuple[Path, str]:
    """A scratch copy of a logged model (``model_id``), a run's model or a registered version,
    and its description."""
    if reference is not None or model_id is not None:
        remote, description = model_location(
            client, reference if reference is not None else ModelReference(model_id=model_id)
        )
    else:
        description = runs_uri(run_id, name)
        remote = _proxied_path(_run_model_location(client, run_id, name), description)
    directory = Path(tempfile.mkdtemp(prefix="mltrack-model-"))
    _download_tree(client, remote, directory)
    if not (directory / MLMODEL).is_file():
        raise ResourceDoesNotExist(f"No model at {description} on the server (no MLmodel file).")
    return directory, description
