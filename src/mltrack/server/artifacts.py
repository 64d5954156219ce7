"""``/api/2.0/mlflow-artifacts/``: list, download and upload artifacts, streamed.

Artifact paths are the ``mlflow-artifacts:/`` URIs the other routes hand out:

- ``<experiment_id>/<run_id>/artifacts/<path>``: a file in the run's
  ``artifacts/`` directory in the repository (logged models included; they are
  committed with the run);
- ``_snapshots/<tree id>/<path>``: a registered version's files as its git tag
  holds them (read-only), from ``model-versions/get-download-uri``.

Paths are checked before anything is touched: ``..``, absolute paths and
percent-encoded separators or dots left after the URL's own decoding are
refused with 400. Uploads go chunk by chunk to a temporary file beside the
target (fsync, rename), downloads are streamed from the file: neither is held
in memory.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from mltrack import safepath
from mltrack.exceptions import InvalidParameterValue, MltrackError, ResourceDoesNotExist
from mltrack.server.backend import Backend
from mltrack.server.protocol import Params, json_response
from mltrack.store import validation
from mltrack.tracking import artifacts as artifact_io

__all__ = ["SNAPSHOTS", "check_path", "file_response", "routes", "snapshot_uri"]

SNAPSHOTS = "_snapshots"
WRITE_BATCH = 1 << 20  # bytes handed to the writer thread at a time
_ENCODED_ESCAPE = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
# Served as text/plain whatever their extension says, as MLflow does (MLmodel, MLproject,
# configuration and logs); a browser shows them instead of downloading them.
_TEXT_NAMES = frozenset(
    [
        "txt",
        "log",
        "err",
        "cfg",
        "conf",
        "cnf",
        "cf",
        "ini",
        "properties",
        "prop",
        "hocon",
        "toml",
        "yaml",
        "yml",
        "xml",
        "json",
        "js",
        "py",
        "py3",
        "csv",
        "tsv",
        "md",
        "rst",
        "mlmodel",
        "mlproject",
    ]
)
# Types a browser would render or run from this server's origin: sent as plain text.
_ACTIVE_TYPES = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml"})
_TOKEN = re.compile(r"^[A-Za-z0-9!#$&+.^_`|~-]+$")


def check_path(raw: str | None) -> str:
    """A relative artifact path as a request names it; MLflow's exact 400 ``Invalid path``
    for one that leaves its root (``..``, absolute, a drive or a NUL)."""
    text = raw or ""
    parts = text.replace("\\", "/").split("/")
    if (
        "\x00" in text
        or text.startswith(("/", "\\"))
        or ".." in parts
        or re.match(r"^[A-Za-z]:", text)
        or _ENCODED_ESCAPE.search(text)
    ):
        raise InvalidParameterValue("Invalid path")
    return text


def mime_type(name: str) -> str:
    """The Content-Type MLflow serves an artifact named ``name`` with (never the client's
    ``Accept``)."""
    stem, dot, extension = name.rpartition(".")
    if (extension if dot and stem else name).lower() in _TEXT_NAMES:
        return "text/plain"
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return "text/plain" if guessed in _ACTIVE_TYPES or "javascript" in guessed else guessed


def file_response(path: Path) -> Response:
    """One stored file as an attachment, with MLflow's headers: the type from its name,
    ``nosniff``, and the file name as werkzeug writes it (unquoted when it is a token)."""
    name = path.name
    if _TOKEN.match(name):
        disposition = f"attachment; filename={name}"
    else:
        from urllib.parse import quote

        fallback = name.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_")
        disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    headers = {
        "Content-Type": mime_type(name),
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
    }
    return FileResponse(path, headers=headers)


@dataclass(frozen=True)
class ArtifactPath:
    """Where an ``mlflow-artifacts`` path points: a run's artifact or a version snapshot."""

    run_id: str | None
    snapshot: str | None
    relative: str

    @classmethod
    def parse(cls, raw: str) -> ArtifactPath | None:
        """The location, or None for a path outside every run (it lists as empty)."""
        if "\x00" in raw or raw.startswith(("/", "\\")) or _ENCODED_ESCAPE.search(raw):
            raise InvalidParameterValue(f"Invalid path: {raw!r}")
        parts = raw.replace("\\", "/").split("/")
        if ".." in parts or re.match(r"^[A-Za-z]:", raw):
            raise InvalidParameterValue(f"Invalid path: {raw!r}")
        parts = [p for p in parts if p not in ("", ".")]
        if len(parts) >= 2 and parts[0] == SNAPSHOTS:
            return cls(None, parts[1], validation.artifact_path("/".join(parts[2:])))
        if len(parts) >= 3 and parts[0].isdigit() and parts[2] == "artifacts":
            return cls(parts[1], None, validation.artifact_path("/".join(parts[3:])))
        return None


def snapshot_uri(download_uri: str) -> str:
    """``mlflow-artifacts:/_snapshots/<tree id>`` for a version's extracted directory."""
    return f"mlflow-artifacts:/{SNAPSHOTS}/{download_uri.rstrip('/').rsplit('/', 1)[-1]}"


def _check_run(server: Backend, location: ArtifactPath, raw: str) -> str:
    """The run id, once the run is known to live in the experiment the path names."""
    assert location.run_id is not None
    run = server.client.get_run(validation.run_id(location.run_id))
    if run.info.experiment_id != raw.split("/", 1)[0]:
        raise ResourceDoesNotExist(f"No such artifact: '{raw}'")
    return location.run_id


def _outside(server: Backend, raw: str) -> Path | None:
    """Where a path outside every run lives: under ``--artifacts-destination``, if set."""
    root = server.config.artifacts_destination
    if root is None:
        return None
    relative = validation.artifact_path(raw.replace("\\", "/"))
    return safepath.inside(root, relative, "artifact path") if relative else root


def _list(server: Backend, raw: str) -> dict[str, Any]:
    location = ArtifactPath.parse(raw)
    if location is None:
        directory = _outside(server, raw)
        if directory is None or not directory.is_dir():
            return {}
        infos = artifact_io.list_dir(directory)
        return {"files": [_entry(i.path, i.is_dir, i.file_size) for i in infos]} if infos else {}
    if location.snapshot is not None:
        directory = safepath.inside(
            server.registry.store.snapshot(location.snapshot), location.relative, "artifact path"
        )
        if not directory.is_dir():
            return {}
        entries = sorted(directory.iterdir(), key=lambda p: p.name)
        files = [_entry(p.name, p.is_dir(), p.stat().st_size) for p in entries]
    else:
        try:
            run_id = _check_run(server, location, raw)
        except ResourceDoesNotExist:
            return {}
        infos = server.client.list_artifacts(run_id, location.relative or None)
        prefix = f"{location.relative}/" if location.relative else ""
        files = [_entry(i.path.removeprefix(prefix), i.is_dir, i.file_size) for i in infos]
    return {"files": files} if files else {}


def _entry(path: str, is_dir: bool, size: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"path": path, "is_dir": is_dir}
    if not is_dir and size is not None:
        out["file_size"] = size
    return out


def _stored(server: Backend, raw: str) -> Path:
    location = ArtifactPath.parse(raw)
    if location is None:
        path = _outside(server, raw)
        if path is None or path == server.config.artifacts_destination or not path.is_file():
            raise ResourceDoesNotExist(f"No such artifact: '{raw}'")
        return path
    if not location.relative:
        raise ResourceDoesNotExist(f"No such artifact: '{raw}'")
    if location.snapshot is not None:
        path = safepath.inside(
            server.registry.store.snapshot(location.snapshot), location.relative, "artifact path"
        )
        if path.is_dir():
            raise InvalidParameterValue(f"Artifact path refers to a directory, not a file: '{raw}'")
        if not path.is_file():
            raise ResourceDoesNotExist(f"No such artifact: '{raw}'")
        return path
    try:
        return server.client.get_artifact_file(_check_run(server, location, raw), location.relative)
    except ResourceDoesNotExist:
        raise ResourceDoesNotExist(f"No such artifact: '{raw}'") from None


def _writer(server: Backend, raw: str) -> Any:
    location = ArtifactPath.parse(raw)
    root = server.config.artifacts_destination
    if location is None and root is not None:
        return artifact_io.ArtifactWriter(root, raw)
    if location is None or location.run_id is None:
        raise InvalidParameterValue(
            f"Cannot upload to {raw!r}: artifacts are uploaded to "
            "<experiment_id>/<run_id>/artifacts/<path> (start the server with "
            "--artifacts-destination to accept files outside a run)."
        )
    return server.client.open_artifact_writer(_check_run(server, location, raw), location.relative)


async def list_artifacts(request: Request) -> Response:
    raw = request.query_params.get("path") or ""
    return json_response(await run_in_threadpool(_list, request.app.state.backend, raw))


async def download(request: Request) -> Response:
    raw = request.path_params["path"]
    path = await run_in_threadpool(_stored, request.app.state.backend, raw)
    return file_response(path)


def _run_file(server: Backend, req: Params) -> Path:
    path = check_path(req.string("path"))
    run_id = req.run_id()
    server.client.get_run(run_id)
    return server.client.get_artifact_file(run_id, path)


async def get_artifact(request: Request) -> Response:
    """``GET /get-artifact?run_id=&path=``: one file of a run, as MLflow's UI fetches it."""
    params = await Params.read(request)
    return file_response(await run_in_threadpool(_run_file, request.app.state.backend, params))


def _version_file(server: Backend, req: Params) -> Path:
    path = check_path(req.string("path"))
    root = Path(
        server.registry.get_model_version_download_uri(
            req.required("name"), req.required("version")
        ).removeprefix("file://")
    )
    if not path:
        raise ResourceDoesNotExist("No such artifact: ''")
    target = safepath.inside(root, validation.artifact_path(path), "artifact path")
    if not target.is_file():
        raise ResourceDoesNotExist(f"No such artifact: {path!r}")
    return target


async def get_model_version_artifact(request: Request) -> Response:
    """``GET /model-versions/get-artifact?name=&version=&path=``: one file of a registered
    version, as its git tag holds it."""
    params = await Params.read(request)
    return file_response(await run_in_threadpool(_version_file, request.app.state.backend, params))


def _upload_target(server: Backend, req: Params) -> Any:
    run_id = req.string("run_uuid") or req.string("run_id")
    if not run_id:
        raise InvalidParameterValue("Request must specify run_uuid.")
    path = req.string("path")
    if not path:
        raise InvalidParameterValue("Request must specify path.")
    check_path(path)
    server.client.get_run(run_id)
    return run_id, path


async def upload_artifact(request: Request) -> Response:
    """``POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=&path=``: the body is the file
    (MLflow's UI uploads this way)."""
    server = request.app.state.backend
    fields = request.query_params
    params = Params({key: fields[key] for key in fields})
    run_id, path = await run_in_threadpool(_upload_target, server, params)
    body = await request.body()
    if not body:
        raise InvalidParameterValue("Request must specify data.")
    writer = await run_in_threadpool(server.client.open_artifact_writer, run_id, path)
    try:
        await run_in_threadpool(writer.write, body)
        await run_in_threadpool(writer.close)
    except BaseException:
        writer.discard()
        raise
    return json_response({})


async def upload(request: Request) -> Response:
    """The body goes to disk in batches of at most WRITE_BATCH bytes as it arrives."""
    raw = request.path_params["path"]
    writer = await run_in_threadpool(_writer, request.app.state.backend, raw)
    try:
        pending = bytearray()
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= WRITE_BATCH:
                await run_in_threadpool(writer.write, bytes(pending))
                pending.clear()
        if pending:
            await run_in_threadpool(writer.write, bytes(pending))
        await run_in_threadpool(writer.close)
    except BaseException:
        writer.discard()
        raise
    return Response(status_code=200)


async def multipart_unsupported(request: Request) -> Response:
    """The client falls back to a plain PUT on exactly this answer."""
    error = MltrackError(
        "Multipart upload is not supported for the current artifact repository",
        error_code="NOT_IMPLEMENTED",
    )
    return json_response(error.to_dict(), status_code=501)


_PREFIX = "/api/2.0/mlflow-artifacts"
routes = [
    Route(f"{_PREFIX}/artifacts", list_artifacts, methods=["GET"]),
    Route(f"{_PREFIX}/artifacts/{{path:path}}", download, methods=["GET"]),
    Route(f"{_PREFIX}/artifacts/{{path:path}}", upload, methods=["PUT"]),
    Route(f"{_PREFIX}/mpu/{{action:str}}/{{path:path}}", multipart_unsupported, methods=["POST"]),
    Route("/get-artifact", get_artifact, methods=["GET"]),
    Route("/model-versions/get-artifact", get_model_version_artifact, methods=["GET"]),
    Route("/api/2.0/mlflow/upload-artifact", upload_artifact, methods=["POST"]),
]
