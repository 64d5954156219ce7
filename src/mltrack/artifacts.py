"""``mltrack.artifacts`` (MLflow's ``mlflow.artifacts``): read artifacts by URI.

Every URI mltrack resolves works: ``runs:/<run_id>/<path>`` (any artifact of a
run), ``models:/m-<id>`` and ``models:/<name>/<version>`` (a model, checked
against its recorded hashes), ``file://`` URIs and local paths. Artifacts are
files in your repository, so "downloading" copies them (to ``dst_path`` or a
new temporary directory) and the loaders read them where they are. With a server
tracking URI (``http(s)://``), ``runs:/`` and ``models:/`` URIs (``models:/<name>/<version>``,
``@<alias>``, ``/<stage>``, ``m-<id>``, each optionally followed by a path inside the
model) are listed and downloaded over MLflow's REST API, as MLflow's client does:
a whole model goes into ``dst_path`` itself, a file or directory inside it to
``dst_path/<its path>``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from mltrack.entities import FileInfo
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.models.uri import local_artifact
from mltrack.store import validation
from mltrack.store.repository import Repository
from mltrack.tracking import artifacts as artifact_io
from mltrack.tracking import fluent
from mltrack.tracking.client import TrackingClient
from mltrack.uris import MODELS_SCHEME, RUNS_SCHEME

__all__ = ["download_artifacts", "list_artifacts", "load_dict", "load_image", "load_text"]


def _uri(artifact_uri: str | None, run_id: str | None, artifact_path: str | None) -> str:
    if artifact_uri is not None:
        if run_id is not None or artifact_path is not None:
            raise InvalidParameterValue(
                "If `artifact_uri` is given, `run_id` and `artifact_path` must not be."
            )
        return artifact_uri
    if run_id is None:
        raise InvalidParameterValue("Give `artifact_uri`, or `run_id` (with `artifact_path`).")
    return f"{RUNS_SCHEME}{run_id}/{(artifact_path or '').lstrip('/')}"


def _client(tracking_uri: str | None) -> TrackingClient:
    return TrackingClient(tracking_uri) if tracking_uri is not None else fluent.client()


def _repository(tracking_uri: str | None) -> Repository:
    return _client(tracking_uri).repository


def _remote_run_artifact(uri: str, tracking_uri: str | None) -> tuple[TrackingClient, str, str]:
    """With a server tracking URI: the client, run id and path of a ``runs:/`` URI.

    Other URIs (file paths, cloud storage) are not the server's and are refused in one line.
    """
    client = _client(tracking_uri)
    if not uri.startswith(RUNS_SCHEME):
        raise client.not_offered(  # type: ignore[attr-defined]
            f"Reading {uri!r}", "only runs:/ and models:/ URIs name the server's artifacts."
        )
    run, _, relative = uri[len(RUNS_SCHEME) :].strip("/").partition("/")
    return client, run, relative


def _remote_model_path(uri: str, tracking_uri: str | None) -> tuple[Any, str, str]:
    """With a server tracking URI: the client, the ``mlflow-artifacts`` path of the model a
    ``models:/`` URI names, and the path inside the model."""
    from mltrack.models import remote

    client = _client(tracking_uri)
    reference, inside = remote.split_models_uri(uri)
    root, _ = remote.model_location(client, reference)  # type: ignore[arg-type]
    return client, root, validation.artifact_path(inside)


def _download_remote_model(uri: str, tracking_uri: str | None, dst_path: str | None) -> str:
    from mltrack.models import remote

    client, root, inside = _remote_model_path(uri, tracking_uri)
    parent = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="mltrack-artifacts-"))
    destination = parent / inside if inside else parent
    try:
        remote.download_path(client, f"{root}/{inside}" if inside else root, destination)
    except ResourceDoesNotExist:
        raise ResourceDoesNotExist(f"No artifact at {uri!r} on the server.") from None
    return str(destination)


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | None = None,
    tracking_uri: str | None = None,
) -> str:
    """A local copy of an artifact file or directory; returns its path."""
    uri = _uri(artifact_uri, run_id, artifact_path)
    if _client(tracking_uri).remote:
        if uri.startswith(MODELS_SCHEME):
            return _download_remote_model(uri, tracking_uri, dst_path)
        client, run, relative = _remote_run_artifact(uri, tracking_uri)
        return client.download_artifacts(run, relative, dst_path)
    source = local_artifact(uri, _repository(tracking_uri))
    destination_dir = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="mltrack-"))
    destination = destination_dir / source.name
    destination_dir.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, destination, dirs_exist_ok=True)
    else:
        shutil.copyfile(source, destination)
    return str(destination)


def list_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    tracking_uri: str | None = None,
) -> list[FileInfo]:
    """The entries of an artifact directory (paths relative to the run's or model's root)."""
    uri = _uri(artifact_uri, run_id, artifact_path)
    if _client(tracking_uri).remote:
        if uri.startswith(MODELS_SCHEME):
            return _list_remote_model(uri, tracking_uri)
        client, run, relative = _remote_run_artifact(uri, tracking_uri)
        return client.list_artifacts(run, relative or None)
    repo = _repository(tracking_uri)
    if uri.startswith(RUNS_SCHEME):
        run, _, relative = uri[len(RUNS_SCHEME) :].strip("/").partition("/")
        return artifact_io.list_dir(repo.runs.artifact_dir(run), relative or None)
    return artifact_io.list_dir(local_artifact(uri, repo))


def _list_remote_model(uri: str, tracking_uri: str | None) -> list[FileInfo]:
    """The entries of a directory inside a model on the server, paths relative to the model."""
    client, root, inside = _remote_model_path(uri, tracking_uri)
    entries = client.transport.list(f"{root}/{inside}" if inside else root)
    prefix = f"{inside}/" if inside else ""
    return sorted(
        (
            FileInfo(
                path=prefix + PurePosixPath(str(e["path"])).name,
                is_dir=bool(e.get("is_dir", False)),
                file_size=None if e.get("file_size") in (None, "") else int(e["file_size"]),
            )
            for e in entries
        ),
        key=lambda entry: entry.path,
    )


def _file(artifact_uri: str) -> Path:
    if fluent.client().remote and artifact_uri.startswith(MODELS_SCHEME):
        path = Path(_download_remote_model(artifact_uri, None, None))
        if not path.is_file():
            raise InvalidParameterValue(f"Artifact {artifact_uri!r} is a directory, not a file.")
        return path
    if fluent.client().remote:  # a copy in a temporary directory, read from there
        client, run, relative = _remote_run_artifact(artifact_uri, None)
        if not relative:
            raise InvalidParameterValue(f"Artifact {artifact_uri!r} is a directory, not a file.")
        path = Path(client.download_artifacts(run, relative))
        if not path.is_file():
            raise InvalidParameterValue(f"Artifact {artifact_uri!r} is a directory, not a file.")
        return path
    path = local_artifact(artifact_uri, fluent.client().repository)
    if not path.is_file():
        raise InvalidParameterValue(f"Artifact {artifact_uri!r} is a directory, not a file.")
    return path


def load_text(artifact_uri: str) -> str:
    """The text of an artifact file."""
    return _file(artifact_uri).read_text("utf-8")


def load_dict(artifact_uri: str) -> dict[str, Any]:
    """The dictionary ``log_dict`` wrote: JSON, or YAML for a .yaml/.yml file."""
    path = _file(artifact_uri)
    text = path.read_text("utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        loaded = yaml.safe_load(text)
    else:
        try:
            loaded = json.loads(text)
        except ValueError as error:
            raise InvalidParameterValue(
                f"Unable to form a JSON object from {artifact_uri}: {error}"
            ) from error
    if not isinstance(loaded, dict):
        raise InvalidParameterValue(f"Artifact {artifact_uri!r} holds no dictionary.")
    return loaded


def load_image(artifact_uri: str) -> Any:
    """An image artifact as a ``PIL.Image.Image`` (needs Pillow: ``mltrack[images]``)."""
    from mltrack.tracking.media import open_image

    return open_image(_file(artifact_uri))
