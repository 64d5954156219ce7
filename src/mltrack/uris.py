"""The URIs that name models and run artifacts, built and parsed here only.

- ``runs:/<run_id>/<path>``: a path in a run's artifacts;
- ``models:/m-<id>``: an MLflow 3 logged model, by its id;
- ``models:/<name>/<version>``, ``models:/<name>/<stage>``, ``models:/<name>/latest``
  and ``models:/<name>@<alias>``: a registered model version.

A leaf module (it imports only the exceptions), so every layer can name models
without importing the layers that resolve them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mltrack.exceptions import InvalidParameterValue

__all__ = [
    "LOGGED_MODEL_PREFIX",
    "MODELS_SCHEME",
    "RUNS_SCHEME",
    "ModelReference",
    "RunsUri",
    "is_logged_model_id",
    "logged_model_uri",
    "new_logged_model_id",
    "parse_models_uri",
    "parse_runs_uri",
    "runs_uri",
]

RUNS_SCHEME = "runs:/"
MODELS_SCHEME = "models:/"
LOGGED_MODEL_PREFIX = "m-"


@dataclass(frozen=True)
class RunsUri:
    """A parsed ``runs:/<run_id>/<path>``."""

    run_id: str
    path: str

    def __str__(self) -> str:
        return runs_uri(self.run_id, self.path)


def runs_uri(run_id: str, path: str) -> str:
    return f"{RUNS_SCHEME}{run_id}/{path}"


def parse_runs_uri(uri: str) -> RunsUri:
    """The run and the artifact path of ``runs:/<run_id>/<path>`` (both required)."""
    if not uri.startswith(RUNS_SCHEME):
        raise InvalidParameterValue(f"Invalid run URI {uri!r}: expected runs:/<run_id>/<path>.")
    run_id, _, path = uri[len(RUNS_SCHEME) :].strip("/").partition("/")
    if not run_id or not path:
        raise InvalidParameterValue(f"Invalid model URI {uri!r}: expected runs:/<run_id>/<path>.")
    return RunsUri(run_id, path)


def new_logged_model_id() -> str:
    return f"{LOGGED_MODEL_PREFIX}{uuid.uuid4().hex}"


def is_logged_model_id(text: object) -> bool:
    return isinstance(text, str) and text.startswith(LOGGED_MODEL_PREFIX)


def logged_model_uri(model_id: str) -> str:
    return f"{MODELS_SCHEME}{model_id}"


@dataclass(frozen=True)
class ModelReference:
    """A parsed ``models:/`` URI: a logged model id, or a registered name and one selector."""

    name: str | None = None
    version: int | None = None
    stage: str | None = None
    alias: str | None = None
    latest: bool = False
    model_id: str | None = None


def parse_models_uri(uri: str) -> ModelReference:
    body = uri[len(MODELS_SCHEME) :].strip("/")
    if not body:
        raise InvalidParameterValue(
            f"Invalid model URI {uri!r}: expected models:/<name>/<version>, models:/<name>@<alias> or models:/m-<id>."
        )
    if is_logged_model_id(body) and "/" not in body and "@" not in body:
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
