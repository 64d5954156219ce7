"""``mltrack.artifacts`` (MLflow's ``mlflow.artifacts``): read artifacts by URI.

Every URI mltrack resolves works: ``runs:/<run_id>/<path>`` (any artifact of a
run), ``models:/m-<id>`` and ``models:/<name>/<version>`` (a model, checked
against its recorded hashes), ``file://`` URIs and local paths. Artifacts are
files in your repository, so "downloading" copies them (to ``dst_path`` or a
new temporary directory) and the loaders read them where they are. With a server
tracking URI (``http(s)://``), ``runs:/`` URIs are listed and downloaded over MLflow's
REST API; other URIs need a local repository.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mltrack.entities import FileInfo
from mltrack.exceptions import InvalidParameterValue
from mltrack.models.uri import local_artifact
from mltrack.store.repository import Repository
from mltrack.tracking import artifacts as artifact_io
from mltrack.tracking import fluent
from mltrack.tracking.client import TrackingClient
from mltrack.uris import RUNS_SCHEME

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

    Other URIs (``models:/`` …) need a local repository and are refused in one line.
    """
    client = _client(tracking_uri)
    if not uri.startswith(RUNS_SCHEME):
        raise client.not_offered(f"Reading {uri!r}")  # type: ignore[attr-defined]
    run, _, relative = uri[len(RUNS_SCHEME) :].strip("/").partition("/")
    return client, run, relative


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
        client, run, relative = _remote_run_artifact(uri, tracking_uri)
        return client.list_artifacts(run, relative or None)
    repo = _repository(tracking_uri)
    if uri.startswith(RUNS_SCHEME):
        run, _, relative = uri[len(RUNS_SCHEME) :].strip("/").partition("/")
        return artifact_io.list_dir(repo.runs.artifact_dir(run), relative or None)
    return artifact_io.list_dir(local_artifact(uri, repo))


def _file(artifact_uri: str) -> Path:
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
