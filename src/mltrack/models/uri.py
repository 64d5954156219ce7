"""Every model URI form, resolved to a local model directory plus the hashes to check it with.

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
from urllib.parse import unquote, urlparse

from mltrack.exceptions import IntegrityError, InvalidParameterValue, ResourceDoesNotExist
from mltrack.models.model import MLMODEL, sha256_file
from mltrack.store import validation

__all__ = ["ModelReference", "ResolvedModel", "parse_models_uri", "resolve"]


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
            path = directory / relative
            if not path.is_file() or sha256_file(path) != expected:
                raise IntegrityError(
                    f"Model file {path} does not match the sha256 recorded for {self.description}; "
                    "refusing to load it."
                )


@dataclass(frozen=True)
class ModelReference:
    """A parsed ``models:/`` URI."""

    name: str | None = None
    version: int | None = None
    stage: str | None = None
    alias: str | None = None
    latest: bool = False
    model_id: str | None = None


def parse_models_uri(uri: str) -> ModelReference:
    body = uri[len("models:/") :].strip("/")
    if not body:
        raise InvalidParameterValue(
            f"Invalid model URI {uri!r}: expected models:/<name>/<version>, models:/<name>@<alias> or models:/m-<id>."
        )
    if body.startswith("m-") and "/" not in body and "@" not in body:
        return ModelReference(model_id=body)
    if "@" in body:
        name, alias = body.rsplit("@", 1)
        if not name or not alias:
            raise InvalidParameterValue(
                f"Invalid model URI {uri!r}: expected models:/<name>@<alias>."
            )
        return ModelReference(name=name, alias=alias)
    if "/" not in body:
        raise InvalidParameterValue(
            f"Invalid model URI {uri!r}: add a version, stage, 'latest' or '@alias' after the name."
        )
    name, suffix = body.rsplit("/", 1)
    if suffix.isdigit():
        return ModelReference(name=name, version=int(suffix))
    if suffix.lower() == "latest":
        return ModelReference(name=name, latest=True)
    return ModelReference(name=name, stage=suffix)


def _from_run(run_id: str, relative: str) -> ResolvedModel:
    from mltrack.tracking.fluent import client

    repo = client().repository
    record = repo.runs.get(validation.run_id(run_id))
    relative = validation.artifact_path(relative)
    directory = repo.runs.artifact_dir(run_id) / relative
    if not (directory / MLMODEL).is_file():
        known = [o["artifact_path"] for o in record.outputs]
        hint = f" Its logged models: {', '.join(known)}." if known else " It has no logged models."
        raise ResourceDoesNotExist(f"Run {run_id} has no model at '{relative}'.{hint}")
    sha = next(
        (o.get("mlmodel_sha256") for o in record.outputs if o["artifact_path"] == relative), None
    )
    return ResolvedModel(directory, f"runs:/{run_id}/{relative}", sha)


def _from_logged_model(model_id: str) -> ResolvedModel:
    from mltrack.entities import ViewType
    from mltrack.tracking.fluent import client

    for record in client().repository.runs.records(None, ViewType.ALL):
        for output in record.outputs:
            if output["model_id"] == model_id:
                return _from_run(record.run_id, output["artifact_path"])
    raise ResourceDoesNotExist(f"No logged model {model_id} in this repository.")


def resolve(uri: str) -> ResolvedModel:
    """The local directory a model URI names, with the hashes to verify it against."""
    if not isinstance(uri, str) or not uri:
        raise InvalidParameterValue(f"Invalid model URI {uri!r}.")
    if uri.startswith("runs:/"):
        body = uri[len("runs:/") :].strip("/")
        run_id, _, relative = body.partition("/")
        if not run_id or not relative:
            raise InvalidParameterValue(
                f"Invalid model URI {uri!r}: expected runs:/<run_id>/<path>."
            )
        return _from_run(run_id, relative)
    if uri.startswith("models:/"):
        reference = parse_models_uri(uri)
        if reference.model_id is not None:
            return _from_logged_model(reference.model_id)
        from mltrack.registry import Registry

        return Registry.current().resolve(reference)
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
