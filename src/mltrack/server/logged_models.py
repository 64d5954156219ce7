"""``/api/2.0/mlflow/logged-models``: MLflow 3's logged models, kept with their run.

``POST logged-models`` answers with ``artifact_uri =
mlflow-artifacts:/<experiment>/<run>/artifacts/<name>``, so the client uploads
the model's files straight into its run's artifacts, where ``runs:/<run>/<name>``
finds them and the run's commit includes them.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mltrack.exceptions import InvalidParameterValue
from mltrack.server.artifacts import check_path, file_response
from mltrack.server.backend import Backend
from mltrack.server.protocol import Params, RouteTable, logged_model_json, paged, pairs_to_dict

__all__ = ["routes"]

table = RouteTable("/api/2.0/mlflow/logged-models")


@table.post("search")
def search_logged_models(req: Params, server: Backend) -> dict[str, Any]:
    found = server.client.search_logged_models(
        req.strings("experiment_ids"),
        filter_string=req.string("filter"),
        datasets=req.objects("datasets"),
        max_results=req.int64("max_results") or 100,
        order_by=req.objects("order_by"),
        page_token=req.string("page_token"),
    )
    return paged("models", found, logged_model_json)


@table.post("")
def create_logged_model(req: Params, server: Backend) -> dict[str, Any]:
    model = server.client.create_logged_model(
        req.required("experiment_id"),
        name=req.string("name") or None,
        source_run_id=req.string("source_run_id") or None,
        tags=req.tags(),
        params=req.tags("params"),
        model_type=req.string("model_type") or None,
    )
    return {"model": logged_model_json(model)}


@table.get("{model_id}")
def get_logged_model(req: Params, server: Backend) -> dict[str, Any]:
    return {"model": logged_model_json(server.client.get_logged_model(req.required("model_id")))}


@table.patch("{model_id}")
def finalize_logged_model(req: Params, server: Backend) -> dict[str, Any]:
    model = server.client.finalize_logged_model(req.required("model_id"), req.required("status"))
    return {"model": logged_model_json(model)}


@table.delete("{model_id}")
def delete_logged_model(req: Params, server: Backend) -> None:
    server.client.delete_logged_model(req.required("model_id"))


@table.patch("{model_id}/tags")
def set_logged_model_tags(req: Params, server: Backend) -> None:
    server.client.set_logged_model_tags(req.required("model_id"), req.tags())


@table.delete("{model_id}/tags/{tag_key:path}")
def delete_logged_model_tag(req: Params, server: Backend) -> None:
    server.client.delete_logged_model_tag(req.required("model_id"), req.required("tag_key"))


@table.post("{model_id}/params")
def log_logged_model_params(req: Params, server: Backend) -> None:
    params = pairs_to_dict(req.objects("params"), "params")
    server.client.log_model_params(req.required("model_id"), params)


@table.get("{model_id}/artifacts/directories")
def list_logged_model_artifacts(req: Params, server: Backend) -> dict[str, Any]:
    """The files of a model's directory (MLflow's UI), paths relative to the model."""
    files = server.client.list_logged_model_artifacts(
        req.required("model_id"), check_path(req.string("artifact_directory_path")).strip("/")
    )
    out: dict[str, Any] = {}
    if files:
        out["files"] = [
            {"path": f.path, "is_dir": f.is_dir}
            | ({} if f.is_dir or f.file_size is None else {"file_size": f.file_size})
            for f in files
        ]
    return out


def _model_file(server: Backend, model_id: str, path: str | None) -> Any:
    if not path:
        raise InvalidParameterValue("Missing value for required parameter 'artifact_file_path'.")
    model = server.client.get_logged_model(model_id)
    return server.client.get_artifact_file(
        model.files_run_id, f"{model.artifact_path}/{check_path(path)}"
    )


async def get_logged_model_artifact(request: Request) -> Response:
    """``GET logged-models/{id}/artifacts/files?artifact_file_path=``: one file of a model."""
    path = await run_in_threadpool(
        _model_file,
        request.app.state.backend,
        request.path_params["model_id"],
        request.query_params.get("artifact_file_path"),
    )
    return file_response(path)


routes = [
    *table.routes,
    Route(f"{table.prefix}/{{model_id}}/artifacts/files", get_logged_model_artifact),
]
