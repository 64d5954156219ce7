"""Request body limits on every route: an ASGI middleware in front of everything else.

Artifact uploads (``PUT /api/2.0/mlflow-artifacts/artifacts/...``) may be as
large as ``max_upload_bytes`` (models are big, and they are streamed to disk);
every other request (JSON API calls, the web UI's forms) at most
``max_request_bytes``. A declared ``Content-Length`` over the limit is refused
with 413 ``RESOURCE_LIMIT_EXCEEDED`` before anything is read; a body that
streams past it without one fails the same way as soon as it does, before the
route acts on it (uploads are written to a temporary file that is then
discarded).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mltrack.exceptions import RequestTooLarge

__all__ = ["MAX_REQUEST_BYTES", "MAX_UPLOAD_BYTES", "BodyLimit"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_REQUEST_BYTES = 16 << 20
MAX_UPLOAD_BYTES = 20 << 30
_UPLOADS = "/api/2.0/mlflow-artifacts/artifacts/"


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes

    def limit(self, scope: Scope) -> int:
        upload = scope["method"] == "PUT" and scope["path"].startswith(_UPLOADS)
        return self.max_upload_bytes if upload else self.max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, _too_large(limit))
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"Request body is larger than this server accepts ({limit} bytes).")


async def _refuse(send: Send, error: RequestTooLarge) -> None:
    body = json.dumps(error.to_dict()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.http_status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
