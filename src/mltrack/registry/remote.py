"""The registry over a tracking server's REST API (``registered-models/*``, ``model-versions/*``).

What ``MltrackClient``, ``mltrack.register_model`` and the fluent registry searches
use when the tracking URI is ``http(s)://``: registered models, versions, stages,
tags, aliases and descriptions are the server's, each call the one MLflow's
client sends. Registering ``runs:/<run_id>/<path>`` sends that URI as the
version's source with its run id; the server resolves it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from mltrack.exceptions import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from mltrack.paging import PagedList
from mltrack.registry.records import ModelVersion, RegisteredModel
from mltrack.tracking.rest import RestTransport
from mltrack.uris import MODELS_SCHEME, RUNS_SCHEME, parse_models_uri

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
        await_creation_for: int = 300,
        model_id: str | None = None,
        **_: Any,
    ) -> ModelVersion:
        body: dict[str, Any] = {"name": name, "source": source, "tags": _tag_list(tags)}
        for key, value in (
            ("run_id", run_id),
            ("run_link", run_link),
            ("description", description),
            ("model_id", model_id),
        ):
            if value:
                body[key] = value
        answer = self.transport.call("POST", "model-versions/create", body)
        return _model_version(answer["model_version"])

    def register_model(
        self, model_uri: str, name: str, tags: dict[str, Any] | None = None
    ) -> ModelVersion:
        """``mltrack.register_model`` over REST: the registered model is made if needed.

        ``models:/<model_id>`` is sent with its model id, as MLflow's client sends it (MLflow's
        server refuses that source without one).
        """
        with contextlib.suppress(ResourceAlreadyExists):  # registered earlier: add a version
            self.create_registered_model(name)
        run_id = model_id = None
        if model_uri.startswith(RUNS_SCHEME):
            run_id = model_uri[len(RUNS_SCHEME) :].split("/", 1)[0] or None
        elif model_uri.startswith(MODELS_SCHEME):
            model_id = parse_models_uri(model_uri).model_id
        return self.create_model_version(name, model_uri, run_id, tags, model_id=model_id)

    def get_model_version(self, name: str, version: Any) -> ModelVersion:
        answer = self.transport.call(
            "GET", "model-versions/get", {"name": name, "version": str(version)}
        )
        return _model_version(answer["model_version"])

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """One page of ``registered-models/search``."""
        answer = self.transport.call(
            "GET",
            "registered-models/search",
            _search_query(filter_string, max_results or 100, order_by, page_token),
        )
        return PagedList(
            [_registered_model(m) for m in answer.get("registered_models", [])],
            answer.get("next_page_token") or None,
        )

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        body = {"name": name, "new_name": new_name}
        answer = self.transport.call("POST", "registered-models/rename", body)
        return _registered_model(answer["registered_model"])

    def update_registered_model(
        self, name: str, description: str | None = None, **_: Any
    ) -> RegisteredModel:
        body = {"name": name, "description": description or ""}
        answer = self.transport.call("PATCH", "registered-models/update", body)
        return _registered_model(answer["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self.transport.call("DELETE", "registered-models/delete", {"name": name})

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        body = {"name": name, "key": key, "value": str(value)}
        self.transport.call("POST", "registered-models/set-tag", body)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.transport.call("DELETE", "registered-models/delete-tag", {"name": name, "key": key})

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when none are given)."""
        body = {"name": name, "stages": list(stages or [])}
        answer = self.transport.call("POST", "registered-models/get-latest-versions", body)
        return [_model_version(v) for v in answer.get("model_versions", [])]

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = 10000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """One page of ``model-versions/search``."""
        answer = self.transport.call(
            "GET",
            "model-versions/search",
            _search_query(filter_string, max_results or 10000, order_by, page_token),
        )
        return PagedList(
            [_model_version(v) for v in answer.get("model_versions", [])],
            answer.get("next_page_token") or None,
        )

    def update_model_version(
        self, name: str, version: Any, description: str | None = None
    ) -> ModelVersion:
        body = {"name": name, "version": str(version), "description": description or ""}
        answer = self.transport.call("PATCH", "model-versions/update", body)
        return _model_version(answer["model_version"])

    def delete_model_version(self, name: str, version: Any) -> None:
        body = {"name": name, "version": str(version)}
        self.transport.call("DELETE", "model-versions/delete", body)

    def delete_model_version_tag(
        self, name: str, version: Any = None, key: str = "", stage: str | None = None
    ) -> None:
        body = {"name": name, "version": self._version_or_stage(name, version, stage), "key": key}
        self.transport.call("DELETE", "model-versions/delete-tag", body)

    def _version_or_stage(self, name: str, version: Any, stage: str | None) -> str:
        """``version``, else the newest version in ``stage`` (MLflow's tag calls take either)."""
        if version is not None and stage is None:
            return str(version)
        if version is not None or not stage:
            raise InvalidParameterValue("Give either version or stage, not both or neither.")
        newest = self.get_latest_versions(name, [stage])
        if not newest:
            raise ResourceDoesNotExist(f"Could not find any model version for {stage} stage.")
        return str(newest[0].version)

    def get_model_version_download_uri(self, name: str, version: Any) -> str:
        """Where the server keeps the version's files (``mlflow-artifacts:/…`` when it proxies)."""
        query = {"name": name, "version": str(version)}
        answer = self.transport.call("GET", "model-versions/get-download-uri", query)
        return str(answer["artifact_uri"])

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

    def set_model_version_tag(
        self,
        name: str,
        version: Any = None,
        key: str = "",
        value: Any = "",
        stage: str | None = None,
    ) -> None:
        body = {
            "name": name,
            "version": self._version_or_stage(name, version, stage),
            "key": key,
            "value": str(value),
        }
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


def _search_query(
    filter_string: str | None, max_results: int, order_by: list[str] | None, token: str | None
) -> dict[str, Any]:
    query: dict[str, Any] = {"max_results": int(max_results)}
    if filter_string:
        query["filter"] = filter_string
    if order_by:
        query["order_by"] = list(order_by)
    if token:
        query["page_token"] = token
    return query


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
