"""``mltrack server --auth`` in process: who may do what, and what a refusal leaves behind.

Each test has its own repository and credentials database; requests go through
Starlette's TestClient, so every middleware and route runs as in a server.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from auth_support import API, ARTIFACTS, AuthServer, auth_server, basic, find_middleware
from liveserver import make_repo, run_cli
from mltrack.server.config import open_backend


@pytest.fixture
def server(repo: Path) -> AuthServer:
    open_backend(str(repo), init=True)
    return auth_server(repo)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def refs_and_files(repo: Path) -> tuple[str, str]:
    """Everything a refused request must leave as it was: refs, and the store's files."""
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    files = subprocess.run(
        ["bash", "-c", "find .mltrack -type f -exec sha1sum {} + | sort"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return refs, files


def refused(response: httpx.Response, status: int = 403) -> None:
    assert response.status_code == status, response.text
    code = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}[status]
    assert response.json()["error_code"] == code


# ---------------------------------------------------------------------- authentication


def test_requests_without_valid_credentials_get_401_and_public_routes_stay_open(
    server: AuthServer,
) -> None:
    http = server.http
    assert http.get("/health").text == "OK"
    assert http.get("/api/3.0/mlflow/server-info").status_code == 200
    for headers in (
        {},
        basic("alice", "wrong"),
        basic("nobody", "whatever"),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + "YWxpY2U="},  # "alice" without a colon
        {"Authorization": "Bearer mlt_forged"},
        {"Authorization": "Digest alice"},
    ):
        response = http.get(f"{API}/experiments/search", headers=headers)
        refused(response, 401)
        assert response.headers["www-authenticate"].startswith("Basic")
    refused(http.get("/"), 401)  # the web UI's pages need a login too
    refused(http.get(f"{ARTIFACTS}/0/x/artifacts/a.txt"), 401)


def test_basic_auth_and_tokens_authenticate_and_a_revoked_token_stops_working(
    server: AuthServer,
) -> None:
    assert server.call("alice", "GET", f"{API}/experiments/search").status_code == 200
    token = server.credentials.create_token("alice")
    bearer = {"Authorization": f"Bearer {token}"}
    assert (
        server.http.get(f"{API}/users/current", headers=bearer).json()["user"]["username"]
        == "alice"
    )
    server.credentials.revoke_tokens("alice")
    refused(server.http.get(f"{API}/users/current", headers=bearer), 401)


def test_a_changed_password_or_deleted_user_is_refused_at_once(server: AuthServer) -> None:
    assert server.call("bob", "GET", f"{API}/users/current").status_code == 200
    server.credentials.set_password("bob", "new-pw")
    refused(server.call("bob", "GET", f"{API}/users/current"), 401)
    assert (
        server.http.get(f"{API}/users/current", headers=basic("bob", "new-pw")).status_code == 200
    )
    server.credentials.delete_user("bob")
    refused(server.http.get(f"{API}/users/current", headers=basic("bob", "new-pw")), 401)


def test_first_start_without_an_admin_password_refuses_to_start(tmp_path: Path) -> None:
    repo, home = make_repo(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "mltrack", "server", "--backend-store-uri", str(repo), "--auth"],
        env={k: v for k, v in os.environ.items() if k != "MLTRACK_AUTH_ADMIN_PASSWORD"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: --auth needs a password for the first user, 'admin': set "
        "MLTRACK_AUTH_ADMIN_PASSWORD, or start the server in a terminal to be asked."
    ]
    listed = run_cli("-C", str(repo), "users", "list", "--format", "json", home=home)
    assert json.loads(listed.stdout) == []  # no user, and certainly no default password
    assert git(repo, "status", "--porcelain") == ""


def test_binding_beyond_loopback_without_auth_warns_what_is_exposed(repo: Path, cli: Any) -> None:
    from conftest import invoke
    from support import child_env

    open_backend(str(repo), init=True)
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the warning is printed, then the
    # bind fails, and no server ever listens. A subprocess, so that uvicorn's logging setup
    # never holds this process's captured streams.
    result = subprocess.run(
        [sys.executable, "-m", "mltrack", "server", "--host", "192.0.2.1", "--port", "5999"],
        cwd=repo,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "Warning: serving on 192.0.2.1:5999 without --auth" in result.stderr
    assert "read, change and delete every experiment" in result.stderr
    quiet = invoke(cli, "server", "--host", "192.0.2.1", "--port", "5999", "--auth-db", "x.db")
    assert quiet.exit_code == 2 and "--auth-db needs --auth" in quiet.output


# ---------------------------------------------------------------------- permission levels

EXPERIMENT_LEVELS = {
    # action: the least level that may do it
    "read": "READ",
    "update": "EDIT",
    "delete": "MANAGE",
    "manage": "MANAGE",
}
ORDER = ["NO_PERMISSIONS", "READ", "EDIT", "MANAGE"]


def _allowed(level: str, action: str) -> bool:
    return ORDER.index(level) >= ORDER.index(EXPERIMENT_LEVELS[action])


@pytest.mark.parametrize("level", ORDER)
def test_experiment_permission_levels_govern_experiments_runs_artifacts_and_logged_models(
    server: AuthServer, level: str
) -> None:
    experiment = server.experiment("alice")
    run = server.model_run("alice", experiment)
    live_run = server.run("alice", experiment)
    model = server.ok(
        "alice", "POST", f"{API}/logged-models", json={"experiment_id": experiment, "name": "m"}
    )["model"]["info"]["model_id"]
    server.ok(
        "alice",
        "POST",
        f"{API}/experiments/permissions/create",
        json={"experiment_id": experiment, "username": "bob", "permission": level},
    )
    files = f"{ARTIFACTS}/{experiment}/{run}/artifacts"
    calls: list[tuple[str, str, str, dict[str, Any]]] = [
        ("read", "GET", f"{API}/experiments/get", {"params": {"experiment_id": experiment}}),
        ("read", "GET", f"{API}/runs/get", {"params": {"run_id": run}}),
        (
            "read",
            "GET",
            f"{API}/metrics/get-history",
            {"params": {"run_id": run, "metric_key": "m"}},
        ),
        ("read", "GET", f"{API}/artifacts/list", {"params": {"run_id": run}}),
        ("read", "GET", ARTIFACTS, {"params": {"path": f"{experiment}/{run}/artifacts"}}),
        ("read", "GET", f"{files}/model/model.bin", {}),
        ("read", "GET", f"{API}/logged-models/{model}", {}),
        (
            "update",
            "POST",
            f"{API}/runs/log-metric",
            {"json": {"run_id": live_run, "key": "m", "value": 1.0, "timestamp": 1}},
        ),
        ("update", "POST", f"{API}/runs/create", {"json": {"experiment_id": experiment}}),
        (
            "update",
            "PUT",
            f"{ARTIFACTS}/{experiment}/{live_run}/artifacts/new.txt",
            {"content": b"x"},
        ),
        (
            "update",
            "POST",
            f"{API}/experiments/set-experiment-tag",
            {"json": {"experiment_id": experiment, "key": "k", "value": "v"}},
        ),
        (
            "update",
            "PATCH",
            f"{API}/logged-models/{model}/tags",
            {"json": {"tags": [{"key": "k", "value": "v"}]}},
        ),
        (
            "update",
            "POST",
            f"{API}/logged-models",
            {"json": {"experiment_id": experiment, "name": "m2"}},
        ),
        ("delete", "POST", f"{API}/runs/delete", {"json": {"run_id": live_run}}),
        ("delete", "POST", f"{API}/experiments/delete", {"json": {"experiment_id": experiment}}),
    ]
    for action, method, path, kwargs in calls:
        before = refs_and_files(server.repo)
        response = server.call("bob", method, path, **kwargs)
        if _allowed(level, action):
            assert response.status_code == 200, (action, path, response.text)
        else:
            refused(response)
            assert refs_and_files(server.repo) == before, (action, path)
    manage = server.call(
        "bob",
        "GET",
        f"{API}/experiments/permissions/get",
        params={"experiment_id": experiment, "username": "bob"},
    )
    if _allowed(level, "manage"):
        assert manage.json()["experiment_permission"]["permission"] == level
    else:
        refused(manage)


@pytest.mark.parametrize("level", ORDER)
def test_registered_model_permission_levels_govern_models_versions_and_their_files(
    server: AuthServer, level: str
) -> None:
    experiment = server.experiment("alice")
    name = server.registered_model("alice", experiment)
    server.ok(
        "alice",
        "POST",
        f"{API}/experiments/permissions/create",
        json={"experiment_id": experiment, "username": "bob", "permission": "READ"},
    )
    server.ok(
        "alice",
        "POST",
        f"{API}/registered-models/permissions/create",
        json={"name": name, "username": "bob", "permission": level},
    )
    other_run = server.model_run("alice", experiment)
    calls: list[tuple[str, str, str, dict[str, Any]]] = [
        ("read", "GET", f"{API}/registered-models/get", {"params": {"name": name}}),
        ("read", "GET", f"{API}/model-versions/get", {"params": {"name": name, "version": "1"}}),
        (
            "read",
            "GET",
            f"{API}/model-versions/get-download-uri",
            {"params": {"name": name, "version": "1"}},
        ),
        (
            "update",
            "PATCH",
            f"{API}/registered-models/update",
            {"json": {"name": name, "description": "new"}},
        ),
        (
            "update",
            "POST",
            f"{API}/model-versions/create",
            {"json": {"name": name, "source": f"runs:/{other_run}/model"}},
        ),
        (
            "update",
            "POST",
            f"{API}/registered-models/alias",
            {"json": {"name": name, "alias": "champion", "version": "1"}},
        ),
        (
            "update",
            "POST",
            f"{API}/model-versions/transition-stage",
            {"json": {"name": name, "version": "1", "stage": "Production"}},
        ),
        (
            "delete",
            "DELETE",
            f"{API}/model-versions/delete",
            {"json": {"name": name, "version": "2"}},
        ),
        ("delete", "DELETE", f"{API}/registered-models/delete", {"json": {"name": name}}),
    ]
    snapshot = None
    for action, method, path, kwargs in calls:
        before = refs_and_files(server.repo)
        response = server.call("bob", method, path, **kwargs)
        if _allowed(level, action):
            assert response.status_code == 200, (action, path, response.text)
            if path.endswith("get-download-uri"):
                snapshot = response.json()["artifact_uri"].removeprefix("mlflow-artifacts:/")
                files = server.call("bob", "GET", f"{ARTIFACTS}/{snapshot}/model.bin")
                assert files.content == b"weights"
        else:
            refused(response)
            assert refs_and_files(server.repo) == before, (action, path)
    if snapshot is None:  # bob may not read the model: its files are refused too
        uri = server.ok(
            "alice",
            "GET",
            f"{API}/model-versions/get-download-uri",
            params={"name": name, "version": "1"},
        )["artifact_uri"].removeprefix("mlflow-artifacts:/")
        refused(server.call("bob", "GET", f"{ARTIFACTS}/{uri}/model.bin"))
        refused(server.call("bob", "GET", ARTIFACTS, params={"path": uri}))


def test_registering_needs_read_on_the_source_run(server: AuthServer) -> None:
    secret = server.experiment("alice")
    run = server.model_run("alice", secret)
    server.credentials.grant(
        ("experiment_permissions", "experiment_id"), secret, "bob", "NO_PERMISSIONS", new=True
    )
    server.ok("bob", "POST", f"{API}/registered-models/create", json={"name": "bobs"})
    before = refs_and_files(server.repo)
    for source in (
        f"runs:/{run}/model",
        f"mlflow-artifacts:/{secret}/{run}/artifacts/model",
        "/etc",
    ):
        refused(
            server.call(
                "bob",
                "POST",
                f"{API}/model-versions/create",
                json={"name": "bobs", "source": source},
            )
        )
    assert refs_and_files(server.repo) == before


def test_searches_answer_only_what_the_user_may_read(server: AuthServer) -> None:
    open_experiment = server.experiment("alice")
    hidden = server.experiment("alice")
    open_model = server.registered_model("alice", open_experiment)
    hidden_model = server.registered_model("alice", hidden)
    for kind, key, resource in (
        ("experiments", "experiment_id", hidden),
        ("registered-models", "name", hidden_model),
    ):
        server.ok(
            "alice",
            "POST",
            f"{API}/{kind}/permissions/create",
            json={key: resource, "username": "bob", "permission": "NO_PERMISSIONS"},
        )
    found = server.ok("bob", "POST", f"{API}/experiments/search", json={"max_results": 100})
    ids = {e["experiment_id"] for e in found["experiments"]}
    assert open_experiment in ids and hidden not in ids
    runs = server.ok(
        "bob", "POST", f"{API}/runs/search", json={"experiment_ids": [open_experiment, hidden]}
    )["runs"]
    assert {r["info"]["experiment_id"] for r in runs} == {open_experiment}
    models = server.ok("bob", "GET", f"{API}/registered-models/search")["registered_models"]
    assert {m["name"] for m in models} == {open_model}
    versions = server.ok("bob", "GET", f"{API}/model-versions/search")["model_versions"]
    assert {v["name"] for v in versions} == {open_model}
    everything = server.ok("admin", "GET", f"{API}/registered-models/search")["registered_models"]
    assert {m["name"] for m in everything} == {open_model, hidden_model}


def test_creators_manage_what_they_create_and_others_follow_the_default(repo: Path) -> None:
    open_backend(str(repo), init=True)
    server = auth_server(repo, default_permission="NO_PERMISSIONS")
    experiment = server.experiment("bob")
    name = server.registered_model("bob", experiment)
    server.ok("bob", "POST", f"{API}/experiments/delete", json={"experiment_id": experiment})
    refused(
        server.call("alice", "GET", f"{API}/experiments/get", params={"experiment_id": experiment})
    )
    refused(server.call("alice", "GET", f"{API}/registered-models/get", params={"name": name}))
    renamed = name + "-renamed"
    server.ok(
        "bob", "POST", f"{API}/registered-models/rename", json={"name": name, "new_name": renamed}
    )
    server.ok(
        "bob",
        "PATCH",
        f"{API}/registered-models/update",
        json={"name": renamed, "description": "d"},
    )


def test_unknown_api_routes_are_for_admins_only_and_other_pages_need_a_login(
    server: AuthServer,
) -> None:
    refused(server.call("bob", "POST", f"{API}/webhooks/create", json={}))
    refused(server.call("bob", "GET", "/ajax-api/2.0/mlflow/gateway/secrets"))
    assert server.call("admin", "POST", f"{API}/webhooks/create", json={}).status_code == 404
    assert server.call("bob", "GET", "/static/app.js").status_code == 404  # no UI here yet
    refused(server.call("bob", "POST", "/some/form", json={}))


def test_the_ajax_api_prefix_is_checked_like_the_api(server: AuthServer) -> None:
    experiment = server.experiment("alice")
    server.credentials.grant(
        ("experiment_permissions", "experiment_id"), experiment, "bob", "NO_PERMISSIONS", new=True
    )
    refused(
        server.call(
            "bob",
            "GET",
            "/ajax-api/2.0/mlflow/experiments/get",
            params={"experiment_id": experiment},
        )
    )


# ---------------------------------------------------------------------- users and permissions


def test_user_endpoints_follow_mlflow(server: AuthServer) -> None:
    created = server.ok(
        "admin",
        "POST",
        f"{API}/users/create",
        json={"username": "carol", "password": "carol-pw", "email": "carol@example.org"},
    )["user"]
    assert created["username"] == "carol" and created["is_admin"] is False
    assert "password" not in str(created)
    refused(
        server.call("bob", "POST", f"{API}/users/create", json={"username": "x", "password": "y"})
    )
    assert (
        server.call(
            "admin", "POST", f"{API}/users/create", json={"username": "carol", "password": "z"}
        ).json()["error_code"]
        == "RESOURCE_ALREADY_EXISTS"
    )
    for body in (
        {"username": "", "password": "p"},
        {"username": "a:b", "password": "p"},
        {"username": "d", "password": ""},
    ):
        response = server.call("admin", "POST", f"{API}/users/create", json=body)
        assert response.status_code == 400, body
    assert (
        server.ok("bob", "GET", f"{API}/users/get", params={"username": "bob"})["user"]["email"]
        == "bob@example.org"
    )
    refused(server.call("bob", "GET", f"{API}/users/get", params={"username": "alice"}))
    assert {u["username"] for u in server.ok("bob", "GET", f"{API}/users/list")["users"]} >= {
        "admin",
        "bob",
        "carol",
    }
    # Changing one's own password needs the current one; admins may reset anyone's.
    own = {"username": "bob", "password": "bob-new"}
    assert server.call("bob", "PATCH", f"{API}/users/update-password", json=own).status_code == 400
    server.ok(
        "bob", "PATCH", f"{API}/users/update-password", json={**own, "current_password": "bob-pw"}
    )
    refused(server.call("bob", "GET", f"{API}/users/current"), 401)  # the old one is gone
    new_login = basic("bob", "bob-new")
    refused(
        server.http.patch(
            f"{API}/users/update-password",
            json={"username": "alice", "password": "x"},
            headers=new_login,
        )
    )
    server.ok(
        "admin",
        "PATCH",
        f"{API}/users/update-password",
        json={"username": "bob", "password": "bob-pw"},
    )
    refused(
        server.call(
            "bob", "PATCH", f"{API}/users/update-admin", json={"username": "bob", "is_admin": True}
        )
    )
    server.ok(
        "admin", "PATCH", f"{API}/users/update-admin", json={"username": "carol", "is_admin": True}
    )
    assert server.credentials.get_user("carol").is_admin
    refused(server.call("bob", "DELETE", f"{API}/users/delete", json={"username": "carol"}))
    assert (
        server.call(
            "admin", "DELETE", f"{API}/users/delete", json={"username": "admin"}
        ).status_code
        == 400
    )
    server.ok("admin", "DELETE", f"{API}/users/delete", json={"username": "carol"})
    assert server.credentials.find_user("carol") is None


def test_permission_endpoints_need_manage_and_answer_as_mlflow(server: AuthServer) -> None:
    experiment = server.experiment("alice")
    body = {"experiment_id": experiment, "username": "bob", "permission": "EDIT"}
    refused(server.call("bob", "POST", f"{API}/experiments/permissions/create", json=body))
    made = server.ok("alice", "POST", f"{API}/experiments/permissions/create", json=body)
    assert made["experiment_permission"]["permission"] == "EDIT"
    again = server.call("alice", "POST", f"{API}/experiments/permissions/create", json=body)
    assert again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    bad = server.call(
        "alice",
        "PATCH",
        f"{API}/experiments/permissions/update",
        json={**body, "permission": "OWNER"},
    )
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    server.ok(
        "alice",
        "PATCH",
        f"{API}/experiments/permissions/update",
        json={**body, "permission": "READ"},
    )
    server.ok("alice", "DELETE", f"{API}/experiments/permissions/delete", json=body)
    gone = server.call("alice", "GET", f"{API}/experiments/permissions/get", params=body)
    assert gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    v3 = "/api/3.0/mlflow/users/permissions"
    grant = {
        "username": "bob",
        "resource_type": "experiment",
        "resource_id": experiment,
        "permission": "MANAGE",
    }
    refused(server.call("bob", "POST", f"{v3}/grant", json=grant))
    server.ok("alice", "POST", f"{v3}/grant", json=grant)
    assert server.ok("bob", "GET", f"{v3}/get", params=grant) == {
        "allowed": True,
        "permission": "MANAGE",
    }
    server.ok("alice", "POST", f"{v3}/revoke", json=grant)
    assert server.ok("bob", "GET", f"{v3}/get", params=grant)["permission"] == "READ"
    wrong = server.call("alice", "POST", f"{v3}/grant", json={**grant, "resource_type": "prompt"})
    assert wrong.status_code == 400


# ---------------------------------------------------------------------- authorship


def test_commits_and_tags_are_authored_by_the_user_and_committed_by_the_server(
    server: AuthServer, cli: Any
) -> None:
    from conftest import invoke

    experiment = server.experiment("alice")
    name = server.registered_model("alice", experiment)
    server.ok(
        "admin",
        "POST",
        f"{API}/registered-models/permissions/create",
        json={"name": name, "username": "bob", "permission": "EDIT"},
    )
    server.ok(
        "bob",
        "POST",
        f"{API}/registered-models/alias",
        json={"name": name, "alias": "champion", "version": "1"},
    )
    log = git(server.repo, "log", "--format=%an <%ae>|%cn <%ce>|%s")
    lines = [line.split("|") for line in log.splitlines()]
    run_commit = next(line for line in lines if line[2].startswith("Run "))
    assert run_commit[0] == "Alice <alice@example.org>"
    assert run_commit[1] == "Test User <test@example.com>"  # the server's own identity
    promotion = lines[0]
    assert promotion[0] == "Bob <bob@example.org>" and "champion" in promotion[2]
    tagger = git(server.repo, "tag", "-l", "--format=%(taggername) %(taggeremail)", "mltrack/*")
    assert tagger.strip() == "Alice <alice@example.org>"
    assert "Alice: Run " in invoke(cli, "log").output
    history = invoke(cli, "models", "history", name).output
    assert "Alice" in history and "Bob" in history


def test_without_auth_commits_keep_the_repository_identity(repo: Path) -> None:
    from auth_support import TestClient
    from mltrack.server.app import create_app
    from mltrack.server.config import ServerConfig

    open_backend(str(repo), init=True)
    http = TestClient(create_app(ServerConfig(repo)), base_url="http://localhost")
    experiment = http.post(f"{API}/experiments/create", json={"name": "plain"}).json()[
        "experiment_id"
    ]
    assert http.get(f"{API}/users/current").status_code == 404  # no auth endpoints either
    run = http.post(f"{API}/runs/create", json={"experiment_id": experiment}).json()["run"]["info"][
        "run_id"
    ]
    http.post(f"{API}/runs/update", json={"run_id": run, "status": "FINISHED"})
    assert git(repo, "log", "-1", "--format=%an <%ae>").strip() == "Test User <test@example.com>"


# ---------------------------------------------------------------------- abuse


def test_wrong_passwords_are_slowed_per_user_and_address_without_blocking_others(
    server: AuthServer,
) -> None:
    import httpx as client_lib

    from mltrack.server.auth import AuthMiddleware, Throttle

    throttle = Throttle(free=2, base=0.5, ceiling=2.0)
    keys = ["user:alice", "addr:10.0.0.1"]
    assert throttle.reserve(keys, now=0.0) == 0.0
    throttle.failed(keys, now=0.0)
    throttle.failed(keys, now=0.0)
    assert throttle.reserve(keys, now=1.0) == 0.5
    assert throttle.reserve(keys, now=1.0) == 1.0  # a parallel guess queues behind it
    throttle.failed(keys, now=2.0)
    assert throttle.reserve(["user:alice"], now=10.0) == 1.0
    assert throttle.reserve(["addr:10.0.0.1"], now=100.0) == 1.0
    throttle.succeeded("alice")
    assert throttle.reserve(["user:alice"], now=100.0) == 0.0
    assert throttle.reserve(["addr:10.0.0.1"], now=5000.0) == 0.0  # forgotten after a while

    app = server.http.app
    middleware = find_middleware(server.http, AuthMiddleware)
    middleware.throttle = Throttle(free=0, base=1.5, ceiling=1.5)
    finished: list[str] = []

    async def attempt(client: client_lib.AsyncClient, user: str, password: str) -> None:
        response = await client.get(f"{API}/users/current", headers=basic(user, password))
        finished.append(f"{user}:{response.status_code}")

    async def scenario() -> None:
        transport = client_lib.ASGITransport(app=app, client=("10.0.0.9", 1234))
        others = client_lib.ASGITransport(app=app, client=("10.0.0.10", 1234))
        async with (
            client_lib.AsyncClient(transport=transport, base_url="http://localhost") as attacker,
            client_lib.AsyncClient(transport=others, base_url="http://localhost") as user,
        ):
            await attempt(user, "bob", "bob-pw")  # remembered: never waits
            middleware.throttle.failed(["user:mallory", "addr:10.0.0.9"])
            slow = asyncio.create_task(attempt(attacker, "mallory", "guess"))
            await asyncio.sleep(0.05)
            await attempt(user, "bob", "bob-pw")
            await slow

    asyncio.run(scenario())
    assert finished == ["bob:200", "bob:200", "mallory:401"]


def test_request_bodies_over_the_limit_are_refused_before_the_route_acts(
    server: AuthServer,
) -> None:
    from mltrack.server.limits import BodyLimit

    limits = find_middleware(server.http, BodyLimit)
    limits.max_request_bytes, limits.max_upload_bytes = 2000, 5000
    experiment = server.experiment("alice")
    run = server.run("alice", experiment)
    before = refs_and_files(server.repo)
    big = {"name": "x" * 3000}
    response = server.call("alice", "POST", f"{API}/experiments/create", json=big)
    assert (
        response.status_code == 413 and response.json()["error_code"] == "RESOURCE_LIMIT_EXCEEDED"
    )

    def chunks() -> Any:
        for _ in range(10):
            yield b"y" * 1000

    target = f"{ARTIFACTS}/{experiment}/{run}/artifacts/big.bin"
    streamed = server.call("alice", "PUT", target, content=chunks())
    assert streamed.status_code == 413
    assert refs_and_files(server.repo) == before
    assert not list((server.repo / ".mltrack").rglob("big.bin"))
    assert server.call("alice", "PUT", target, content=b"z" * 4000).status_code == 200


# ---------------------------------------------------------------------- fuzz


def test_fuzzed_requests_never_fail_with_5xx_nor_reach_what_they_may_not(repo: Path) -> None:
    """Random methods, routes, fields and credentials from a user with no permission on the
    protected experiment and model: no 5xx, no 200 carrying their data, and nothing of
    theirs (files, tags, grants) changes."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from mltrack.server.auth import AuthMiddleware, Throttle
    from mltrack.server.policy import ROUTES, ROUTES_V3

    open_backend(str(repo), init=True)
    server = auth_server(repo, default_permission="NO_PERMISSIONS")
    experiment = server.experiment("alice")
    run = server.model_run("alice", experiment)
    name = server.registered_model("alice", experiment)
    secret_run_name = server.ok("alice", "GET", f"{API}/runs/get", params={"run_id": run})["run"][
        "info"
    ]["run_name"]
    model_id = server.ok(
        "alice", "POST", f"{API}/logged-models", json={"experiment_id": experiment, "name": "lm"}
    )["model"]["info"]["model_id"]
    snapshot = server.ok(
        "alice",
        "GET",
        f"{API}/model-versions/get-download-uri",
        params={"name": name, "version": "1"},
    )["artifact_uri"].removeprefix("mlflow-artifacts:/")

    def protected() -> tuple[str, str, str]:
        tree = git(repo, "ls-files", "-s", f".mltrack/experiments/{experiment}")
        files = subprocess.run(
            [
                "bash",
                "-c",
                f"find .mltrack/experiments/{experiment} .mltrack/models -type f "
                "-exec sha1sum {} + | sort",
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        tags = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/tags")
        return tree + files, tags, str(server.credentials.list_users())

    before = protected()
    # Wrong passwords are slowed down on purpose; the fuzz sends many.
    find_middleware(server.http, AuthMiddleware).throttle = Throttle(free=1 << 30)
    values = st.one_of(
        st.sampled_from(
            [
                experiment,
                run,
                name,
                model_id,
                "1",
                "0",
                "admin",
                "mallory",
                "MANAGE",
                "experiment",
                "registered_model",
                f"runs:/{run}/model",
            ]
        ),
        st.text(max_size=12),
        st.integers(),
        st.booleans(),
        st.none(),
        st.lists(st.sampled_from([experiment, run, name]), max_size=2),
    )
    fields = st.dictionaries(
        st.sampled_from(
            [
                "experiment_id",
                "experiment_ids",
                "run_id",
                "run_uuid",
                "run_ids",
                "name",
                "new_name",
                "version",
                "alias",
                "key",
                "value",
                "username",
                "password",
                "is_admin",
                "permission",
                "resource_type",
                "resource_id",
                "source",
                "model_id",
                "path",
                "stage",
                "status",
                "description",
                "metric_key",
            ]
        ),
        values,
        max_size=6,
    )
    api_paths = [f"{API}/{path}" for _, path in ROUTES] + [
        f"/api/3.0/mlflow/{path}" for _, path in ROUTES_V3
    ]
    paths = st.one_of(
        st.sampled_from(api_paths),
        st.sampled_from(
            [
                f"{API}/logged-models/{model_id}",
                f"{API}/logged-models/{model_id}/tags",
                f"{API}/logged-models/{model_id}/params",
                f"{ARTIFACTS}/{experiment}/{run}/artifacts/model/model.bin",
                f"{ARTIFACTS}/{experiment}/{run}/artifacts/new.txt",
                f"{ARTIFACTS}/{snapshot}/model.bin",
                f"{ARTIFACTS}/{experiment}/{run}/artifacts/%2e%2e/x",
                "/ajax-api/2.0/mlflow/experiments/get",
                f"/api/2.0/mlflow-artifacts/mpu/create/{experiment}/{run}/artifacts/x",
                "/",
                "/static/x.js",
            ]
        ),
        st.text(alphabet="/abcdefghijklmnopqrstuvwxyz-.%0123456789", max_size=40).map(
            lambda p: "/" + p.lstrip("/")
        ),
    )
    credentials = st.sampled_from(["mallory", "none", "garbage", "token"])

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"]), paths, fields, credentials)
    def request(method: str, path: str, body: dict[str, Any], who: str) -> None:
        headers = {
            "mallory": basic("mallory"),
            "none": {},
            "garbage": {"Authorization": "Basic bWFsbG9yeTp3cm9uZw=="},
            "token": {"Authorization": "Bearer mlt_not-a-token"},
        }[who]
        kwargs: dict[str, Any] = (
            {"params": {k: str(v) for k, v in body.items()}} if method == "GET" else {"json": body}
        )
        response = server.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 500, (method, path, body, response.text)
        if who != "mallory" and path not in ("/health", "/version", "/api/3.0/mlflow/server-info"):
            assert response.status_code == 401, (method, path, response.text)
        if response.status_code == 200:
            assert secret_run_name not in response.text, (method, path, body)
            assert "weights" not in response.text, (method, path, body)

    request()
    assert protected() == before
    assert not server.credentials.get_user("mallory").is_admin


def test_users_commands_manage_the_credentials_database(repo: Path, cli: Any) -> None:
    from conftest import invoke
    from mltrack.server.credentials import Credentials

    db = str(repo.parent / "users.db")

    def users(*args: str, stdin: str | None = None) -> Any:
        return invoke(cli, "users", *args, "--auth-db", db, stdin=stdin)

    made = users("create", "dana", "--email", "dana@example.org", "--password-stdin", stdin="pw1\n")
    assert made.exit_code == 0 and "Created user 'dana'" in made.output
    asked = users("create", "erin", "--admin", stdin="pw2\npw2\n")  # prompted, confirmed
    assert asked.exit_code == 0, asked.output
    again = users("create", "dana", "--password-stdin", stdin="x\n")
    assert again.exit_code == 1 and "Error: User 'dana' already exists." in again.output
    empty = users("create", "fay", "--password-stdin", stdin="\n")
    assert empty.exit_code == 1 and "Password cannot be empty" in empty.output
    listed = json.loads(users("list", "--format", "json").output)
    assert [(u["username"], u["admin"], u["email"]) for u in listed] == [
        ("dana", False, "dana@example.org"),
        ("erin", True, ""),
    ]
    assert users("update", "dana", "--display-name", "Dana S", "--admin").exit_code == 0
    assert users("passwd", "dana", "--password-stdin", stdin="pw3\n").exit_code == 0
    credentials = Credentials(Path(db))
    assert credentials.authenticate("dana", "pw3") is not None
    assert credentials.authenticate("dana", "pw1") is None
    token = users("token", "dana").output.strip()
    assert credentials.user_for_token(token) == credentials.get_user("dana")
    assert "Revoked 1 token" in users("token", "dana", "--revoke").output
    assert credentials.user_for_token(token) is None
    assert users("delete", "dana").exit_code == 0
    missing = users("delete", "dana")
    assert missing.exit_code == 1 and "not found" in missing.output
    # The default database is the repository's, inside .git: never in the working tree.
    open_backend(str(repo), init=True)
    default = invoke(cli, "users", "create", "gus", "--password-stdin", stdin="pw\n")
    assert default.exit_code == 0, default.output
    assert (repo / ".git" / "mltrack" / "auth.db").is_file()
    assert git(repo, "status", "--porcelain", "--ignored") == ""


def test_the_web_ui_needs_a_login_and_read_access_to_everything_it_shows(
    server: AuthServer, repo: Path
) -> None:
    experiment = server.experiment("alice")
    run_id = server.run("alice", experiment)
    assert server.http.get("/").status_code == 401
    for user in ("admin", "bob"):  # bob reads everything through the default READ
        page = server.call(user, "GET", f"/experiments/{experiment}")
        assert page.status_code == 200 and run_id in page.text
    server.credentials.grant(
        ("experiment_permissions", "experiment_id"), experiment, "bob", "NO_PERMISSIONS", new=True
    )
    run_page = f"/experiments/{experiment}/runs/{run_id}"
    for path in ("/", f"/experiments/{experiment}", run_page, "/models", "/timeline"):
        refused(server.call("bob", "GET", path))
    assert server.call("bob", "GET", "/static/ui/ui.css").status_code == 200
    assert server.call("admin", "GET", run_page).status_code == 200
    # The UI's forms change the repository: admins only, and a refusal changes nothing.
    refused(server.call("alice", "POST", f"/runs/{run_id}/lifecycle", data={"action": "delete"}))
    run = server.ok("alice", "GET", f"{API}/runs/get", params={"run_id": run_id})["run"]
    assert run["info"]["lifecycle_stage"] == "active"


def test_a_server_whose_default_is_no_permissions_shows_the_ui_to_admins_only(repo: Path) -> None:
    server = auth_server(repo, default_permission="NO_PERMISSIONS")
    refused(server.call("alice", "GET", "/"))
    assert server.call("admin", "GET", "/").status_code == 200


def test_mlflow_ui_routes_need_read_on_what_they_serve(server: AuthServer) -> None:
    experiment = server.experiment("alice")
    run = server.model_run("alice", experiment)
    model = server.ok(
        "alice", "POST", f"{API}/logged-models", json={"experiment_id": experiment, "name": "m"}
    )["model"]["info"]["model_id"]
    server.credentials.grant(
        ("experiment_permissions", "experiment_id"), experiment, "bob", "NO_PERMISSIONS", new=True
    )
    ajax = "/ajax-api/2.0/mlflow"
    file = {"run_id": run, "path": "model/model.bin"}
    for method, path, fields in (
        ("GET", "/get-artifact", {"params": file}),
        ("GET", "http://localhost//get-artifact", {"params": file}),
        ("GET", f"{ajax}/metrics/get-history-bulk", {"params": {"run_id": run, "metric_key": "m"}}),
        ("POST", f"{ajax}/experiments/search-datasets", {"json": {"experiment_ids": [experiment]}}),
        ("GET", f"{ajax}/logged-models/{model}/artifacts/directories", {}),
        ("POST", f"{ajax}/upload-artifact", {"params": {"run_uuid": run, "path": "x.txt"}}),
    ):
        response = server.call("bob", method, path, **fields)
        assert response.status_code == 403, (path, response.text[:200])
    assert server.call("alice", "GET", "/get-artifact", params=file).status_code == 200
