"""The tracking server's guard against other hosts and other origins (MLflow 3's rules).

In-process through Starlette's TestClient for the rules, once through a real
``mltrack server`` for the flags.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from liveserver import make_repo
from support import TrackingServer

API = "/api/2.0/mlflow"
CREATE = f"{API}/experiments/create"


def app_client(repo: Path, **config: tuple[str, ...]) -> TestClient:
    from mltrack.server.app import create_app
    from mltrack.server.config import ServerConfig

    app = create_app(ServerConfig(repo, **config))
    return TestClient(app, base_url="http://127.0.0.1:5000", raise_server_exceptions=False)


@pytest.fixture
def store(repo: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    from conftest import invoke

    assert invoke(cli, "init").exit_code == 0
    return repo


@pytest.fixture
def client(store: Path) -> Iterator[TestClient]:
    with app_client(store) as client:
        yield client


def _experiments(client: TestClient) -> list[str]:
    body = client.get(f"{API}/experiments/search", params={"max_results": 100}).json()
    return [e["name"] for e in body.get("experiments", [])]


@pytest.mark.parametrize(
    "host", ["evil.example.com", "evil.example.com:5000", "127.0.0.1.evil.example", ""]
)
def test_foreign_hosts_get_403(client: TestClient, host: str) -> None:
    response = client.get(f"{API}/experiments/search", headers={"host": host})
    assert response.status_code == 403
    assert response.json()["error_code"] == "PERMISSION_DENIED"
    assert "--allowed-hosts" in response.json()["message"]


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:5000", "127.0.0.1:5000", "[::1]:5000", "192.168.1.20:5000"]
)
def test_local_and_private_hosts_are_served(client: TestClient, host: str) -> None:
    response = client.get(f"{API}/experiments/search", headers={"host": host})
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"


def test_health_answers_any_host(client: TestClient) -> None:
    assert client.get("/health", headers={"host": "lb.internal.example"}).status_code == 200


def test_a_cross_origin_text_plain_post_creates_nothing(client: TestClient) -> None:
    response = client.post(
        CREATE,
        content=b'{"name": "planted"}',
        headers={"origin": "https://evil.example", "content-type": "text/plain"},
    )
    assert response.status_code == 403
    assert "--cors-allowed-origins" in response.json()["message"]
    assert "planted" not in _experiments(client)
    for method in ("PUT", "PATCH", "DELETE"):
        refused = client.request(method, CREATE, headers={"origin": "null"})
        assert refused.status_code == 403


def test_localhost_origins_and_same_origin_posts_are_served(client: TestClient) -> None:
    for number, headers in enumerate(({}, {"origin": "http://localhost:3000"})):
        response = client.post(CREATE, json={"name": f"ok-{number}"}, headers=headers)
        assert response.status_code == 200, response.text
    assert {"ok-0", "ok-1"} <= set(_experiments(client))


def test_allowed_origins_and_hosts_replace_the_defaults(store: Path) -> None:
    config = {
        "allowed_hosts": ("mlflow.corp.example", "*.lab.example"),
        "cors_allowed_origins": ("https://app.corp.example",),
    }
    with app_client(store, **config) as client:
        assert client.get("/version", headers={"host": "localhost"}).status_code == 200
        assert client.get(f"{API}/experiments/search").status_code == 403  # 127.0.0.1 replaced
        for host in ("mlflow.corp.example", "mlflow.corp.example:443", "gpu1.lab.example"):
            assert (
                client.get(f"{API}/experiments/search", headers={"host": host}).status_code == 200
            )
        allowed = {"host": "mlflow.corp.example", "origin": "https://app.corp.example"}
        preflight = client.options(
            CREATE,
            headers={**allowed, "access-control-request-method": "POST"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.corp.example"
        created = client.post(CREATE, json={"name": "from-app"}, headers=allowed)
        assert created.status_code == 200
        assert created.headers["access-control-allow-origin"] == "https://app.corp.example"
        other = {"host": "mlflow.corp.example", "origin": "https://evil.example"}
        assert client.post(CREATE, json={"name": "x"}, headers=other).status_code == 403


def test_error_bodies_do_not_name_the_servers_files(client: TestClient, store: Path) -> None:
    run = client.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"]
    run_id = run["info"]["run_id"]
    run_dir = store / ".mltrack" / "experiments" / "0" / "runs" / run_id
    (run_dir / "artifacts").write_text("a file where the artifact directory belongs")
    upload = client.put(f"/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/a/b.txt")
    assert upload.status_code == 500
    assert upload.json()["message"].endswith("the server's log has the details.")
    (run_dir / "run.yaml").write_text("{")
    for response in (upload, client.get(f"{API}/runs/get", params={"run_id": run_id})):
        assert str(store) not in response.text
        assert str(store.resolve()) not in response.text


def test_the_flags_reach_a_real_server_and_its_workers(tmp_path: Path) -> None:
    repo, home = make_repo(tmp_path)
    server = TrackingServer(
        repo,
        "--workers",
        "2",
        "--allowed-hosts",
        "127.0.0.1:*,mlflow.corp.example",
        "--cors-allowed-origins",
        "https://app.corp.example",
        home=home,
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for _ in range(4):  # both workers, whichever answers
                assert http.get(f"{API}/experiments/search").status_code == 200
                assert (
                    http.get(f"{API}/experiments/search", headers={"host": "evil.example"})
                ).status_code == 403
                post = http.post(
                    CREATE,
                    json={"name": "x"},
                    headers={"origin": "https://evil.example"},
                )
                assert post.status_code == 403
            allowed = http.post(
                CREATE, json={"name": "app"}, headers={"origin": "https://app.corp.example"}
            )
            assert allowed.status_code == 200, allowed.text
    finally:
        server.stop()
