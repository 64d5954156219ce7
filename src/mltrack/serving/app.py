"""The scoring server's ASGI application: ``/ping``, ``/health``, ``/version``, ``/invocations``.

Built directly on Starlette (the layer FastAPI is made of) because the server
needs none of FastAPI's request models and validation, and skipping them and
pydantic saves a third of a second at start-up. Every error becomes a JSON
``{"error_code", "message"}`` response in one place, ``EXCEPTION_HANDLERS``:
mltrack's errors with their own status (400, 404, 413, 415, …), routing errors
(404, 405) with theirs, anything unexpected as a 500 — the server never stops
serving because of a request.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from mltrack import __version__
from mltrack.exceptions import MltrackError, RequestTooLarge
from mltrack.http_guard import OriginPolicy, middleware, redact
from mltrack.serving.served import Reloader, ServedModel

__all__ = ["DEFAULT_MAX_BODY_SIZE", "EXCEPTION_HANDLERS", "create_app"]

DEFAULT_MAX_BODY_SIZE = 50 * 1024 * 1024
INLINE_BODY_SIZE = 16 * 1024  # bytes of request body a request may have to run on the loop
INLINE_SECONDS = 0.002  # the previous request's time below which the next may run on the loop
JSON = "application/json"
logger = logging.getLogger("mltrack.serving")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error_code": code, "message": message}).encode()
    return Response(body, status_code=status, media_type=JSON, headers=headers)


# ---------------------------------------------------------------------- routes


async def ping(request: Request) -> Response:
    """200 once the model is loaded (the app only exists after that); MLflow's body."""
    return Response(b"\n", media_type=JSON)


async def health(request: Request) -> Response:
    served: ServedModel = request.app.state.served
    loaded = served.loaded
    body = {
        "status": "ok",
        "model_uri": served.uri,
        "model": loaded.description,
        "model_id": loaded.model.model_id,
        "loaded_at": loaded.loaded_at,
    }
    return Response(json.dumps(body).encode(), media_type=JSON)


async def version(request: Request) -> Response:
    return Response(__version__, media_type="text/plain")


def _too_large(size: str, limit: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"The request body is {size}; this server accepts at most {limit} bytes "
        "(--max-body-size). Split the input into smaller requests."
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, never holding more than ``limit`` bytes of it.

    Past the limit the rest is read and dropped, up to ``limit`` more bytes,
    before the 413 goes out: a server that answers and closes while the client
    is still sending makes the kernel reset the connection, and the client
    never sees the answer (nginx's "lingering close" does the same). A body
    declared larger than that is refused before any of it is read.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > 2 * limit:
        raise _too_large(f"{int(declared)} bytes", limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > 2 * limit:
            break
    if size > limit:
        raise _too_large(f"{size} bytes" if declared else f"over {limit} bytes", limit)
    return b"".join(chunks)


async def invocations(request: Request) -> Response:
    body = await _read_body(request, request.app.state.max_body_size)
    served: ServedModel = request.app.state.served
    content_type = request.headers.get("content-type")
    pace: InvokePace = request.app.state.invoke_pace
    if len(body) <= INLINE_BODY_SIZE and pace.fast:
        # A small request to a model that has been answering fast: handing it to a worker
        # thread and back would cost more than the prediction itself.
        content = pace.invoke(served, body, content_type)
    else:
        content = await run_in_threadpool(pace.invoke, served, body, content_type)
    return Response(content, media_type=JSON)


class InvokePace:
    """Runs ``/invocations`` and remembers whether the last one was fast, to decide where the
    next one runs.

    A request runs on the event loop itself only while the previous one (of any size) took
    under ``limit`` seconds in the model's code; one slow answer sends the following requests
    to the worker threads, so a model that turns slow blocks the loop (``/ping`` included) at
    most once, for that one request. The first request always goes to a thread.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.fast = False

    def invoke(self, served: ServedModel, body: bytes, content_type: str | None) -> bytes:
        started = time.perf_counter()
        try:
            return served.invoke(body, content_type)
        finally:
            self.fast = time.perf_counter() - started < self.limit


# ---------------------------------------------------------------------- errors


def _redacted(request: Request, message: str) -> str:
    """The message without the server's own paths (the model's directory, the repository)."""
    served: ServedModel = request.app.state.served
    return redact(message, [served.loaded.model.path, Path.cwd()])


async def _mltrack_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, MltrackError)
    if error.http_status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, error)
    return _error(error.http_status, error.error_code, _redacted(request, error.message))


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        allowed = (error.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {request.url.path}; use {allowed}."
        return _error(405, "BAD_REQUEST", message, {"Allow": allowed})
    if error.status_code == 404:
        message = (
            f"No endpoint {request.url.path}: this server has /ping, /health, /version "
            "and POST /invocations."
        )
        return _error(404, "ENDPOINT_NOT_FOUND", message)
    return _error(error.status_code, "BAD_REQUEST", str(error.detail))


async def _client_gone(request: Request, error: Exception) -> Response:
    # The client hung up while sending its body: nobody will read this answer, and it is
    # routine enough not to log a traceback for.
    return _error(400, "BAD_REQUEST", "The client disconnected before sending the whole body.")


async def _unexpected_error(request: Request, error: Exception) -> Response:
    # Starlette re-raises after sending this response, so the server logs the traceback.
    # The model's own error text helps the caller fix the input; the paths in it do not.
    message = _redacted(request, f"Unexpected {type(error).__name__} while serving: {error}")
    return _error(500, "INTERNAL_ERROR", message)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    MltrackError: _mltrack_error,
    HTTPException: _http_error,
    ClientDisconnect: _client_gone,
    Exception: _unexpected_error,
}


def create_app(
    served: ServedModel,
    *,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    reload_interval: float | None = None,
    origin_policy: OriginPolicy | None = None,
) -> Starlette:
    """The scoring server around an already loaded model.

    With ``reload_interval`` and a URI that names a stage, alias or 'latest',
    a background thread follows promotions (see :mod:`mltrack.serving.served`).
    ``origin_policy`` (default: a server bound to 127.0.0.1) guards hosts and
    origins as :mod:`mltrack.http_guard` describes.
    """
    reloader = (
        Reloader(served, reload_interval) if reload_interval and served.follows_registry else None
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if reloader is not None:
            reloader.start()
        try:
            yield
        finally:
            if reloader is not None:
                reloader.stop()

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
        middleware=middleware(origin_policy or OriginPolicy.for_bind("127.0.0.1")),
    )
    app.state.served = served
    app.state.max_body_size = max_body_size
    app.state.invoke_pace = InvokePace(INLINE_SECONDS)
    return app
