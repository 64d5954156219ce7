"""The registry over a tracking server's REST API (``registered-models/*``, ``model-versions/*``).

What ``MltrackClient`` and ``mltrack.register_model`` use when the tracking URI is
``http(s)://``: registered models, versions, stages, tags and aliases are the
server's. Registering ``runs:/<run_id>/<path>`` sends that URI as the version's
source with its run id; the server resolves it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from mltrack.exceptions import ResourceAlreadyExists
from mltrack.registry.records import ModelVersion, RegisteredModel
from mltrack.tracking.rest import RestTransport

__all__ = ["RemoteRegistry"]


class RemoteRegistry:
    """MlflowClient's registry methods, sent to one tracking server."""

    def __init__(self, transport: RestTransport) -> None:
        self.transport = transport

    def create_registered_model(
        self, name: str, tags: dict[str, Any] | None = None, description: str | None = None
    ) -> RegisteredModel:
        body: dict[str, Any] = {"name": name, "tags": _tag_list(tags)}
        if description:
            body["description"] = description
        answer = self.transport.call("POST", "registered-models/create", body)
        return _registered_model(answer["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        answer = self.transport.call("GET", "registered-models/get", {"name": name})
        return _registered_model(answer["registered_model"])

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        **_: Any,
    ) -> ModelVersion:
        body: dict[str, Any] = {"name": name, "source": source, "tags": _tag_list(tags)}
        for key, value in (
            ("run_id", run_id),
            ("run_link", run_link),
            ("description", description),
        ):
            if value:
                body[key] = value
        answer = self.transport.call("POST", "model-versions/create", body)
        return _model_version(answer["model_version"])

    def register_model(
        self, model_uri: str, name: str, tags: dict[str, Any] | None = None
    ) -> ModelVersion:
        """``mltrack.register_model`` over REST: the registered model is made if needed."""
        with contextlib.suppress(ResourceAlreadyExists):  # registered earlier: add a version
            self.create_registered_model(name)
        run_id = None
        if model_uri.startswith("runs:/"):
            run_id = model_uri[len("runs:/") :].split("/", 1)[0] or None
        return self.create_model_version(name, model_uri, run_id, tags)

    def get_model_version(self, name: str, version: Any) -> ModelVersion:
        answer = self.transport.call(
            "GET", "model-versions/get", {"name": name, "version": str(version)}
        )
        return _model_version(answer["model_version"])

    def search_model_versions(
        self, filter_string: str | None = None, max_results: int = 10000, **_: Any
    ) -> list[ModelVersion]:
        query: dict[str, Any] = {"max_results": max_results}
        if filter_string:
            query["filter"] = filter_string
        answer = self.transport.call("GET", "model-versions/search", query)
        return [_model_version(v) for v in answer.get("model_versions", [])]

    def transition_model_version_stage(
        self, name: str, version: Any, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        body = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": archive_existing_versions,
        }
        answer = self.transport.call("POST", "model-versions/transition-stage", body)
        return _model_version(answer["model_version"])

    def set_model_version_tag(self, name: str, version: Any, key: str, value: Any) -> None:
        body = {"name": name, "version": str(version), "key": key, "value": str(value)}
        self.transport.call("POST", "model-versions/set-tag", body)

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        body = {"name": name, "alias": alias, "version": str(version)}
        self.transport.call("POST", "registered-models/alias", body)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.transport.call("DELETE", "registered-models/alias", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        answer = self.transport.call(
            "GET", "registered-models/alias", {"name": name, "alias": alias}
        )
        return _model_version(answer["model_version"])


def _tag_list(tags: dict[str, Any] | None) -> list[dict[str, str]]:
    return [{"key": str(k), "value": str(v)} for k, v in (tags or {}).items()]


def _pairs(items: Any) -> dict[str, str]:
    return {str(item["key"]): str(item.get("value", "")) for item in items or []}


def _model_version(data: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        name=str(data["name"]),
        version=int(data["version"]),
        creation_timestamp=int(data.get("creation_timestamp", 0)),
        last_updated_timestamp=int(data.get("last_updated_timestamp", 0)),
        user_id=str(data.get("user_id", "")),
        current_stage=str(data.get("current_stage", "None")),
        description=str(data.get("description", "")),
        source=str(data.get("source", "")),
        run_id=str(data.get("run_id", "")),
        status=str(data.get("status", "READY")),
        status_message=str(data.get("status_message", "")),
        tags=_pairs(data.get("tags")),
        run_link=str(data.get("run_link", "")),
        aliases=[str(a) for a in data.get("aliases", [])],
        model_id=data.get("model_id"),
    )


def _registered_model(data: dict[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=str(data["name"]),
        creation_timestamp=int(data.get("creation_timestamp", 0)),
        last_updated_timestamp=int(data.get("last_updated_timestamp", 0)),
        description=str(data.get("description", "")),
        latest_versions=[_model_version(v) for v in data.get("latest_versions", [])],
        tags=_pairs(data.get("tags")),
        aliases={str(a["alias"]): int(a["version"]) for a in data.get("aliases", [])},
    )
