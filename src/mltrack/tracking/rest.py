"""The HTTP transport of the remote client: MLflow's REST API, with retries and credentials.

Built on the standard library's ``urllib`` so that a training machine with only
mltrack installed can log to a server (no HTTP client becomes a runtime
dependency). Transient failures — connection errors, 408, 429 and 5xx answers —
are retried with exponential backoff, as MLflow's client does
(``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``,
``MLFLOW_HTTP_REQUEST_TIMEOUT``). Retrying a write is safe: both ``mltrack server``
and MLflow's server ignore a metric point identical to one already stored, and
params and tags are set, not appended.

Credentials come from MLflow's variables: ``MLFLOW_TRACKING_USERNAME`` and
``MLFLOW_TRACKING_PASSWORD`` (basic), ``MLFLOW_TRACKING_TOKEN`` (bearer),
``MLFLOW_TRACKING_INSECURE_TLS`` and ``MLFLOW_TRACKING_SERVER_CERT_PATH``.
"""

from __future__ import annotations

import base64
import json
import os
import random
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from mltrack.exceptions import (
    InvalidParameterValue,
    MltrackError,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    Unauthenticated,
)

__all__ = ["NotOfferedRemotely", "RestTransport", "not_offered"]

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_ERRORS: dict[str, type[MltrackError]] = {
    "INVALID_PARAMETER_VALUE": InvalidParameterValue,
    "BAD_REQUEST": InvalidParameterValue,
    "RESOURCE_DOES_NOT_EXIST": ResourceDoesNotExist,
    "RESOURCE_ALREADY_EXISTS": ResourceAlreadyExists,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
}


class NotOfferedRemotely(MltrackError):
    """A call the remote client cannot make: it needs the repository itself (git history,
    reviews, maintenance) or storage the server does not proxy."""

    error_code = "NOT_IMPLEMENTED"
    http_status = 501


def not_offered(what: str, uri: str, why: str | None = None) -> NotOfferedRemotely:
    """The one-line refusal of ``what`` with the server tracking URI ``uri``."""
    return NotOfferedRemotely(
        f"{what} is not offered with a server tracking URI ({uri}): "
        + (why or "it works on the git repository itself; run it where the repository is.")
    )


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise InvalidParameterValue(f"{name}={text!r} is not a number.") from None


class RestTransport:
    """JSON calls and artifact uploads to one tracking server."""

    def __init__(self, base_uri: str) -> None:
        self.base_uri = base_uri.rstrip("/")
        self.max_retries = int(_env_number("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 7))
        self.backoff_factor = _env_number("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 2)
        self.backoff_jitter = _env_number("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", 1.0)
        self.timeout = _env_number("MLFLOW_HTTP_REQUEST_TIMEOUT", 120)
        self._context = self._tls_context()

    # ------------------------------------------------------------------ requests

    def call(
        self,
        method: str,
        endpoint: str,
        body: dict[str, Any] | None = None,
        *,
        allow_missing: bool = False,
    ) -> dict[str, Any]:
        """``method`` ``/api/2.0/mlflow/<endpoint>``: GET sends ``body`` as the query string.

        ``allow_missing``: a RESOURCE_DOES_NOT_EXIST answer is ``{}`` instead of an error.
        """
        url = f"{self.base_uri}{API}/{endpoint}"
        data = None
        headers = {}
        if method == "GET":
            if body:
                url += "?" + urllib.parse.urlencode(
                    {k: v for k, v in body.items() if v is not None}, doseq=True
                )
        else:
            data = json.dumps(body or {}).encode()
            headers["Content-Type"] = "application/json"
        try:
            answer = self._send(method, url, data, headers)
        except ResourceDoesNotExist:
            if allow_missing:
                return {}
            raise
        return json.loads(answer) if answer else {}

    def upload(self, artifact_path: str, data: bytes) -> None:
        """PUT one file to ``/api/2.0/mlflow-artifacts/artifacts/<artifact_path>``."""
        quoted = urllib.parse.quote(artifact_path.lstrip("/"))
        headers = {"Content-Type": "application/octet-stream"}
        self._send("PUT", f"{self.base_uri}{ARTIFACTS_API}/{quoted}", data, headers)

    def download(self, artifact_path: str) -> bytes:
        """GET one file from ``/api/2.0/mlflow-artifacts/artifacts/<artifact_path>``."""
        quoted = urllib.parse.quote(artifact_path.lstrip("/"))
        return self._send("GET", f"{self.base_uri}{ARTIFACTS_API}/{quoted}", None, {})

    def list(self, artifact_path: str) -> list[dict[str, Any]]:
        """GET ``/api/2.0/mlflow-artifacts/artifacts?path=``: the entries of one directory."""
        query = urllib.parse.urlencode({"path": artifact_path.strip("/")})
        answer = self._send("GET", f"{self.base_uri}{ARTIFACTS_API}?{query}", None, {})
        return list(json.loads(answer).get("files", [])) if answer else []

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> bytes:
        headers = {**headers, **self._auth_headers()}
        attempt = 0
        while True:
            request = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(
                    request, timeout=self.timeout, context=self._context
                ) as response:
                    body: bytes = response.read()
                    return body
            except urllib.error.HTTPError as error:
                body = error.read()
                if error.code in RETRY_STATUSES and attempt < self.max_retries:
                    attempt += 1
                    self._wait(attempt, error.headers.get("Retry-After"))
                    continue
                raise self._error(method, url, error.code, body) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                reason = getattr(error, "reason", error)
                if isinstance(reason, ssl.SSLError):  # not transient: retrying cannot help
                    raise MltrackError(
                        f"TLS with the tracking server at {self.base_uri} failed: {reason}. "
                        "Set MLFLOW_TRACKING_SERVER_CERT_PATH to its CA bundle (or "
                        "MLFLOW_TRACKING_INSECURE_TLS=true to skip verification)."
                    ) from None
                if attempt < self.max_retries:
                    attempt += 1
                    self._wait(attempt, None)
                    continue
                raise MltrackError(
                    f"Could not reach the tracking server at {self.base_uri} "
                    f"({method} {url}) after {attempt + 1} attempts: {reason}",
                    "TEMPORARILY_UNAVAILABLE",
                ) from None

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff_factor * (2 ** (attempt - 1)) + random.uniform(0, self.backoff_jitter)
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, 120.0))

    def _error(self, method: str, url: str, status: int, body: bytes) -> MltrackError:
        try:
            payload = json.loads(body)
            code = str(payload.get("error_code") or "")
            message = str(payload.get("message") or "")
        except (ValueError, AttributeError):
            code, message = "", body.decode(errors="replace")[:500]
        if not code:
            code = {
                401: "UNAUTHENTICATED",
                403: "PERMISSION_DENIED",
                404: "ENDPOINT_NOT_FOUND",
            }.get(status, "INTERNAL_ERROR")
        if status == 401 and not message:
            message = "the server asks for credentials"
        if status in (401, 403):
            message += (
                " (set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, "
                "or MLFLOW_TRACKING_TOKEN)"
            )
        cls = _ERRORS.get(code, MltrackError)
        text = message or f"HTTP {status}"
        if cls is MltrackError:
            return MltrackError(f"{method} {url} failed: {text}", code)
        return cls(text)

    # ------------------------------------------------------------------ credentials

    @staticmethod
    def _auth_headers() -> dict[str, str]:
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if token:
            return {"Authorization": f"Bearer {token}"}
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
        if user and password:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {}

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.base_uri.lower().startswith("https://"):
            return None
        insecure = os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("true", "1")
        if insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(
            cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None
        )
