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
from mltrack.server.protocol import json_response
from mltrack.store import validation

__all__ = ["SNAPSHOTS", "routes", "snapshot_uri"]

SNAPSHOTS = "_snapshots"
WRITE_BATCH = 1 << 20  # bytes handed to the writer thread at a time
_ENCODED_ESCAPE = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)


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


def _list(server: Backend, raw: str) -> dict[str, Any]:
    location = ArtifactPath.parse(raw)
    if location is None:
        return {}
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
    if location is None or not location.relative:
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
    if location is None or location.run_id is None:
        raise InvalidParameterValue(
            f"Cannot upload to {raw!r}: artifacts are uploaded to "
            "<experiment_id>/<run_id>/artifacts/<path>."
        )
    return server.client.open_artifact_writer(_check_run(server, location, raw), location.relative)


async def list_artifacts(request: Request) -> Response:
    raw = request.query_params.get("path") or ""
    return json_response(await run_in_threadpool(_list, request.app.state.backend, raw))


async def download(request: Request) -> Response:
    raw = request.path_params["path"]
    path = await run_in_threadpool(_stored, request.app.state.backend, raw)
    return FileResponse(path, filename=path.name)


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
]
