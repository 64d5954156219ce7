"""The tracking server's ASGI app: routes, the one error table, and how it is served.

Every error becomes MLflow's JSON error body here and nowhere else: an
``MltrackError`` carries its ``error_code`` and HTTP status; an unknown API route
is 404 ``ENDPOINT_NOT_FOUND``; anything unexpected is 500 ``INTERNAL_ERROR``.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from mltrack import __version__, http_guard, ui
from mltrack.exceptions import MltrackError
from mltrack.server import artifacts, logged_models, registry, tracking
from mltrack.server.backend import Backend
from mltrack.server.config import ServerConfig
from mltrack.server.limits import BodyLimit
from mltrack.server.protocol import json_response
from mltrack.sockets import adopt

__all__ = ["app_from_env", "create_app", "serve"]

logger = logging.getLogger("mltrack.server")


_LEADING_SLASHES = re.compile(r"^//+")


class MergeSlashes:
    """``//model-versions/get-artifact`` is ``/model-versions/get-artifact``, as in MLflow's
    server (a client joining a base URL ending in ``/``); done first, so every later check
    sees the same path. Slashes inside a path stay: ``artifacts//etc`` is refused as absolute."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].startswith("//"):
            scope = {**scope, "path": _LEADING_SLASHES.sub("/", scope["path"])}
            if scope.get("raw_path"):
                scope["raw_path"] = re.sub(rb"^//+", b"/", scope["raw_path"])
        await self.app(scope, receive, send)


def ajax_aliases(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Each ``/api/2.0/mlflow/...`` route also under ``/ajax-api/2.0/mlflow/...``, the prefix
    MLflow's web UI calls."""
    return [
        Route(
            "/ajax-api" + route.path.removeprefix("/api"),
            route.endpoint,
            methods=sorted(route.methods or ()),
        )
        for route in routes
        if isinstance(route, Route) and route.path.startswith(("/api/2.0/mlflow/", "/api/3.0/"))
    ]


async def health(request: Request) -> Response:
    return PlainTextResponse("OK")


async def version(request: Request) -> Response:
    return PlainTextResponse(__version__)


async def graphql(request: Request) -> Response:
    """MLflow's ``/graphql`` (its web UI's run pages and charts); graphql-core is imported on
    the first request."""
    from mltrack.server.graphql_api import answer

    return await answer(request)


async def server_info(request: Request) -> Response:
    return json_response(
        {
            "store_type": "mltrack",
            "artifact_serving_enabled": True,
            "workspaces_enabled": False,
            "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
        }
    )


# ---------------------------------------------------------------------- the error table


async def library_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, MltrackError)
    body = error.to_dict()
    body["message"] = http_guard.redact(error.message, [request.app.state.backend.config.repo_root])
    return json_response(body, status_code=error.http_status)


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        code = "ENDPOINT_NOT_FOUND"
        message = (
            f"No endpoint {request.method} {request.url.path} on this mltrack server "
            "(it serves MLflow's REST API under /api/2.0/mlflow/ and /api/2.0/mlflow-artifacts/)."
        )
    elif error.status_code == 405:
        code = "BAD_REQUEST"
        message = f"Method {request.method} is not allowed on {request.url.path}."
    else:
        code, message = "BAD_REQUEST", str(error.detail)
    return json_response({"error_code": code, "message": message}, error.status_code)


async def unexpected_error(request: Request, error: Exception) -> Response:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
    # The error's text may name the server's files; the log has it, the client does not.
    message = f"Unexpected {type(error).__name__}; the server's log has the details."
    return json_response({"error_code": "INTERNAL_ERROR", "message": message}, 500)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    MltrackError: library_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}


# ---------------------------------------------------------------------- the app


def create_app(config: ServerConfig) -> Starlette:
    """The app: MLflow's REST API; with ``config.auth_db``, behind authentication (``--auth``)."""
    api: list[BaseRoute] = [
        Route("/api/3.0/mlflow/server-info", server_info, methods=["GET"]),
        *tracking.routes,
        *logged_models.routes,
        *registry.routes,
        *artifacts.routes,
    ]
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        *api,
        *ajax_aliases(api),
        *ui.routes(),  # the web UI at /, beside the REST API
    ]
    backend = Backend(config)
    outermost: list[Middleware] = []
    if config.mlflow_ui is not None:
        from mltrack.server import mlflow_ui

        routes += mlflow_ui.routes(config.mlflow_ui)
        outermost.append(Middleware(mlflow_ui.MlflowUiPaths))
    # Outermost first: foreign hosts and origins, then oversized bodies, then who is asking.
    middleware = [
        Middleware(MergeSlashes),
        *outermost,
        *http_guard.middleware(config.origin_policy()),
        Middleware(BodyLimit),
    ]
    policy = None
    if config.auth_db is not None:
        from mltrack.server import access
        from mltrack.server.auth import AuthMiddleware
        from mltrack.server.credentials import Credentials
        from mltrack.server.permissions import permission_named
        from mltrack.server.policy import Policy

        policy = Policy(
            Credentials(config.auth_db), backend, permission_named(config.default_permission)
        )
        routes += access.routes
        middleware.append(Middleware(AuthMiddleware, policy=policy))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS)
    app.state.backend = backend
    app.state.policy = policy
    return app


def app_from_env() -> Starlette:
    """The app of one uvicorn worker process (``--workers N``), configured by the environment."""
    from mltrack.workers import die_with_supervisor

    config = ServerConfig.from_env()
    if config.workers > 1 and config.owner_pid is not None:
        die_with_supervisor(config.owner_pid)
    return create_app(config)


def serve(config: ServerConfig, log_level: str = "warning") -> None:
    """Run uvicorn until interrupted: in this process, or in ``config.workers`` processes."""
    import uvicorn

    options: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "log_level": log_level,
        "access_log": False,
        "timeout_keep_alive": 30,
    }
    if config.ssl_certfile is not None:
        options.update(ssl_certfile=str(config.ssl_certfile), ssl_keyfile=str(config.ssl_keyfile))
    if config.fd is not None:
        _serve_on(adopt(config.fd), config, options)
    elif config.workers > 1:
        os.environ.update(config.to_env())
        uvicorn.run(
            "mltrack.server.app:app_from_env", factory=True, workers=config.workers, **options
        )
    else:
        uvicorn.run(create_app(config), **options)


def _serve_on(sock: socket.socket, config: ServerConfig, options: dict[str, Any]) -> None:
    """Serve on a socket bound by another process (``--fd``), in one or ``workers`` processes."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    try:
        if config.workers > 1:
            os.environ.update(config.to_env())
            factory = "mltrack.server.app:app_from_env"
            settings = uvicorn.Config(factory, factory=True, workers=config.workers, **options)
            Multiprocess(settings, sockets=[sock]).run()
        else:
            uvicorn.Server(uvicorn.Config(create_app(config), **options)).run(sockets=[sock])
    finally:
        sock.close()
