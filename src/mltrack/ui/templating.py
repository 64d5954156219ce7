"""Rendering pages: one Jinja2 environment with autoescaping, the shared filters, CSRF tokens.

Autoescaping is on for every template, so run names, tags, params and artifact
contents are always text; the only values marked safe are built here.
Mutating forms carry a CSRF token checked against a ``SameSite=Strict`` cookie
(double submit), so another site cannot make a browser promote a model.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse

from mltrack.exceptions import InvalidParameterValue, RequestTooLarge, UnsupportedMediaType

if TYPE_CHECKING:
    import jinja2

    from mltrack.server.backend import Backend

__all__ = ["backend", "check_csrf", "render"]

CSRF_COOKIE = "mltrack_csrf"
CSRF_FIELD = "csrf_token"


def backend(request: Request) -> Backend:
    found: Backend = request.app.state.backend
    return found


def format_time(ms: int | None) -> str:
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def format_seconds(seconds: int | None) -> str:
    return format_time(seconds * 1000) if seconds else ""


def format_duration(start: int | None, end: int | None) -> str:
    if not start or not end or end < start:
        return ""
    seconds = (end - start) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.6g}"
    return str(value)


def query(request: Request, **changes: Any) -> str:
    """This page's query string with ``changes`` applied (None removes a parameter)."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    for key, value in changes.items():
        if value is None or value == "":
            continue
        if isinstance(value, (list, tuple)):
            items += [(key, str(v)) for v in value]
        else:
            items.append((key, str(value)))
    return "?" + urlencode(items) if items else "?"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mltrack.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        time=format_time,
        seconds=format_seconds,
        value=format_value,
        short=lambda text, n=8: (text or "")[:n],
    )
    env.globals.update(duration=format_duration, query=query, csrf_field=CSRF_FIELD)
    return env


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """The page, with the CSRF cookie set if the browser has none yet."""
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    html = (
        environment()
        .get_template(template)
        .render(request=request, csrf_token=token, path=request.url.path, **context)
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if CSRF_COOKIE not in request.cookies:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict")
    return response


def check_csrf(request: Request, form: Any) -> None:
    """Refuse a POST whose form token does not match the browser's cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = str(form.get(CSRF_FIELD) or "")
    if not cookie or not sent or not secrets.compare_digest(cookie, sent):
        raise InvalidParameterValue(
            "The form's CSRF token is missing or stale: reload the page and submit it again."
        )


MAX_FORM_BYTES = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """A URL-encoded form (the only kind the UI posts; no multipart parser needed)."""
    from urllib.parse import parse_qsl

    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("The UI's forms are posted URL-encoded.")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise RequestTooLarge(f"The form is larger than {MAX_FORM_BYTES} bytes.")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def page(handler: Any) -> Any:
    """A UI endpoint: ``handler(request)`` runs in a worker thread; library errors become an
    HTML page with their HTTP status (the REST API keeps its JSON error table)."""
    import functools

    from starlette.concurrency import run_in_threadpool

    from mltrack.exceptions import MltrackError

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Any:
        try:
            if request.method == "POST":
                call = functools.partial(handler, request, await read_form(request))
            else:
                call = functools.partial(handler, request)
            return await run_in_threadpool(call)
        except MltrackError as error:
            return render(
                request,
                "error.html",
                {"title": "Error", "message": error.message},
                status_code=error.http_status,
            )

    return endpoint
