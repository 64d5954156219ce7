"""``mltrack server --auth``: who is asking, and may they? An ASGI middleware before every route.

For each request, before any route (API, artifacts, the web UI) runs:

1. ``/health``, ``/version`` and ``server-info`` are public; everything else
   needs credentials as the MLflow client sends them: HTTP basic
   (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``) or a bearer token
   (``MLFLOW_TRACKING_TOKEN``, made by ``mltrack users token``). None or wrong:
   401 ``UNAUTHENTICATED`` with ``WWW-Authenticate: Basic``.
2. The route's permission (:mod:`mltrack.server.policy`) is checked against the
   user; refused: 403 ``PERMISSION_DENIED``, and the route never runs.
3. The route runs *authored by* the user (:mod:`mltrack.authorship`): the
   commits and tags it makes name them as git author.
4. Searches are cut down to what the user may read; creating an experiment or a
   registered model grants its creator MANAGE.

Wrong passwords are slowed down per user name and per client address
(:class:`Throttle`) by ``asyncio.sleep``, so the event loop keeps serving
everyone else; the argon2 check itself runs in the thread pool.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool

from mltrack.authorship import authored_by
from mltrack.exceptions import InvalidParameterValue, MltrackError, Unauthenticated
from mltrack.server.credentials import Credentials, User
from mltrack.server.policy import Access, Policy, Route, author_of
from mltrack.server.protocol import Params

__all__ = ["USER_SCOPE_KEY", "AuthMiddleware", "Throttle"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

USER_SCOPE_KEY = "mltrack.user"
_CHALLENGE = 'Basic realm="mltrack"'
_NOT_AUTHENTICATED = (
    "You are not authenticated. Send a user name and password (MLFLOW_TRACKING_USERNAME and "
    "MLFLOW_TRACKING_PASSWORD) or a token (MLFLOW_TRACKING_TOKEN)."
)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    next_slot: float = 0.0


@dataclass
class Throttle:
    """Slows down guessing: after ``free`` wrong attempts on a user name or from an address,
    each further attempt waits its turn, ``base`` seconds doubling per failure up to
    ``ceiling``. Parallel guesses queue behind each other. A success clears the user
    name; an address is forgotten after ``forget_after`` quiet seconds."""

    free: int = 3
    base: float = 0.25
    ceiling: float = 8.0
    forget_after: float = 900.0
    capacity: int = 10_000
    _seen: dict[str, _Failures] = field(default_factory=dict)

    def reserve(self, keys: list[str], now: float | None = None) -> float:
        """Seconds this attempt must wait before its password is checked."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        for key in keys:
            entry = self._seen.get(key)
            if entry is None or now - entry.last > self.forget_after:
                continue
            if entry.count >= self.free:
                delay = min(self.base * 2 ** (entry.count - self.free), self.ceiling)
                slot = max(now, entry.next_slot)
                entry.next_slot = slot + delay
                wait = max(wait, slot + delay - now)
        return wait

    def failed(self, keys: list[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if len(self._seen) >= self.capacity:
            cutoff = now - self.forget_after
            self._seen = {k: v for k, v in self._seen.items() if v.last >= cutoff}
            if len(self._seen) >= self.capacity:
                self._seen.clear()
        for key in keys:
            entry = self._seen.setdefault(key, _Failures())
            if now - entry.last > self.forget_after:
                entry.count = 0
            entry.count += 1
            entry.last = now

    def succeeded(self, username: str) -> None:
        self._seen.pop(f"user:{username}", None)


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:?"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _error(scope: Scope, send: Send, error: MltrackError) -> None:
    body = json.dumps(error.to_dict()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if error.http_status == 401:
        headers.append((b"www-authenticate", _CHALLENGE.encode()))
    await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole request body (the body limit bounds it), and a disconnect seen while reading."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _fields(scope: Scope, body: bytes) -> Params:
    """The request's fields as the routes read them (query for GET, else the JSON body)."""
    if scope["method"] in ("GET", "HEAD"):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        return Params({k: v[0] if len(v) == 1 else v for k, v in query.items()})
    if not body.strip():
        return Params({})
    try:
        data = json.loads(body)
    except ValueError as error:
        raise InvalidParameterValue(f"Malformed JSON request body: {error}") from None
    if not isinstance(data, dict):
        raise InvalidParameterValue("The request body must be a JSON object.")
    return Params(data)


class AuthMiddleware:
    """Authenticates and authorises every request before ``app`` sees it."""

    def __init__(self, app: ASGIApp, policy: Policy, throttle: Throttle | None = None) -> None:
        self.app = app
        self.policy = policy
        self.throttle = throttle or Throttle()

    @property
    def credentials(self) -> Credentials:
        return self.policy.credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.policy.is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            login = _login(scope)
            route = self.policy.route(scope["method"], scope["path"])
            body = None
            if route.reads_fields or route.after is not None:
                body, disconnect = await _read_body(receive)
                receive = _replay(body, disconnect, receive)
            # One trip to the thread pool for the usual case: a known token, or a password
            # this process verified lately, and the permission check.
            user, params = await run_in_threadpool(self._admit, login, route, scope, body)
            if user is None:
                user = await self._verify(scope, login)
                params = await run_in_threadpool(self._check, user, route, scope, body)
        except MltrackError as error:
            await _error(scope, send, error)
            return
        scope[USER_SCOPE_KEY] = user
        if (route.answer_filter is not None and not user.is_admin) or route.after is not None:
            send = _Rewriter(send, route, Access(self.policy, user), params).send
        with authored_by(author_of(user)):
            await self.app(scope, receive, send)

    def _admit(
        self, login: _Login, route: Route, scope: Scope, body: bytes | None
    ) -> tuple[User | None, Params]:
        """The user and the request's fields, checked; (None, …) when the cheap checks cannot tell."""
        if login.token is not None:
            user = self.credentials.user_for_token(login.token)
        else:
            user = self.credentials.remembered(login.username, login.password)
        if user is None:
            return None, Params({})
        return user, self._check(user, route, scope, body)

    def _check(self, user: User, route: Route, scope: Scope, body: bytes | None) -> Params:
        params = _fields(scope, body) if body is not None else Params({})
        if not user.is_admin:
            route.check(Access(self.policy, user), params)
        return params

    async def _verify(self, scope: Scope, login: _Login) -> User:
        """The slow path: a password to hash (throttled), or a token that matched nobody."""
        address = _client_address(scope)
        if login.token is not None:
            self.throttle.failed([address])
            await self._wait([address])
            raise Unauthenticated("Invalid or revoked token. " + _NOT_AUTHENTICATED)
        keys = [f"user:{login.username}", address]
        await self._wait(keys)
        user = await run_in_threadpool(
            self.credentials.authenticate, login.username, login.password
        )
        if user is None:
            self.throttle.failed(keys)
            raise Unauthenticated(_NOT_AUTHENTICATED)
        self.throttle.succeeded(login.username)
        return user

    async def _wait(self, keys: list[str]) -> None:
        wait = self.throttle.reserve(keys)
        if wait > 0:
            await asyncio.sleep(wait)


@dataclass(frozen=True)
class _Login:
    """What the Authorization header claims: a user name and password, or a token."""

    username: str = ""
    password: str = ""
    token: str | None = None


def _login(scope: Scope) -> _Login:
    header = _header(scope, b"authorization")
    if not header:
        raise Unauthenticated(_NOT_AUTHENTICATED)
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return _Login(token=value.strip())
    if scheme.lower() != "basic":
        raise Unauthenticated(_NOT_AUTHENTICATED)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("Malformed basic authorization header.") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise Unauthenticated("Malformed basic authorization header.")
    return _Login(username, password)


def _replay(body: bytes, disconnect: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that hands the route the body already read, then the real channel."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if disconnect is not None:
        pending.append(disconnect)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


class _Rewriter:
    """Holds back a JSON answer to filter it (searches) or act on it (grants after creation)."""

    def __init__(self, send: Send, route: Route, access: Access, params: Params) -> None:
        self._send = send
        self.route = route
        self.access = access
        self.params = params
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self._send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self.chunks)
        if self.start["status"] == 200:
            body = await run_in_threadpool(self._rewrite, body)
        headers = [(k, v) for k, v in self.start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", b"%d" % len(body)))
        await self._send({**self.start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})

    def _rewrite(self, body: bytes) -> bytes:
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return body
        if not isinstance(payload, dict):
            return body
        if self.route.after is not None:
            self.route.after(self.access.policy, self.access.user, self.params, payload)
        if self.route.answer_filter is None or self.access.user.is_admin:
            return body
        filtered = self.route.answer_filter(self.access, payload)
        return json.dumps(filtered, separators=(",", ":")).encode()
