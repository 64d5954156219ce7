"""The web UI: server-rendered pages over the library, mounted at ``/`` of ``mltrack server``.

One module per page family (experiments and the runs table, a run and its artifacts,
metric charts, compare, registry, git timeline); ``templating`` renders Jinja2
templates with autoescaping on, ``safety`` holds the CSRF check and the artifact path
resolution. Every asset (templates, CSS, the chart script) ships in the wheel; pages
make no request outside this server.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

__all__ = ["routes"]


def routes() -> list[BaseRoute]:
    """Every UI route, for ``mltrack.server.app.create_app`` to mount beside the REST API."""
    from pathlib import Path

    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from mltrack.ui import charts, compare, experiments, registry, runs, timeline

    static = StaticFiles(directory=Path(__file__).parent / "static")
    return [
        *experiments.routes,
        *runs.routes,
        *charts.routes,
        *compare.routes,
        *registry.routes,
        *timeline.routes,
        Mount("/static/ui", app=static, name="ui-static"),
    ]
