"""``/api/2.0/mlflow/registered-models`` and ``model-versions``: the git-tag registry.

``model-versions/create`` makes the same annotated tag as a local
``mltrack.register_model``: a source the client sends as
``mlflow-artifacts:/<experiment>/<run>/artifacts/<path>`` is the run's
``runs:/<run>/<path>``. ``get-download-uri`` names the version's files as its tag
holds them (``mlflow-artifacts:/_snapshots/<tree id>``), so a registered version
loads even after its run left the branch.

Two answers copy MLflow's quirks on purpose: an unknown alias is 400
INVALID_PARAMETER_VALUE on ``GET registered-models/alias``, and deleting an
unknown alias succeeds.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from mltrack.exceptions import InvalidParameterValue
from mltrack.server.artifacts import ArtifactPath, snapshot_uri
from mltrack.server.backend import Backend
from mltrack.server.protocol import (
    Params,
    RouteTable,
    model_version_json,
    paged,
    registered_model_json,
)
from mltrack.uris import runs_uri

__all__ = ["registry_source", "routes"]

table = RouteTable("/api/2.0/mlflow")


# ---------------------------------------------------------------------- registered models


@table.post("registered-models/create")
def create_registered_model(req: Params, server: Backend) -> dict[str, Any]:
    model = server.registry.create_registered_model(
        req.required("name"), tags=req.tags(), description=req.string("description")
    )
    return {"registered_model": registered_model_json(model, brief=True)}


@table.get("registered-models/get")
def get_registered_model(req: Params, server: Backend) -> dict[str, Any]:
    model = server.registry.get_registered_model(req.required("name"))
    return {"registered_model": registered_model_json(model)}


@table.post("registered-models/rename")
def rename_registered_model(req: Params, server: Backend) -> dict[str, Any]:
    model = server.registry.rename_registered_model(req.required("name"), req.required("new_name"))
    return {"registered_model": registered_model_json(model)}


@table.patch("registered-models/update")
def update_registered_model(req: Params, server: Backend) -> dict[str, Any]:
    model = server.registry.update_registered_model(req.required("name"), req.string("description"))
    return {"registered_model": registered_model_json(model)}


@table.delete("registered-models/delete")
def delete_registered_model(req: Params, server: Backend) -> None:
    server.registry.delete_registered_model(req.required("name"))


@table.get("registered-models/search")
def search_registered_models(req: Params, server: Backend) -> dict[str, Any]:
    found = server.registry.search_registered_models(
        req.string("filter"),
        max_results=req.int64("max_results") or 100,
        order_by=req.strings("order_by"),
        page_token=req.string("page_token"),
    )
    return paged("registered_models", found, registered_model_json)


@table.add(["GET", "POST"], "registered-models/get-latest-versions")
def get_latest_versions(req: Params, server: Backend) -> dict[str, Any]:
    versions = server.registry.get_latest_versions(req.required("name"), req.strings("stages"))
    return {"model_versions": [model_version_json(v) for v in versions]} if versions else {}


@table.post("registered-models/set-tag")
def set_registered_model_tag(req: Params, server: Backend) -> None:
    server.registry.set_registered_model_tag(
        req.required("name"), req.required("key"), req.string("value") or ""
    )


@table.delete("registered-models/delete-tag")
def delete_registered_model_tag(req: Params, server: Backend) -> None:
    server.registry.delete_registered_model_tag(req.required("name"), req.required("key"))


@table.post("registered-models/alias")
def set_alias(req: Params, server: Backend) -> None:
    server.registry.set_registered_model_alias(
        req.required("name"), req.required("alias"), req.required("version")
    )


@table.delete("registered-models/alias")
def delete_alias(req: Params, server: Backend) -> None:
    name, alias = req.required("name"), req.required("alias")
    if alias in server.registry.get_registered_model(name).aliases:
        server.registry.delete_registered_model_alias(name, alias)


@table.get("registered-models/alias")
def get_version_by_alias(req: Params, server: Backend) -> dict[str, Any]:
    name, alias = req.required("name"), req.required("alias")
    if alias not in server.registry.get_registered_model(name).aliases:
        raise InvalidParameterValue(f"Registered model alias {alias} not found.")
    version = server.registry.get_model_version_by_alias(name, alias)
    return {"model_version": model_version_json(version)}


# ---------------------------------------------------------------------- model versions


def registry_source(source: str) -> str:
    """The model URI the registry reads for a source the client sent."""
    if not source.startswith("mlflow-artifacts:"):
        return source
    path = urlparse(source).path if source.startswith("mlflow-artifacts://") else source[17:]
    location = ArtifactPath.parse(path.lstrip("/"))
    if location is None or location.run_id is None or not location.relative:
        raise InvalidParameterValue(
            f"Invalid model version source: '{source}'. Register a model logged in a run: "
            "runs:/<run_id>/<path>, models:/<model_id> or "
            "mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>."
        )
    return runs_uri(location.run_id, location.relative)


@table.post("model-versions/create")
def create_model_version(req: Params, server: Backend) -> dict[str, Any]:
    version = server.registry.create_model_version(
        req.required("name"),
        registry_source(req.required("source")),
        run_id=req.string("run_id") or None,
        tags=req.tags(),
        description=req.string("description"),
        model_id=req.string("model_id") or None,
    )
    return {"model_version": model_version_json(version)}


@table.get("model-versions/get")
def get_model_version(req: Params, server: Backend) -> dict[str, Any]:
    version = server.registry.get_model_version(req.required("name"), req.required("version"))
    return {"model_version": model_version_json(version)}


@table.patch("model-versions/update")
def update_model_version(req: Params, server: Backend) -> dict[str, Any]:
    version = server.registry.update_model_version(
        req.required("name"), req.required("version"), req.string("description")
    )
    return {"model_version": model_version_json(version)}


@table.delete("model-versions/delete")
def delete_model_version(req: Params, server: Backend) -> None:
    server.registry.delete_model_version(req.required("name"), req.required("version"))


@table.get("model-versions/search")
def search_model_versions(req: Params, server: Backend) -> dict[str, Any]:
    found = server.registry.search_model_versions(
        req.string("filter"),
        max_results=req.int64("max_results") or 10000,
        order_by=req.strings("order_by"),
        page_token=req.string("page_token"),
    )
    return paged("model_versions", found, lambda v: model_version_json(v, aliases=False))


@table.get("model-versions/get-download-uri")
def get_download_uri(req: Params, server: Backend) -> dict[str, Any]:
    location = server.registry.get_model_version_download_uri(
        req.required("name"), req.required("version")
    )
    return {"artifact_uri": snapshot_uri(location)}


@table.post("model-versions/transition-stage")
def transition_stage(req: Params, server: Backend) -> dict[str, Any]:
    version = server.registry.transition_model_version_stage(
        req.required("name"),
        req.required("version"),
        req.required("stage"),
        archive_existing_versions=req.boolean("archive_existing_versions"),
    )
    return {"model_version": model_version_json(version)}


@table.post("model-versions/set-tag")
def set_model_version_tag(req: Params, server: Backend) -> None:
    server.registry.set_model_version_tag(
        req.required("name"),
        req.required("version"),
        req.required("key"),
        req.string("value") or "",
    )


@table.delete("model-versions/delete-tag")
def delete_model_version_tag(req: Params, server: Backend) -> None:
    server.registry.delete_model_version_tag(
        req.required("name"), req.required("version"), req.required("key")
    )


routes = table.routes
