"""``mltrack server --mlflow-ui``: MLflow's own web UI, from an installed MLflow, at ``/mlflow/``.

MLflow ships its UI built (``mlflow/server/js/build``); every URL it asks is relative
to its page: ``static-files/...`` for its scripts, ``ajax-api/...``, ``graphql``,
``get-artifact`` and ``model-versions/get-artifact`` for data. Served at
``/mlflow/``, those resolve to ``/mlflow/ajax-api/...`` and so on, which
:class:`MlflowUiPaths` hands to the routes at the root — the same routes, and with
``--auth`` the same checks, as every other client. mltrack's own UI stays at ``/``.

MLflow is located, not imported (importing it takes seconds and is not needed).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mltrack.exceptions import InvalidParameterValue

__all__ = ["PREFIX", "MlflowUiPaths", "build_directory", "routes"]

PREFIX = "/mlflow"
_DATA_PATHS = ("/ajax-api/", "/graphql", "/get-artifact", "/model-versions/get-artifact")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def build_directory() -> Path:
    """The installed MLflow's built web UI; refused with what to install when there is none."""
    spec = importlib.util.find_spec("mlflow")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        build = Path(location) / "server" / "js" / "build"
        if (build / "index.html").is_file():
            return build
    missing = (
        "this MLflow has no built UI (mlflow/server/js/build)."
        if locations
        else "MLflow is not installed here: `pip install mlflow`."
    )
    raise InvalidParameterValue(
        f"--mlflow-ui serves MLflow's own web UI from an installed MLflow, and {missing}"
    )


def routes(build: Path) -> list[BaseRoute]:
    index = build / "index.html"

    async def page(request: Request) -> Response:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    async def to_page(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/")

    return [
        Route(PREFIX, to_page, methods=["GET"]),
        Route(f"{PREFIX}/", page, methods=["GET"]),
        Mount(f"{PREFIX}/static-files", app=StaticFiles(directory=build), name="mlflow-ui-static"),
    ]


class MlflowUiPaths:
    """``/mlflow/ajax-api/...`` (and ``graphql``, ``get-artifact``) is ``/ajax-api/...``: the
    UI's relative requests from ``/mlflow/``. Runs before everything else, so host, origin
    and permission checks see the path the route has."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(PREFIX + "/") and path[len(PREFIX) :].startswith(_DATA_PATHS):
            scope = {**scope, "path": path[len(PREFIX) :]}
            raw = scope.get("raw_path")
            if raw and raw.startswith(PREFIX.encode()):
                scope["raw_path"] = raw[len(PREFIX) :]
        await self.app(scope, receive, send)
