"""What both HTTP servers (``mltrack server``, ``mltrack models serve``) refuse before routing.

The rules follow MLflow 3's server security middleware, so a deployment
configured for ``mlflow server`` behaves the same here:

- **Host header** (DNS rebinding): a page on ``evil.example`` whose name was
  re-pointed at 127.0.0.1 sends ``Host: evil.example``; only allowed hosts get
  through (default: localhost names, private-network addresses and the address
  the server binds; ``--allowed-hosts`` replaces them, ``*`` allows any).
  ``/health``, ``/version`` and ``/ping`` answer any host, for load balancers.
- **Cross-origin writes**: a browser sends a "simple" ``text/plain`` POST from
  any page without asking first, so a POST, PUT, PATCH or DELETE whose
  ``Origin`` is neither localhost nor in ``--cors-allowed-origins`` gets 403.
  Allowed origins get CORS headers (preflights answered); ``*`` allows all,
  without credentials.
- Every response says ``X-Content-Type-Options: nosniff`` and
  ``X-Frame-Options: SAMEORIGIN``.

Refusals are JSON ``{"error_code": "PERMISSION_DENIED", "message"}`` with 403,
like every other error of the two servers. :func:`redact` keeps a server's own
file system paths out of error messages. A separate, composable piece: the
servers list :func:`middleware` first and may add their own after it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["OriginGuard", "OriginPolicy", "middleware", "parse_list", "redact"]

logger = logging.getLogger("mltrack.http")

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1", "0.0.0.0")
# RFC 1918 and RFC 4193 networks, as MLflow allows them by default.
PRIVATE_HOSTS = ("10.*", "192.168.*", *(f"172.{n}.*" for n in range(16, 32)), "fc*:*", "fd*:*")
UNGUARDED_PATHS = frozenset({"/health", "/version", "/ping"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOCAL_ORIGIN = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?$"


def parse_list(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"a, b"`` (a flag or an environment variable) or a list, as a tuple of non-empty items."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(item.strip() for item in items if item.strip())


@dataclass(frozen=True)
class OriginPolicy:
    """Which ``Host`` headers and which cross-origin writers a server accepts."""

    allowed_hosts: tuple[str, ...]
    allowed_origins: tuple[str, ...] = ()

    @classmethod
    def for_bind(
        cls,
        bind_host: str,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
    ) -> OriginPolicy:
        """The defaults for a server bound to ``bind_host``, unless hosts are given."""
        hosts = tuple(allowed_hosts)
        if not hosts:
            hosts = (*LOCAL_HOSTS, *PRIVATE_HOSTS, bind_host.lower())
        return cls(hosts, tuple(allowed_origins))

    def host_allowed(self, host_header: str) -> bool:
        if "*" in self.allowed_hosts:
            return True
        header = host_header.strip().lower()
        if not header:
            return False
        name = _host_name(header)
        return any(
            _wildcard(pattern.lower()).fullmatch(candidate)
            for pattern in self.allowed_hosts
            for candidate in (header, name)
        )

    def origin_allowed(self, origin: str) -> bool:
        if "*" in self.allowed_origins or _is_local_origin(origin):
            return True
        return any(_wildcard(pattern).fullmatch(origin) for pattern in self.allowed_origins)


def _wildcard(pattern: str) -> re.Pattern[str]:
    """``*`` matches anything; every other character, ``[`` of ``[::1]`` included, itself."""
    return re.compile(re.escape(pattern).replace(r"\*", ".*"))


def _host_name(header: str) -> str:
    """``example.com:5000`` → ``example.com``; ``[::1]:5000`` → ``[::1]``."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header


def _is_local_origin(origin: str) -> bool:
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _forbidden(message: str) -> tuple[Message, Message]:
    body = json.dumps({"error_code": "PERMISSION_DENIED", "message": message}).encode()
    start: Message = {
        "type": "http.response.start",
        "status": 403,
        "headers": [(b"content-type", b"application/json"), *_SECURITY_HEADERS],
    }
    return start, {"type": "http.response.body", "body": body}


_SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"SAMEORIGIN")]


class OriginGuard:
    """Raw ASGI middleware: refuse foreign hosts and cross-origin writes, add security headers."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name: value for name, value in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            for message in _forbidden(refusal):
                await send(message)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(header for header in _SECURITY_HEADERS if header[0] not in present),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        host = headers.get(b"host", b"").decode("latin-1")
        if scope["path"] not in UNGUARDED_PATHS and not self.policy.host_allowed(host):
            logger.warning("Refused a request for host %r (not in --allowed-hosts)", host)
            return (
                f"Host {host!r} is not allowed (a possible DNS rebinding attack). If this "
                "server is meant to be reached by that name, start it with --allowed-hosts."
            )
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin and scope["method"] in STATE_CHANGING and not self.policy.origin_allowed(origin):
            logger.warning("Refused a cross-origin %s from %r", scope["method"], origin)
            return (
                f"Cross-origin {scope['method']} from {origin!r} refused. To allow that "
                "origin, start the server with --cors-allowed-origins."
            )
        return None


def middleware(policy: OriginPolicy) -> list[Middleware]:
    """The guard, then CORS answers for the allowed origins (outermost first)."""
    wildcard = "*" in policy.allowed_origins
    patterns = [_LOCAL_ORIGIN, *(_wildcard(p).pattern for p in policy.allowed_origins)]
    cors: dict[str, Any] = {
        "allow_origins": ["*"] if wildcard else [],
        "allow_origin_regex": None if wildcard else "|".join(f"(?:{p})" for p in patterns),
        "allow_credentials": not wildcard,
        "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        "allow_headers": ["*"],
    }
    return [Middleware(OriginGuard, policy=policy), Middleware(CORSMiddleware, **cors)]


def redact(message: str, roots: Iterable[Path]) -> str:
    """``message`` with each root's absolute path cut off, so it names files relative to it."""
    for root in roots:
        for spelling in {str(root), str(root.resolve())}:
            if len(spelling) > 1:
                message = message.replace(f"{spelling}/", "").replace(spelling, ".")
    return message
