"""An in-process ``mltrack server --auth`` app with users, for the auth tests."""

from __future__ import annotations

import base64
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 fork for its TestClient; httpx (a test dependency
    # already) works the same for these tests.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from mltrack.server.app import create_app
from mltrack.server.config import ServerConfig
from mltrack.server.credentials import Credentials

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
PASSWORDS = {"admin": "admin-pw", "alice": "alice-pw", "bob": "bob-pw", "mallory": "mallory-pw"}


def basic(username: str, password: str | None = None) -> dict[str, str]:
    secret = f"{username}:{password or PASSWORDS[username]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(secret).decode()}


@dataclass
class AuthServer:
    repo: Path
    credentials: Credentials
    http: TestClient

    def as_user(self, username: str) -> dict[str, str]:
        return basic(username)

    def call(self, user: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**basic(user), **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def ok(self, user: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.call(user, method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json() if response.content else {}  # type: ignore[no-any-return]

    def experiment(self, user: str) -> str:
        body = self.ok(user, "POST", f"{API}/experiments/create", json={"name": _name("exp")})
        return str(body["experiment_id"])

    def run(self, user: str, experiment_id: str) -> str:
        body = self.ok(user, "POST", f"{API}/runs/create", json={"experiment_id": experiment_id})
        return str(body["run"]["info"]["run_id"])

    def model_run(self, user: str, experiment_id: str) -> str:
        """A finished run with a logged model under ``model/``."""
        run_id = self.run(user, experiment_id)
        base = f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts/model"
        mlmodel = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: x\n"
        self.ok(user, "PUT", f"{base}/MLmodel", content=mlmodel.encode())
        self.ok(user, "PUT", f"{base}/model.bin", content=b"weights")
        self.ok(user, "POST", f"{API}/runs/update", json={"run_id": run_id, "status": "FINISHED"})
        return run_id

    def registered_model(self, user: str, experiment_id: str) -> str:
        """A registered model with version 1, made by ``user``."""
        name = _name("model")
        run_id = self.model_run(user, experiment_id)
        self.ok(user, "POST", f"{API}/registered-models/create", json={"name": name})
        self.ok(
            user,
            "POST",
            f"{API}/model-versions/create",
            json={"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id},
        )
        return name


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fast_hasher() -> Any:
    """argon2id at its lightest: the tests create many users on a busy machine."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def find_middleware(http: TestClient, kind: type[Any]) -> Any:
    """The app's middleware of type ``kind`` (the stack is built by the first request)."""
    http.get("/health")
    layer = http.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(layer, kind):
        layer = layer.app
    return layer


def auth_server(repo: Path, default_permission: str = "READ") -> AuthServer:
    """The app over an initialised ``repo``, with an admin and three plain users."""
    db = repo.parent / "auth.db"
    credentials = Credentials(db, hasher=fast_hasher())
    for username, password in PASSWORDS.items():
        credentials.create_user(
            username,
            password,
            is_admin=username == "admin",
            email=f"{username}@example.org",
            display_name=username.title(),
        )
    config = ServerConfig(repo, auth_db=db, default_permission=default_permission)
    return AuthServer(
        repo, credentials, TestClient(create_app(config), base_url="http://localhost")
    )
