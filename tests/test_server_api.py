"""The tracking server's REST surface, spoken to with httpx as the MLflow client would.

Each test gets the app in-process (Starlette's ``TestClient``) over a fresh
repository. Live ``mltrack server`` processes remain only where the process
matters: ``--init``, worker processes owning runs, and a streamed 500 MB upload.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from starlette.testclient import TestClient

from liveserver import make_repo, run_cli
from mltrack.server.app import create_app
from mltrack.server.config import ServerConfig, open_backend
from support import TrackingServer

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def http(repo: Path) -> Iterator[TestClient]:
    """The tracking server's app in this process, over ``repo``, as an httpx client."""
    root = open_backend(str(repo), init=True)
    app = create_app(ServerConfig(root, owner_pid=os.getpid()))
    with TestClient(app, base_url="http://localhost") as client:
        yield client


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    """A real ``mltrack server`` process (for what needs one: streaming, its memory)."""
    repo, home = make_repo(tmp_path_factory.mktemp("api"))
    server = TrackingServer(repo, home=home)
    yield server
    server.stop()


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    return str(body["message"])


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def new_experiment(http: httpx.Client) -> str:
    body = ok(http.post(f"{API}/experiments/create", json={"name": f"exp-{uuid.uuid4().hex}"}))
    return str(body["experiment_id"])


def new_run(http: httpx.Client, experiment_id: str, **fields: Any) -> dict[str, Any]:
    request = {"experiment_id": experiment_id, "start_time": 1700000000000, **fields}
    return ok(http.post(f"{API}/runs/create", json=request))["run"]  # type: ignore[no-any-return]


def raw(http: TestClient, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """A request whose path reaches the app byte for byte, as uvicorn passes it on (HTTP
    clients normalise '..' away before sending)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"localhost"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(http.app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def raw_get(http: TestClient, path: str) -> tuple[int, dict[str, Any]]:
    status, data = raw(http, "GET", path)
    return status, json.loads(data) if data.startswith(b"{") else {}


# ---------------------------------------------------------------------- plain routes


def test_health_version_server_info_and_unknown_routes(http: httpx.Client) -> None:
    assert http.get("/health").text == "OK"
    assert http.get("/version").status_code == 200
    info = ok(http.get("/api/3.0/mlflow/server-info"))
    assert info["store_type"] == "mltrack" and info["multipart_uploads_enabled"] is False
    message = error(http.get(f"{API}/nope"), 404, "ENDPOINT_NOT_FOUND")
    assert "/api/2.0/mlflow/nope" in message
    error(http.get(f"{API}/runs/create"), 405, "BAD_REQUEST")
    assert "Malformed JSON" in error(
        http.post(f"{API}/experiments/create", content=b"{nope"), 400, "INVALID_PARAMETER_VALUE"
    )


# ---------------------------------------------------------------------- experiments


def test_experiments(http: httpx.Client) -> None:
    name = f"exp-{uuid.uuid4().hex}"
    created = ok(
        http.post(
            f"{API}/experiments/create",
            json={"name": name, "tags": [{"key": "team", "value": "ml"}]},
        )
    )
    experiment_id = created["experiment_id"]
    assert isinstance(experiment_id, str) and experiment_id.isdigit()
    error(
        http.post(f"{API}/experiments/create", json={"name": name}), 400, "RESOURCE_ALREADY_EXISTS"
    )
    experiment = ok(http.get(f"{API}/experiments/get", params={"experiment_id": experiment_id}))[
        "experiment"
    ]
    assert experiment == {
        "experiment_id": experiment_id,
        "name": name,
        "artifact_location": f"mlflow-artifacts:/{experiment_id}",
        "lifecycle_stage": "active",
        "tags": [{"key": "team", "value": "ml"}],
        # recorded when created, so an experiment without runs has them too (as MLflow)
        "creation_time": experiment["creation_time"],
        "last_update_time": experiment["creation_time"],
    }
    assert experiment["creation_time"] > 1_700_000_000_000
    by_name = ok(http.get(f"{API}/experiments/get-by-name", params={"experiment_name": name}))
    assert by_name["experiment"]["experiment_id"] == experiment_id
    assert "Could not find experiment with name 'nope'" in error(
        http.get(f"{API}/experiments/get-by-name", params={"experiment_name": "nope"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert "must be a valid integer" in error(
        http.get(f"{API}/experiments/get", params={"experiment_id": "abc"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    ok(
        http.post(
            f"{API}/experiments/set-experiment-tag",
            json={"experiment_id": experiment_id, "key": "k", "value": "v"},
        )
    )
    ok(
        http.post(
            f"{API}/experiments/update",
            json={"experiment_id": experiment_id, "new_name": name + "-2"},
        )
    )
    ok(http.post(f"{API}/experiments/delete", json={"experiment_id": experiment_id}))
    active = ok(http.post(f"{API}/experiments/search", json={"max_results": 1000}))
    assert experiment_id not in [e["experiment_id"] for e in active["experiments"]]
    everything = ok(http.post(f"{API}/experiments/search", json={"view_type": "ALL"}))
    [found] = [e for e in everything["experiments"] if e["experiment_id"] == experiment_id]
    assert found["lifecycle_stage"] == "deleted" and found["name"] == name + "-2"
    ok(http.post(f"{API}/experiments/restore", json={"experiment_id": experiment_id}))
    first = ok(http.post(f"{API}/experiments/search", json={"max_results": 1}))
    assert len(first["experiments"]) == 1 and first["next_page_token"]


# ---------------------------------------------------------------------- runs


def test_run_lifecycle_shapes_and_commit(http: httpx.Client, repo: Path) -> None:
    experiment_id = new_experiment(http)
    tags = [{"key": "mlflow.user", "value": "ada"}, {"key": "mlflow.runName", "value": "r1"}]
    run = new_run(http, experiment_id, run_name="r1", user_id="ada", tags=tags)
    run_id = run["info"]["run_id"]
    assert run["info"] == {
        "run_uuid": run_id,
        "experiment_id": experiment_id,
        "run_name": "r1",
        "user_id": "ada",
        "status": "RUNNING",
        "start_time": 1700000000000,
        "artifact_uri": f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts",
        "lifecycle_stage": "active",
        "run_id": run_id,
    }
    assert run["inputs"] == {} and "outputs" not in run
    ids = {"run_id": run_id, "run_uuid": run_id}
    ok(http.post(f"{API}/runs/log-parameter", json={**ids, "key": "alpha", "value": "0.5"}))
    ok(
        http.post(
            f"{API}/runs/log-metric",
            json={**ids, "key": "acc", "value": 0.9, "timestamp": "1700000000100", "step": "1"},
        )
    )
    ok(
        http.post(
            f"{API}/runs/log-metric",
            json={**ids, "key": "acc", "value": 0.95, "timestamp": 1700000000200, "step": 2},
        )
    )
    ok(
        http.post(
            f"{API}/runs/log-metric",
            json={**ids, "key": "odd", "value": "NaN", "timestamp": 1, "step": 0},
        )
    )
    ok(http.post(f"{API}/runs/set-tag", json={**ids, "key": "stage", "value": "dev"}))
    ok(
        http.post(
            f"{API}/runs/log-batch",
            json={
                "run_id": run_id,
                "metrics": [{"key": "loss", "value": 0.2, "timestamp": 1700000000300, "step": 2}],
                "params": [{"key": "l1", "value": "0.1"}, {"key": "alpha", "value": "0.5"}],
                "tags": [{"key": "t", "value": "1"}],
            },
        )
    )
    got = ok(http.get(f"{API}/runs/get", params={"run_uuid": run_id}))["run"]
    assert {m["key"]: m["value"] for m in got["data"]["metrics"]} == {
        "acc": 0.95,
        "odd": "NaN",
        "loss": 0.2,
    }
    assert {p["key"]: p["value"] for p in got["data"]["params"]} == {"alpha": "0.5", "l1": "0.1"}
    assert got["outputs"] == {} and "end_time" not in got["info"]
    history = ok(
        http.get(
            f"{API}/metrics/get-history",
            params={"run_id": run_id, "metric_key": "acc", "max_results": 1},
        )
    )
    assert history["metrics"] == [
        {"key": "acc", "value": 0.9, "timestamp": 1700000000100, "step": 1}
    ]
    rest = ok(
        http.get(
            f"{API}/metrics/get-history",
            params={
                "run_id": run_id,
                "metric_key": "acc",
                "page_token": history["next_page_token"],
            },
        )
    )
    assert [m["step"] for m in rest["metrics"]] == [2] and "next_page_token" not in rest
    assert (
        ok(http.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "x"}))
        == {}
    )
    ok(http.post(f"{API}/runs/delete-tag", json={"run_id": run_id, "key": "t"}))
    updated = ok(
        http.post(
            f"{API}/runs/update",
            json={**ids, "status": "FINISHED", "end_time": 1700000000999},
        )
    )
    assert updated["run_info"]["status"] == "FINISHED"
    assert updated["run_info"]["end_time"] == 1700000000999
    assert git(repo, "log", "-1", "--format=%s").strip().startswith("Run r1: FINISHED")
    assert run_id in git(repo, "log", "-1", "--format=%b")


def test_run_errors(http: httpx.Client) -> None:
    run_id = new_run(http, new_experiment(http))["info"]["run_id"]
    ids = {"run_id": run_id}
    message = error(
        http.get(f"{API}/runs/get", params={"run_id": "doesnotexist"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert "doesnotexist" in message
    ok(http.post(f"{API}/runs/log-parameter", json={**ids, "key": "alpha", "value": "0.5"}))
    assert "Changing param values is not allowed" in error(
        http.post(f"{API}/runs/log-parameter", json={**ids, "key": "alpha", "value": "0.7"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "Missing value for required parameter 'timestamp'" in error(
        http.post(f"{API}/runs/log-metric", json={**ids, "key": "a", "value": 1.0}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "Invalid value \"abc\" for parameter 'value'" in error(
        http.post(
            f"{API}/runs/log-metric", json={**ids, "key": "a", "value": "abc", "timestamp": 1}
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    error(
        http.post(
            f"{API}/runs/log-metric", json={**ids, "key": "bad!key", "value": 1, "timestamp": 1}
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    metrics = [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(1001)]
    assert "at most 1000 metrics" in error(
        http.post(f"{API}/runs/log-batch", json={**ids, "metrics": metrics}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    error(
        http.post(f"{API}/runs/delete-tag", json={**ids, "key": "nope"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        http.post(f"{API}/runs/create", json={"experiment_id": "999"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_search_runs_filters_orders_and_pages(http: httpx.Client) -> None:
    experiment_id = new_experiment(http)
    for index, acc in enumerate([0.3, 0.9, 0.6]):
        run_id = new_run(http, experiment_id, run_name=f"r{index}")["info"]["run_id"]
        batch = {
            "run_id": run_id,
            "metrics": [{"key": "acc", "value": acc, "timestamp": 1, "step": 0}],
            "params": [{"key": "alpha", "value": "0.5" if index else "1"}],
        }
        ok(http.post(f"{API}/runs/log-batch", json=batch))
    request = {
        "experiment_ids": [experiment_id],
        "filter": "metrics.acc > 0.5 and params.alpha = '0.5'",
        "order_by": ["metrics.acc DESC"],
        "run_view_type": "ACTIVE_ONLY",
        "max_results": 1,
    }
    first = ok(http.post(f"{API}/runs/search", json=request))
    assert [r["info"]["run_name"] for r in first["runs"]] == ["r1"]
    second = ok(
        http.post(f"{API}/runs/search", json={**request, "page_token": first["next_page_token"]})
    )
    assert [r["info"]["run_name"] for r in second["runs"]] == ["r2"]
    assert "next_page_token" not in second
    assert ok(http.post(f"{API}/runs/search", json={**request, "filter": "metrics.acc > 5"})) == {}
    error(
        http.post(f"{API}/runs/search", json={**request, "filter": "metrics.acc >"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    error(
        http.post(f"{API}/runs/search", json={**request, "max_results": 50001}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    run_id = first["runs"][0]["info"]["run_id"]
    ok(http.post(f"{API}/runs/delete", json={"run_id": run_id}))
    assert (
        ok(http.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]["info"]["lifecycle_stage"]
        == "deleted"
    )
    remaining = ok(http.post(f"{API}/runs/search", json={**request, "max_results": 10}))
    assert [r["info"]["run_name"] for r in remaining["runs"]] == ["r2"]
    ok(http.post(f"{API}/runs/restore", json={"run_id": run_id}))


def test_log_inputs_and_outputs(http: httpx.Client) -> None:
    experiment_id = new_experiment(http)
    run_id = new_run(http, experiment_id)["info"]["run_id"]
    dataset = {
        "name": "iris",
        "digest": "470bc25c",
        "source_type": "local",
        "source": '{"uri": "/data/iris.csv"}',
        "schema": '{"mlflow_colspec": []}',
        "profile": '{"num_rows": 150}',
    }
    tags = [{"key": "mlflow.data.context", "value": "training"}]
    ok(
        http.post(
            f"{API}/runs/log-inputs",
            json={"run_id": run_id, "datasets": [{"tags": tags, "dataset": dataset}]},
        )
    )
    run = ok(http.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]
    assert run["inputs"] == {"dataset_inputs": [{"tags": tags, "dataset": dataset}]}
    model = ok(
        http.post(
            f"{API}/logged-models",
            json={"experiment_id": experiment_id, "name": "m", "source_run_id": run_id},
        )
    )
    model_id = model["model"]["info"]["model_id"]
    ok(
        http.post(
            f"{API}/runs/outputs",
            json={"run_id": run_id, "models": [{"model_id": model_id, "step": 3}]},
        )
    )
    run = ok(http.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]
    assert run["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 3}]}
    found = ok(
        http.post(
            f"{API}/runs/search",
            json={"experiment_ids": [experiment_id], "filter": "datasets.name = 'iris'"},
        )
    )
    assert [r["info"]["run_id"] for r in found["runs"]] == [run_id]


# ---------------------------------------------------------------------- artifacts


def test_artifacts_upload_list_download(http: httpx.Client) -> None:
    experiment_id = new_experiment(http)
    run_id = new_run(http, experiment_id)["info"]["run_id"]
    root = f"{experiment_id}/{run_id}/artifacts"
    assert http.put(f"{ARTIFACTS}/{root}/notes.txt", content=b"hello\n").status_code == 200
    assert http.put(f"{ARTIFACTS}/{root}/cfg/d.json", content=b'{"a": 1}').status_code == 200
    listing = ok(http.get(ARTIFACTS, params={"path": root}))
    assert listing == {
        "files": [
            {"path": "cfg", "is_dir": True},
            {"path": "notes.txt", "is_dir": False, "file_size": 6},
        ]
    }
    assert ok(http.get(ARTIFACTS, params={"path": f"{root}/cfg"})) == {
        "files": [{"path": "d.json", "is_dir": False, "file_size": 8}]
    }
    assert ok(http.get(ARTIFACTS, params={"path": f"{root}/nope"})) == {}
    assert ok(http.get(ARTIFACTS, params={"path": f"{root}/notes.txt"})) == {}
    download = http.get(f"{ARTIFACTS}/{root}/cfg/d.json")
    assert download.status_code == 200 and download.content == b'{"a": 1}'
    assert "attachment" in download.headers["content-disposition"]
    error(http.get(f"{ARTIFACTS}/{root}/missing.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(http.get(f"{ARTIFACTS}/{root}/cfg"), 400, "INVALID_PARAMETER_VALUE")
    tracking_list = ok(http.get(f"{API}/artifacts/list", params={"run_id": run_id, "path": "cfg"}))
    assert tracking_list == {
        "root_uri": f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts",
        "files": [{"path": "cfg/d.json", "is_dir": False, "file_size": 8}],
    }
    wrong_experiment = f"{ARTIFACTS}/0/{run_id}/artifacts/x.txt"
    error(http.put(wrong_experiment, content=b"x"), 404, "RESOURCE_DOES_NOT_EXIST")
    multipart = http.post(
        f"/api/2.0/mlflow-artifacts/mpu/create/{root}", json={"path": "x", "num_parts": 2}
    )
    assert multipart.status_code == 501
    assert multipart.json()["message"].startswith("Multipart upload is not supported")


@pytest.mark.parametrize(
    "suffix",
    [
        "../../../../etc/passwd",
        "x/../../other/artifacts/y",
        "%2e%2e/%2e%2e/secret",
        "..%2f..%2fsecret",
        "%252e%252e/secret",
        "..%5c..%5csecret",
        "%00x",
    ],
)
def test_artifact_paths_that_escape_are_refused(http: TestClient, suffix: str) -> None:
    run_id = new_run(http, "0")["info"]["run_id"]
    status, body = raw_get(http, f"{ARTIFACTS}/0/{run_id}/artifacts/{suffix}")
    assert status == 400, body
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    status, _ = raw(http, "PUT", f"{ARTIFACTS}/0/{run_id}/artifacts/{suffix}", b"evil")
    assert status == 400


def test_absolute_and_listing_escapes_are_refused(http: TestClient) -> None:
    status, _ = raw_get(http, f"{ARTIFACTS}//etc/passwd")
    assert status == 400
    for path in ("../x", "0/../../x", "/etc", "%2e%2e/x"):
        error(http.get(ARTIFACTS, params={"path": path}), 400, "INVALID_PARAMETER_VALUE")
    assert ok(http.get(ARTIFACTS)) == {}


# ---------------------------------------------------------------------- logged models


def test_logged_models(http: httpx.Client, repo: Path) -> None:
    experiment_id = new_experiment(http)
    run_id = new_run(http, experiment_id)["info"]["run_id"]
    request = {
        "experiment_id": experiment_id,
        "name": "model",
        "source_run_id": run_id,
        "params": [{"key": "alpha", "value": "0.5"}],
        "tags": [{"key": "b", "value": "2"}, {"key": "a", "value": "1"}],
    }
    created = ok(http.post(f"{API}/logged-models", json=request))["model"]
    info = created["info"]
    model_id = info["model_id"]
    assert model_id.startswith("m-") and len(model_id) == 34
    assert info["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model"
    assert info["status"] == "LOGGED_MODEL_PENDING" and info["model_type"] == ""
    assert info["tags"] == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    assert created["data"] == {"params": [{"key": "alpha", "value": "0.5"}]}
    second = ok(http.post(f"{API}/logged-models", json=request))["model"]["info"]
    assert second["artifact_uri"].endswith("/artifacts/model-2")
    root = f"{experiment_id}/{run_id}/artifacts/model"
    http.put(f"{ARTIFACTS}/{root}/MLmodel", content=b"flavors: {}\n").raise_for_status()
    ready = ok(
        http.patch(
            f"{API}/logged-models/{model_id}",
            json={"model_id": model_id, "status": "LOGGED_MODEL_READY"},
        )
    )
    assert ready["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    assert ok(http.get(f"{API}/logged-models/{model_id}"))["model"]["info"]["status"] == (
        "LOGGED_MODEL_READY"
    )
    found = ok(
        http.post(
            f"{API}/logged-models/search",
            json={"experiment_ids": [experiment_id], "filter": "name = 'model'", "max_results": 1},
        )
    )
    assert len(found["models"]) == 1 and found["next_page_token"]
    assert (
        ok(
            http.post(
                f"{API}/logged-models/search",
                json={"experiment_ids": [experiment_id], "filter": "name = 'cfg'"},
            )
        )
        == {}
    )
    # No metric of these models was logged on a dataset
    by_dataset = {"experiment_ids": [experiment_id], "datasets": [{"dataset_name": "train"}]}
    assert ok(http.post(f"{API}/logged-models/search", json=by_dataset)) == {}
    no_name = {"experiment_ids": [experiment_id], "datasets": [{"dataset_digest": "d"}]}
    assert "`dataset_name` in the `datasets` clause" in error(
        http.post(f"{API}/logged-models/search", json=no_name), 400, "INVALID_PARAMETER_VALUE"
    )
    ok(
        http.patch(
            f"{API}/logged-models/{model_id}/tags", json={"tags": [{"key": "t1", "value": "v1"}]}
        )
    )
    ok(http.delete(f"{API}/logged-models/{model_id}/tags/a"))
    tags = ok(http.get(f"{API}/logged-models/{model_id}"))["model"]["info"]["tags"]
    assert tags == [{"key": "b", "value": "2"}, {"key": "t1", "value": "v1"}]
    assert "not found" in error(
        http.get(f"{API}/logged-models/m-{'0' * 32}"), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    holder = ok(http.post(f"{API}/logged-models", json={"experiment_id": experiment_id}))
    holder_run = holder["model"]["info"]["source_run_id"]
    assert (
        ok(http.get(f"{API}/runs/get", params={"run_id": holder_run}))["run"]["info"]["status"]
        == "RUNNING"
    )


def test_logged_model_metrics_inputs_outputs_and_deletion(http: httpx.Client) -> None:
    """MLflow 3's links between runs and logged models, as the MLflow client sends them."""
    experiment_id = new_experiment(http)
    run_id = new_run(http, experiment_id)["info"]["run_id"]

    def create(**fields: Any) -> dict[str, Any]:
        body = {"experiment_id": experiment_id, **fields}
        return ok(http.post(f"{API}/logged-models", json=body))["model"]["info"]  # type: ignore[no-any-return]

    model_id, other_id = create()["model_id"], create()["model_id"]
    point = {"key": "acc", "value": 0.5, "timestamp": 123, "step": 1}
    link = {"model_id": model_id, "dataset_name": "eval", "dataset_digest": "d1"}
    ok(http.post(f"{API}/runs/log-metric", json={"run_id": run_id, **point, **link}))
    batch = [{"key": "loss", "value": 0.25, "timestamp": 124, "step": 0, "model_id": model_id}]
    ok(http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": batch}))
    data = ok(http.get(f"{API}/logged-models/{model_id}"))["model"]["data"]
    assert data["metrics"] == [
        {**point, "run_id": run_id, **link},
        {**batch[0], "run_id": run_id},
    ]
    unknown = {"run_id": run_id, **point, "model_id": f"m-{'0' * 32}"}
    error(http.post(f"{API}/runs/log-metric", json=unknown), 404, "RESOURCE_DOES_NOT_EXIST")
    by_dataset = {"experiment_ids": [experiment_id], "datasets": [{"dataset_name": "eval"}]}
    found = ok(http.post(f"{API}/logged-models/search", json=by_dataset))["models"]
    assert [m["info"]["model_id"] for m in found] == [model_id]

    ok(
        http.post(
            f"{API}/runs/log-inputs", json={"run_id": run_id, "models": [{"model_id": model_id}]}
        )
    )
    outputs = {"run_id": run_id, "models": [{"model_id": other_id, "step": 2}]}
    ok(http.post(f"{API}/runs/outputs", json=outputs))
    run = ok(http.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]
    assert run["inputs"]["model_inputs"] == [{"model_id": model_id}]
    assert run["outputs"]["model_outputs"] == [{"model_id": other_id, "step": 2}]
    missing = {"run_id": run_id, "models": [{"step": 2}]}
    assert "'models.model_id'" in error(
        http.post(f"{API}/runs/outputs", json=missing), 400, "INVALID_PARAMETER_VALUE"
    )

    ok(http.delete(f"{API}/logged-models/{model_id}"))
    error(http.get(f"{API}/logged-models/{model_id}"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(http.delete(f"{API}/logged-models/{model_id}"), 404, "RESOURCE_DOES_NOT_EXIST")
    search = {"experiment_ids": [experiment_id]}
    found = ok(http.post(f"{API}/logged-models/search", json=search))["models"]
    assert [m["info"]["model_id"] for m in found] == [other_id]

    elsewhere = create(source_run_id="123")
    assert elsewhere["source_run_id"] == "123"
    assert (
        f"/{experiment_id}/" in elsewhere["artifact_uri"]
        and "/123/" not in elsewhere["artifact_uri"]
    )
    fetched = ok(http.get(f"{API}/logged-models/{elsewhere['model_id']}"))["model"]["info"]
    assert fetched["source_run_id"] == "123"


def test_registered_versions_tag_on_the_logged_model(http: httpx.Client) -> None:
    name, _, model_id = _registered_model(http)
    body = {"name": name, "source": f"models:/{model_id}", "model_id": model_id}
    ok(http.post(f"{API}/model-versions/create", json=body))
    # MLflow's fluent register_model sets it again after the server did: nothing changes
    again = {"key": "mlflow.modelVersions", "value": "[]"}
    ok(http.patch(f"{API}/logged-models/{model_id}/tags", json={"tags": [again]}))
    tags = ok(http.get(f"{API}/logged-models/{model_id}"))["model"]["info"]["tags"]
    versions = json.loads(next(t["value"] for t in tags if t["key"] == "mlflow.modelVersions"))
    assert versions == [{"name": name, "version": 1}, {"name": name, "version": 2}]


# ---------------------------------------------------------------------- registry


def _registered_model(http: httpx.Client) -> tuple[str, str, str]:
    """(name, run_id, model_id) of a fresh one-version model registered from a logged model."""
    experiment_id = new_experiment(http)
    run_id = new_run(http, experiment_id)["info"]["run_id"]
    model = ok(
        http.post(
            f"{API}/logged-models",
            json={"experiment_id": experiment_id, "name": "model", "source_run_id": run_id},
        )
    )
    model_id = model["model"]["info"]["model_id"]
    root = f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts/model"
    http.put(f"{root}/MLmodel", content=b"flavors: {}\n").raise_for_status()
    http.put(f"{root}/model.pkl", content=b"weights").raise_for_status()
    ok(http.patch(f"{API}/logged-models/{model_id}", json={"status": "LOGGED_MODEL_READY"}))
    ok(
        http.post(
            f"{API}/runs/update", json={"run_id": run_id, "status": "FINISHED", "end_time": 2}
        )
    )
    name = f"model {uuid.uuid4().hex[:8]}"
    assert ok(http.post(f"{API}/registered-models/create", json={"name": name})) == {
        "registered_model": {
            "name": name,
            "creation_timestamp": pytest.approx(0, abs=1e13),
            "last_updated_timestamp": pytest.approx(0, abs=1e13),
        }
    }
    source = f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model"
    version = ok(
        http.post(
            f"{API}/model-versions/create", json={"name": name, "source": source, "run_id": run_id}
        )
    )
    assert version["model_version"]["version"] == "1"
    return name, run_id, model_id


def test_registry_versions_aliases_stages(http: httpx.Client, repo: Path) -> None:
    name, run_id, model_id = _registered_model(http)
    error(
        http.post(f"{API}/registered-models/create", json={"name": name}),
        400,
        "RESOURCE_ALREADY_EXISTS",
    )
    second = ok(
        http.post(
            f"{API}/model-versions/create",
            json={"name": name, "source": f"models:/{model_id}", "model_id": model_id},
        )
    )
    version = second["model_version"]
    assert version["version"] == "2" and version["run_id"] == run_id
    assert version["source"] == f"models:/{model_id}" and version["current_stage"] == "None"
    assert (
        version["status"] == "READY" and version["description"] == "" and version["run_link"] == ""
    )
    tags = git(repo, "tag", "-l").split()
    assert sum(1 for t in tags if t.endswith(("/v1", "/v2"))) >= 2
    ok(
        http.post(
            f"{API}/registered-models/alias",
            json={"name": name, "alias": "champion", "version": "1"},
        )
    )
    by_alias = ok(
        http.get(f"{API}/registered-models/alias", params={"name": name, "alias": "champion"})
    )
    assert by_alias["model_version"]["version"] == "1"
    assert by_alias["model_version"]["aliases"] == ["champion"]
    assert "alias nope not found" in error(
        http.get(f"{API}/registered-models/alias", params={"name": name, "alias": "nope"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    error(
        http.post(
            f"{API}/registered-models/alias", json={"name": name, "alias": "v1", "version": "1"}
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    error(
        http.post(
            f"{API}/registered-models/alias", json={"name": name, "alias": "x", "version": "7"}
        ),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert (
        ok(
            http.request(
                "DELETE", f"{API}/registered-models/alias", json={"name": name, "alias": "nope"}
            )
        )
        == {}
    )
    ok(
        http.post(
            f"{API}/model-versions/transition-stage",
            json={
                "name": name,
                "version": "1",
                "stage": "production",
                "archive_existing_versions": False,
            },
        )
    )
    moved = ok(
        http.post(
            f"{API}/model-versions/transition-stage",
            json={
                "name": name,
                "version": "2",
                "stage": "Production",
                "archive_existing_versions": True,
            },
        )
    )
    assert moved["model_version"]["current_stage"] == "Production"
    error(
        http.post(
            f"{API}/model-versions/transition-stage",
            json={"name": name, "version": "1", "stage": "bogus"},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    model = ok(http.get(f"{API}/registered-models/get", params={"name": name}))["registered_model"]
    assert [(v["version"], v["current_stage"]) for v in model["latest_versions"]] == [
        ("1", "Archived"),
        ("2", "Production"),
    ]
    assert all("aliases" not in v for v in model["latest_versions"])
    assert model["aliases"] == [{"alias": "champion", "version": "1"}]
    latest = ok(
        http.post(
            f"{API}/registered-models/get-latest-versions",
            json={"name": name, "stages": ["Production"]},
        )
    )
    assert [v["version"] for v in latest["model_versions"]] == ["2"]
    searched = ok(http.get(f"{API}/model-versions/search", params={"filter": f"name='{name}'"}))
    assert sorted(v["version"] for v in searched["model_versions"]) == ["1", "2"]
    assert all("aliases" not in v for v in searched["model_versions"])
    models = ok(
        http.get(
            f"{API}/registered-models/search",
            params={
                "filter": f"name = '{name}' AND tag.`mlflow.prompt.is_prompt` != 'true'",
                "max_results": 100,
            },
        )
    )
    assert [m["name"] for m in models["registered_models"]] == [name]
    ok(http.request("DELETE", f"{API}/model-versions/delete", json={"name": name, "version": "2"}))
    error(
        http.get(f"{API}/model-versions/get", params={"name": name, "version": "2"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    renamed = ok(
        http.post(f"{API}/registered-models/rename", json={"name": name, "new_name": name + "-b"})
    )
    assert renamed["registered_model"]["name"] == name + "-b"
    error(
        http.get(f"{API}/registered-models/get", params={"name": name}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_download_uri_serves_the_tagged_snapshot(http: httpx.Client, repo: Path) -> None:
    name, run_id, _ = _registered_model(http)
    ok(http.post(f"{API}/runs/delete", json={"run_id": run_id}))
    result = run_cli("-C", str(repo), "gc", "--run-ids", run_id)
    assert result.returncode == 0, result.stderr
    assert run_id not in git(repo, "ls-files")  # the run left the branch
    uri = ok(
        http.get(f"{API}/model-versions/get-download-uri", params={"name": name, "version": "1"})
    )["artifact_uri"]
    assert uri.startswith("mlflow-artifacts:/_snapshots/")
    path = uri.removeprefix("mlflow-artifacts:/")
    listing = ok(http.get(ARTIFACTS, params={"path": path}))
    assert [f["path"] for f in listing["files"]] == ["MLmodel", "model.pkl"]
    assert http.get(f"{ARTIFACTS}/{path}/model.pkl").content == b"weights"
    error(http.put(f"{ARTIFACTS}/{path}/model.pkl", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    error(http.get(f"{ARTIFACTS}/_snapshots/{'0' * 40}/MLmodel"), 404, "RESOURCE_DOES_NOT_EXIST")


# ---------------------------------------------------------------------- start-up errors


@pytest.mark.parametrize(
    "uri", ["sqlite:///mlflow.db", "postgresql://user@db/mlflow", "mysql://db/x", "http://x:5000"]
)
def test_database_backends_are_refused_with_what_mltrack_stores(tmp_path: Path, uri: str) -> None:
    result = run_cli("server", "--backend-store-uri", uri, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: --backend-store-uri")
    assert "not a local path" in result.stderr and "git repository" in result.stderr
    assert ".mltrack/" in result.stderr and "Traceback" not in result.stderr


def test_backends_that_are_not_ready_say_how_to_fix_it(tmp_path: Path) -> None:
    missing = run_cli("server", "--backend-store-uri", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "--init" in missing.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    not_git = run_cli("server", "--backend-store-uri", str(plain))
    assert not_git.returncode == 1
    assert "not inside a git repository" in not_git.stderr and "git init" in not_git.stderr
    subprocess.run(["git", "init", "-q"], cwd=plain, check=True)
    uninitialised = run_cli("server", "--backend-store-uri", str(plain))
    assert uninitialised.returncode == 1
    assert "mltrack -C" in uninitialised.stderr and "init" in uninitialised.stderr


def test_init_creates_repository_and_store(tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    server = TrackingServer(target, "--init")
    try:
        assert (
            httpx.get(
                f"{server.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}
            ).json()["experiment"]["name"]
            == "Default"
        )
    finally:
        server.stop()
    assert (target / ".git").is_dir() and (target / ".mltrack" / "mltrack.yaml").is_file()


# ---------------------------------------------------------------------- large artifacts


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


@pytest.mark.slow
def test_a_500_mb_upload_streams_through_bounded_memory(live: TrackingServer) -> None:
    import hashlib

    with httpx.Client(base_url=live.url, timeout=30) as http:
        experiment_id = new_experiment(http)
        run_id = new_run(http, experiment_id)["info"]["run_id"]
        block = bytes(range(256)) * 4096  # 1 MiB
        blocks = 512
        expected = hashlib.sha256()
        for _ in range(blocks):
            expected.update(block)

        def body() -> Iterator[bytes]:
            for _ in range(blocks):
                yield block

        url = f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts/big/weights.bin"
        before = _peak_rss_mb(live.process.pid)
        http.put(url, content=body(), timeout=600).raise_for_status()
        received = hashlib.sha256()
        with http.stream("GET", url, timeout=600) as response:
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                received.update(chunk)
        peak = _peak_rss_mb(live.process.pid)
        assert received.hexdigest() == expected.hexdigest()
        listing = ok(
            http.get(ARTIFACTS, params={"path": f"{experiment_id}/{run_id}/artifacts/big"})
        )
        assert listing["files"] == [
            {"path": "weights.bin", "is_dir": False, "file_size": blocks << 20}
        ]
        print(f"server peak RSS {before:.0f} MB before, {peak:.0f} MB after")
        assert peak - before < 64, f"server peak RSS grew {peak - before:.0f} MB for a 512 MB file"
        assert peak < 256, f"server peak RSS {peak:.0f} MB"


# ---------------------------------------------------------------------- run ownership


def test_open_runs_belong_to_the_server_while_it_lives(repo: Path) -> None:
    """A run a client never ends is RUNNING while the server lives and KILLED once it stops."""
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    assert run_cli("-C", str(repo), "init").returncode == 0
    server = TrackingServer(repo, "--workers", "2")
    try:
        run = httpx.post(f"{server.url}{API}/runs/create", json={"experiment_id": "0"}).json()[
            "run"
        ]
        run_id = run["info"]["run_id"]

        def status() -> str:
            listed = run_cli("-C", str(repo), "runs", "list", "--format", "json")
            [row] = [r for r in json.loads(listed.stdout) if r["info"]["run_id"] == run_id]
            return str(row["info"]["status"])

        assert status() == "RUNNING"
    finally:
        server.stop()
    assert status() == "KILLED"


def test_page_tokens_with_negative_offsets_are_refused(http: httpx.Client) -> None:
    run_id = new_run(http, "0")["info"]["run_id"]
    for step in range(3):
        metric = {"key": "loss", "value": 1.0, "timestamp": 1, "step": step}
        ok(http.post(f"{API}/runs/log-metric", json={"run_id": run_id, **metric}))
    for offset in (-1, -2, "1"):
        token = base64.b64encode(json.dumps({"offset": offset}).encode()).decode()
        query = {"run_id": run_id, "metric_key": "loss", "max_results": 1, "page_token": token}
        message = error(
            http.get(f"{API}/metrics/get-history", params=query), 400, "INVALID_PARAMETER_VALUE"
        )
        assert "Invalid page token" in message


def test_remaining_registry_and_tag_endpoints(http: httpx.Client) -> None:
    name, _, model_id = _registered_model(http)
    version = {"name": name, "version": "1"}
    ok(
        http.post(
            f"{API}/registered-models/set-tag", json={"name": name, "key": "team", "value": "ml"}
        )
    )
    updated = ok(
        http.patch(f"{API}/registered-models/update", json={"name": name, "description": "d"})
    )
    assert updated["registered_model"]["description"] == "d"
    assert updated["registered_model"]["tags"] == [{"key": "team", "value": "ml"}]
    ok(
        http.request(
            "DELETE", f"{API}/registered-models/delete-tag", json={"name": name, "key": "team"}
        )
    )
    ok(http.post(f"{API}/model-versions/set-tag", json={**version, "key": "k", "value": "v"}))
    described = ok(
        http.patch(f"{API}/model-versions/update", json={**version, "description": "v1"})
    )
    assert described["model_version"]["description"] == "v1"
    assert described["model_version"]["tags"] == [{"key": "k", "value": "v"}]
    ok(http.request("DELETE", f"{API}/model-versions/delete-tag", json={**version, "key": "k"}))
    got = ok(http.get(f"{API}/model-versions/get", params=version))["model_version"]
    assert "tags" not in got and got["model_id"] == model_id
    ok(
        http.post(
            f"{API}/logged-models/{model_id}/params", json={"params": [{"key": "p", "value": "1"}]}
        )
    )
    params = ok(http.get(f"{API}/logged-models/{model_id}"))["model"]["data"]["params"]
    assert {"key": "p", "value": "1"} in params
    ok(http.request("DELETE", f"{API}/registered-models/delete", json={"name": name}))
    error(
        http.get(f"{API}/registered-models/get", params={"name": name}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    experiment_id = new_experiment(http)
    tag = {"experiment_id": experiment_id, "key": "k", "value": "v"}
    ok(http.post(f"{API}/experiments/set-experiment-tag", json=tag))
    ok(
        http.post(
            f"{API}/experiments/delete-experiment-tag",
            json={"experiment_id": experiment_id, "key": "k"},
        )
    )
    got_experiment = ok(http.get(f"{API}/experiments/get", params={"experiment_id": experiment_id}))
    assert "tags" not in got_experiment["experiment"]


def test_metric_history_bulk_interval(http: httpx.Client) -> None:
    experiment_id = new_experiment(http)
    run_ids = []
    for _ in range(2):
        run_id = new_run(http, experiment_id)["info"]["run_id"]
        metrics = [
            {"key": "loss", "value": 1 / (s + 1), "timestamp": s, "step": s} for s in range(20)
        ]
        ok(http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics}))
        run_ids.append(run_id)
    found = ok(
        http.get(
            f"{API}/metrics/get-history-bulk-interval",
            params={
                "run_ids": run_ids,
                "metric_key": "loss",
                "start_step": 5,
                "end_step": 14,
                "max_results": 4,
            },
        )
    )
    for run_id in run_ids:
        steps = [m["step"] for m in found["metrics"] if m["run_id"] == run_id]
        assert steps[0] == 5 and steps[-1] == 14 and len(steps) == 4
