"""Every model URI form (:mod:`mltrack.uris`), resolved to a local model directory plus the
hashes to check it with.

- ``runs:/<run_id>/<path>``: the run's artifacts in the working tree;
- ``models:/m-<id>``: an MLflow 3 logged model (the run output that recorded it);
- ``models:/<name>/<version>``, ``models:/<name>/<stage>``, ``models:/<name>/latest``,
  ``models:/<name>@<alias>``: a registered version, read from its git tag's snapshot
  (so it loads even after the run's files left the branch);
- a directory path or ``file://`` URI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote, urlparse

from mltrack import safepath
from mltrack.entities import ViewType
from mltrack.exceptions import IntegrityError, InvalidParameterValue, ResourceDoesNotExist
from mltrack.hashing import sha256_file
from mltrack.models.model import MLMODEL, Model, verify_directory
from mltrack.store import validation
from mltrack.store.model_store import ModelStore
from mltrack.store.repository import Repository
from mltrack.tracking.context import current_repository, current_tracking_uri, is_server_uri
from mltrack.uris import (
    MODELS_SCHEME,
    RUNS_SCHEME,
    ModelReference,
    parse_models_uri,
    parse_runs_uri,
    runs_uri,
)

if TYPE_CHECKING:
    from mltrack.tracking.remote import RemoteTrackingClient

__all__ = ["ResolvedModel", "local_artifact", "resolve"]


@dataclass(frozen=True)
class ResolvedModel:
    directory: Path
    description: str
    mlmodel_sha256: str | None = None
    files: dict[str, str] = field(
        default_factory=dict
    )  # recorded outside the directory (tag message)

    def verify_files(self, directory: Path) -> None:
        for relative, expected in self.files.items():
            # The recorded names come from a tag anyone could have pushed: never leave ``directory``.
            path = safepath.inside(directory, safepath.tree_path(relative, "model file"))
            if not path.is_file() or sha256_file(path) != expected:
                raise IntegrityError(
                    f"Model file {path} does not match the sha256 recorded for {self.description}; "
                    "refusing to load it."
                )


def _from_run(repo: Repository, run_id: str, relative: str) -> ResolvedModel:
    run_id = repo.runs.resolve_id(run_id)  # a unique prefix names a run, as on the command line
    record = repo.runs.get(run_id)
    relative = validation.artifact_path(relative)
    directory = repo.runs.artifact_dir(run_id) / relative
    if not (directory / MLMODEL).is_file():
        known = [o["artifact_path"] for o in record.outputs]
        hint = f" Its logged models: {', '.join(known)}." if known else " It has no logged models."
        raise ResourceDoesNotExist(f"Run {run_id} has no model at '{relative}'.{hint}")
    sha = next(
        (o.get("mlmodel_sha256") for o in record.outputs if o["artifact_path"] == relative), None
    )
    return ResolvedModel(directory, runs_uri(run_id, relative), sha)


def _from_logged_model(repo: Repository, model_id: str) -> ResolvedModel:
    for record in repo.runs.records(None, ViewType.ALL):
        for output in record.outputs:
            if output["model_id"] == model_id and output.get("lifecycle_stage") != "deleted":
                return _from_run(repo, record.run_id, output["artifact_path"])
    raise ResourceDoesNotExist(f"No logged model {model_id} in this repository.")


def _from_registry(repo: Repository, reference: ModelReference) -> ResolvedModel:
    tagged, directory = ModelStore(repo).resolve(reference)
    files = {k: v for k, v in tagged.files.items() if k != MLMODEL}
    description = f"{tagged.name!r} version {tagged.version}"
    return ResolvedModel(directory, description, tagged.files.get(MLMODEL), files)


def _from_server(
    *,
    model_id: str | None = None,
    run_id: str = "",
    name: str = "",
    reference: ModelReference | None = None,
) -> ResolvedModel:
    """A scratch copy of a model on the tracking server (its MLmodel's hashes checked on load)."""
    from mltrack.models import remote
    from mltrack.tracking import fluent

    client = cast("RemoteTrackingClient", fluent.client())
    directory, description = remote.download_model(
        client, model_id=model_id, run_id=run_id, name=name, reference=reference
    )
    return ResolvedModel(directory, description)


def resolve(uri: str, repo: Repository | None = None) -> ResolvedModel:
    """The local directory a model URI names, with the hashes to verify it against.

    ``runs:/`` and ``models:/`` URIs are read from ``repo`` (default: the current repository).
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidParameterValue(f"Invalid model URI {uri!r}.")
    if uri.startswith(RUNS_SCHEME):
        parsed = parse_runs_uri(uri)
        if repo is None and is_server_uri(current_tracking_uri()):
            return _from_server(run_id=parsed.run_id, name=validation.artifact_path(parsed.path))
        return _from_run(repo or current_repository(), parsed.run_id, parsed.path)
    if uri.startswith(MODELS_SCHEME):
        reference = parse_models_uri(uri)
        if reference.model_id is not None:
            if repo is None and is_server_uri(current_tracking_uri()):
                return _from_server(model_id=reference.model_id)
            return _from_logged_model(repo or current_repository(), reference.model_id)
        if repo is None and is_server_uri(current_tracking_uri()):
            return _from_server(reference=reference)
        return _from_registry(repo or current_repository(), reference)
    if uri.startswith("file://"):
        path = Path(unquote(urlparse(uri).path))
    elif "://" in uri or uri.startswith(
        ("s3:", "gs:", "wasbs:", "hdfs:", "dbfs:", "mlflow-artifacts:")
    ):
        raise InvalidParameterValue(
            f"Model URI {uri!r} points to remote storage; mltrack loads models from this repository "
            "(runs:/, models:/) or a local path."
        )
    else:
        path = Path(uri)
    if not (path / MLMODEL).is_file():
        raise ResourceDoesNotExist(f"No model at {path}: the directory has no MLmodel file.")
    return ResolvedModel(path.resolve(), str(path))


def local_artifact(uri: str, repo: Repository | None = None) -> Path:
    """The local file or directory behind any URI mltrack resolves (pyfunc ``artifacts=``).

    ``runs:/<run_id>/<path>`` names any artifact of the run, not only a model
    (``runs:/<run_id>`` its whole artifact root); ``models:/`` URIs name a model,
    checked against the hashes recorded for it; ``file://`` URIs and paths name
    themselves. Remote storage is refused with the same message as for models.
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidParameterValue(f"Invalid artifact URI {uri!r}.")
    if uri.startswith(RUNS_SCHEME):
        run_id, _, relative = uri[len(RUNS_SCHEME) :].strip("/").partition("/")
        repo = repo or current_repository()
        root = repo.runs.artifact_dir(validation.run_id(run_id))
        path = root / validation.artifact_path(relative) if relative else root
        if not path.exists():
            raise ResourceDoesNotExist(f"Run {run_id} has no artifact at '{relative}'.")
        return path
    if uri.startswith(MODELS_SCHEME):
        resolved = resolve(uri, repo)
        verify_directory(
            resolved.directory, Model.load(resolved.directory), resolved.mlmodel_sha256
        )
        resolved.verify_files(resolved.directory)
        return resolved.directory
    path = Path(unquote(urlparse(uri).path)) if uri.startswith("file://") else Path(uri)
    if not path.exists():
        if "://" in uri or uri.startswith(("s3:", "gs:", "wasbs:", "hdfs:", "dbfs:")):
            raise InvalidParameterValue(
                f"Artifact URI {uri!r} points to remote storage; mltrack reads artifacts from "
                "this repository (runs:/, models:/) or a local path."
            )
        raise ResourceDoesNotExist(f"No file or directory at {path}.")
    return path
