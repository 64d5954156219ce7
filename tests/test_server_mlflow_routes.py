"""What MLflow's own server tests expect of the REST surface beyond the client's calls.

Field types and MLflow's exact messages, the ``/ajax-api/`` routes of MLflow's web UI
(metric history in bulk, dataset summaries, uploads, logged-model files), ``/get-artifact``
with MLflow's download headers, and ``--artifacts-destination``. In-process app over a
fresh repository, spoken to with httpx as ``tests/mlflow_compat/run.py``'s tests do.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mltrack.server.app import create_app
from mltrack.server.config import ServerConfig, open_backend

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def serve(repo: Path, **config: Any) -> TestClient:
    root = open_backend(str(repo), init=True)
    app = create_app(ServerConfig(root, owner_pid=os.getpid(), **config))
    return TestClient(app, base_url="http://localhost")


@pytest.fixture
def http(repo: Path) -> Iterator[TestClient]:
    with serve(repo) as client:
        yield client


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def bad(response: httpx.Response, code: str = "INVALID_PARAMETER_VALUE") -> str:
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == code
    return str(response.json()["message"])


def new_run(http: httpx.Client) -> tuple[str, str]:
    name = f"exp-{uuid.uuid4().hex}"
    experiment_id = ok(http.post(f"{API}/experiments/create", json={"name": name}))["experiment_id"]
    run = ok(http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}))["run"]
    return experiment_id, run["info"]["run_id"]


def put(http: httpx.Client, url: str, data: bytes) -> None:
    response = http.put(url, content=data)
    assert response.status_code == 200, response.text


def filename(response: httpx.Response) -> str:
    message = Message()
    message["content-disposition"] = response.headers["content-disposition"]
    return str(message.get_param("filename", header="content-disposition"))


# ---------------------------------------------------------------------- field types, messages


def test_string_fields_refuse_numbers_as_mlflow_does(http: httpx.Client) -> None:
    assert "Invalid value 123 for parameter 'name'" in bad(
        http.post(f"{API}/experiments/create", json={"name": 123})
    )
    assert "Invalid value 9.0 for parameter 'artifact_location'" in bad(
        http.post(f"{API}/experiments/create", json={"name": "e", "artifact_location": 9.0})
    )
    _, run_id = new_run(http)
    metric = {"key": "m", "value": 1, "timestamp": 5, "step": 0}
    for route, fields in (
        ("runs/log-metric", metric),
        ("runs/log-parameter", {"key": "p", "value": "v"}),
        ("runs/set-tag", {"key": "t", "value": "v"}),
    ):
        message = bad(http.post(f"{API}/{route}", json={"run_id": 31, **fields}))
        assert "Invalid value 31 for parameter 'run_id' supplied" in message
    assert "Invalid value 31 for parameter 'key'" in bad(
        http.post(f"{API}/runs/log-metric", json={**metric, "run_id": run_id, "key": 31})
    )
    assert "Invalid value 41 for parameter 'value'" in bad(
        http.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "p", "value": 41})
    )
    # a registry version is a string field clients may send as a number
    ok(http.post(f"{API}/registered-models/create", json={"name": "numbered"}))
    response = http.get(f"{API}/model-versions/get", params={"name": "numbered", "version": 1})
    assert response.status_code == 404 and "version" in response.text.lower()
    response = http.post(
        f"{API}/registered-models/alias", json={"name": "numbered", "alias": "a", "version": 1}
    )
    assert response.status_code == 404, response.text


def test_messages_and_field_paths_as_mlflow_words_them(http: httpx.Client) -> None:
    experiment_id, run_id = new_run(http)
    response = http.post(
        f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [{"key": "m", "value": 1}]}
    )
    assert "Missing value for required parameter 'metrics[0].timestamp'" in bad(response)
    response = http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": "foo"})
    assert "Invalid value \"foo\" for parameter 'metrics' supplied" in bad(response)
    response = http.post(
        f"{API}/runs/search", json={"experiment_ids": [experiment_id], "max_results": 123456789}
    )
    assert "Invalid value 123456789 for parameter 'max_results' supplied" in bad(response)
    response = http.get(f"{API}/registered-models/get", params={"name": "ghost"})
    assert response.status_code == 404
    assert "Registered Model with name=ghost not found" in response.json()["message"]
    model = ok(http.post(f"{API}/logged-models", json={"experiment_id": experiment_id}))["model"]
    response = http.delete(f"{API}/logged-models/{model['info']['model_id']}/tags/nope")
    assert response.status_code == 404 and "No tag with key 'nope'" in response.text


def test_deleting_a_tag_of_a_deleted_run_says_the_run_is_not_active(http: httpx.Client) -> None:
    _, run_id = new_run(http)
    ok(http.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "t", "value": "v"}))
    ok(http.post(f"{API}/runs/delete", json={"run_id": run_id}))
    message = bad(http.post(f"{API}/runs/delete-tag", json={"run_id": run_id, "key": "other"}))
    assert message.startswith(f"The run {run_id} must be in the 'active' state")


def test_renaming_a_registered_model_updates_its_timestamp(http: httpx.Client) -> None:
    created = ok(http.post(f"{API}/registered-models/create", json={"name": "before"}))
    time.sleep(1.1)  # the clocks come from commit times, which git keeps in whole seconds
    renamed = ok(
        http.post(f"{API}/registered-models/rename", json={"name": "before", "new_name": "after"})
    )["registered_model"]
    before = created["registered_model"]
    assert renamed["creation_timestamp"] == before["creation_timestamp"]
    assert renamed["last_updated_timestamp"] > before["last_updated_timestamp"]


@pytest.mark.parametrize(
    "url",
    [
        f"{API}/artifacts/list?path=../path&run_id=RUN",
        "/get-artifact?path=../path&run_id=RUN",
        "//model-versions/get-artifact?name=model&version=1&path=../path",
        f"{AJAX}/upload-artifact?run_uuid=RUN&path=../x.txt",
    ],
)
def test_paths_leaving_their_root_are_invalid_path(http: httpx.Client, url: str) -> None:
    _, run_id = new_run(http)
    url = url.replace("RUN", run_id)
    method = "POST" if "upload" in url else "GET"
    assert bad(http.request(method, url, content=b"x")) == "Invalid path"


# ---------------------------------------------------------------------- MLflow's UI routes


def log_points(http: httpx.Client, run_id: str, points: list[tuple[int, int, float]]) -> None:
    for step, timestamp, value in points:
        ok(
            http.post(
                f"{API}/runs/log-metric",
                json={
                    "run_id": run_id,
                    "key": "m",
                    "value": value,
                    "timestamp": timestamp,
                    "step": step,
                },
            )
        )


def test_every_rest_route_is_also_under_ajax_api(http: httpx.Client) -> None:
    experiment_id, run_id = new_run(http)
    assert ok(http.get(f"{AJAX}/runs/get", params={"run_id": run_id}))["run"]["info"]
    assert ok(http.get(f"{AJAX}/experiments/get", params={"experiment_id": experiment_id}))
    assert http.get(f"{AJAX}/nope").status_code == 404


def test_get_history_bulk_checks_its_request_and_orders_by_run(http: httpx.Client) -> None:
    url = f"{AJAX}/metrics/get-history-bulk"
    assert "must specify at least one run_id" in bad(http.get(url, params={"metric_key": "m"}))
    many = {"run_id": [f"id_{i}" for i in range(101)], "metric_key": "m"}
    assert "cannot specify more than 100" in bad(http.get(url, params=many))
    assert "must specify a metric_key" in bad(http.get(url, params={"run_id": "x"}))
    _, first = new_run(http)
    _, second = new_run(http)
    points = [(2, 1, 10.0), (3, 1, 11.0), (3, 2, 12.0)]
    log_points(http, first, points)
    log_points(http, second, points)
    found = ok(http.get(url, params={"run_id": [second, first], "metric_key": "m"}))["metrics"]
    expected = [
        {"key": "m", "value": value, "timestamp": timestamp, "step": step, "run_id": run}
        for run in sorted([first, second])
        for step, timestamp, value in points
    ]
    assert found == expected
    limited = ok(http.get(url, params={"run_id": first, "metric_key": "m", "max_results": 2}))
    assert limited["metrics"] == [m for m in expected if m["run_id"] == first][:2]


def test_get_history_bulk_interval_samples_the_same_steps_in_every_run(
    http: httpx.Client,
) -> None:
    url = f"{AJAX}/metrics/get-history-bulk-interval"
    assert "between 1 and 2500" in bad(
        http.get(url, params={"run_ids": "x", "metric_key": "m", "max_results": 0})
    )
    assert "both must be specified" in bad(
        http.get(url, params={"run_ids": "x", "metric_key": "m", "start_step": 1})
    )
    assert "end_step must be greater than start_step" in bad(
        http.get(url, params={"run_ids": "x", "metric_key": "m", "start_step": 2, "end_step": 1})
    )
    _, short = new_run(http)
    _, long = new_run(http)
    log_points(http, short, [(step, 1, 1.0) for step in range(10)])
    log_points(http, long, [(step, 1, 1.0) for step in range(20)])
    alone = ok(http.get(url, params={"run_ids": short, "metric_key": "m", "max_results": 5}))
    assert [m["step"] for m in alone["metrics"]] == [0, 2, 4, 6, 8, 9]
    both = ok(
        http.get(url, params={"run_ids": [short, long], "metric_key": "m", "max_results": 5})
    )["metrics"]
    assert [(m["run_id"], m["step"]) for m in both] == [
        (short, 0), (short, 4), (short, 8), (short, 9),
        (long, 0), (long, 4), (long, 8), (long, 9), (long, 12), (long, 16), (long, 19),
    ]  # fmt: skip


def test_search_datasets_summarises_the_datasets_runs_used(http: httpx.Client) -> None:
    url = f"{AJAX}/experiments/search-datasets"
    assert "at least one experiment_id" in bad(http.post(url, json={}))
    assert "cannot specify more than 20" in bad(
        http.post(url, json={"experiment_ids": [str(i) for i in range(21)]})
    )
    experiment_id, run_id = new_run(http)
    dataset = {"name": "iris", "digest": "d1", "source_type": "local", "source": "iris.csv"}
    inputs = {
        "run_id": run_id,
        "datasets": [
            {"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": "training"}]}
        ],
    }
    ok(http.post(f"{API}/runs/log-inputs", json=inputs))
    found = ok(http.post(url, json={"experiment_ids": [experiment_id]}))
    assert found == {
        "dataset_summaries": [
            {"experiment_id": experiment_id, "name": "iris", "digest": "d1", "context": "training"}
        ]
    }


def test_upload_artifact_then_get_artifact(http: httpx.Client) -> None:
    _, run_id = new_run(http)
    url = f"{AJAX}/upload-artifact"
    assert bad(http.post(url)) == "Request must specify run_uuid."
    assert bad(http.post(url, params={"run_uuid": run_id})) == "Request must specify path."
    empty = http.post(url, params={"run_uuid": run_id, "path": "notes.txt"})
    assert bad(empty) == "Request must specify data."
    ok(http.post(url, params={"run_uuid": run_id, "path": "notes.txt"}, content=b"hello world"))
    got = http.get("/get-artifact", params={"run_uuid": run_id, "path": "notes.txt"})
    assert got.status_code == 200 and got.text == "hello world"
    assert got.headers["content-type"] == "text/plain"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert filename(got) == "notes.txt"
    missing = http.get("/get-artifact", params={"run_id": run_id, "path": "nope.txt"})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("a.txt", "text/plain"),
        ("MLmodel", "text/plain"),
        ("conda.yaml", "text/plain"),
        ("b.pkl", "application/octet-stream"),
        ("c.png", "image/png"),
        ("page.html", "text/plain"),  # never rendered from the server's origin
        ("dog step 20.png", "image/png"),
    ],
)
def test_downloads_carry_mlflows_type_and_file_name(
    http: httpx.Client, name: str, mime: str
) -> None:
    experiment_id, run_id = new_run(http)
    put = http.put(f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts/{name}", content=b"data")
    assert put.status_code == 200, put.text
    for response in (
        http.get("/get-artifact", params={"run_id": run_id, "path": name}),
        http.get(
            f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts/{name}",
            headers={"Accept": "text/html"},
        ),
    ):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == mime
        assert response.headers["x-content-type-options"] == "nosniff"
        assert filename(response) == name
        assert response.headers["content-disposition"].startswith("attachment;")


def test_logged_model_files_and_registered_version_files(http: httpx.Client) -> None:
    experiment_id, run_id = new_run(http)
    model = ok(
        http.post(
            f"{API}/logged-models",
            json={"experiment_id": experiment_id, "source_run_id": run_id, "name": "model"},
        )
    )["model"]
    model_id = model["info"]["model_id"]
    root = model["info"]["artifact_uri"].replace("mlflow-artifacts:", ARTIFACTS)
    put(http, f"{root}/MLmodel", f"model_id: {model_id}\n".encode())
    put(http, f"{root}/data/weights.bin", b"w")
    listed = ok(http.get(f"{AJAX}/logged-models/{model_id}/artifacts/directories"))
    assert listed["files"] == [
        {"path": "MLmodel", "is_dir": False, "file_size": len(f"model_id: {model_id}\n")},
        {"path": "data", "is_dir": True},
    ]
    inner = http.get(
        f"{AJAX}/logged-models/{model_id}/artifacts/directories",
        params={"artifact_directory_path": "data"},
    )
    assert ok(inner)["files"] == [{"path": "data/weights.bin", "is_dir": False, "file_size": 1}]
    got = http.get(
        f"{AJAX}/logged-models/{model_id}/artifacts/files",
        params={"artifact_file_path": "MLmodel"},
    )
    assert got.status_code == 200 and model_id in got.text
    ok(http.patch(f"{API}/logged-models/{model_id}", json={"status": "LOGGED_MODEL_READY"}))
    ok(http.post(f"{API}/runs/update", json={"run_id": run_id, "status": "FINISHED"}))
    ok(http.post(f"{API}/registered-models/create", json={"name": "clf"}))
    source = f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model"
    ok(
        http.post(
            f"{API}/model-versions/create", json={"name": "clf", "source": source, "run_id": run_id}
        )
    )
    version_file = http.get(
        "/model-versions/get-artifact", params={"name": "clf", "version": "1", "path": "MLmodel"}
    )
    assert version_file.status_code == 200 and model_id in version_file.text
    assert version_file.headers["content-type"] == "text/plain"


# ---------------------------------------------------------------------- --artifacts-destination


def test_uploads_outside_a_run_need_an_artifacts_destination(repo: Path, tmp_path: Path) -> None:
    with serve(repo) as http:
        refused = http.put(f"{ARTIFACTS}/dir/a.txt", content=b"abc")
        assert "--artifacts-destination" in bad(refused)
    destination = tmp_path / "mlartifacts"
    with serve(repo, artifacts_destination=destination) as http:
        put(http, f"{ARTIFACTS}/dir/a.txt", b"abc")
        assert (destination / "dir" / "a.txt").read_bytes() == b"abc"
        got = http.get(f"{ARTIFACTS}/dir/a.txt")
        assert got.content == b"abc" and got.headers["content-type"] == "text/plain"
        listed = ok(http.get(ARTIFACTS, params={"path": "dir"}))
        assert listed == {"files": [{"path": "a.txt", "is_dir": False, "file_size": 3}]}
        assert http.get(f"{ARTIFACTS}/dir/missing.txt").status_code == 404
        experiment_id, run_id = new_run(http)
        put(http, f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts/b.txt", b"b")
    stored = list((repo / ".mltrack").rglob("b.txt"))
    assert len(stored) == 1 and not (destination / experiment_id).exists()
    assert not list(repo.rglob("a.txt"))


def test_the_destination_reaches_every_worker_and_must_be_local(tmp_path: Path) -> None:
    from mltrack.exceptions import InvalidParameterValue
    from mltrack.server.config import destination_path

    assert destination_path(None) is None
    assert destination_path((tmp_path / "d").as_uri()) == tmp_path / "d"
    with pytest.raises(InvalidParameterValue, match="not a local path"):
        destination_path("s3://bucket/artifacts")
    config = ServerConfig(tmp_path, artifacts_destination=tmp_path / "d")
    assert ServerConfig.from_env(config.to_env()).artifacts_destination == tmp_path / "d"


def test_a_parent_run_from_another_store_is_kept_as_its_tag(http: httpx.Client) -> None:
    experiment_id, _ = new_run(http)
    tags = [{"key": "mlflow.parentRunId", "value": "7"}]
    run = ok(http.post(f"{API}/runs/create", json={"experiment_id": experiment_id, "tags": tags}))
    stored = ok(http.get(f"{API}/runs/get", params={"run_id": run["run"]["info"]["run_id"]}))
    assert {"key": "mlflow.parentRunId", "value": "7"} in stored["run"]["data"]["tags"]


def test_a_source_commit_that_is_not_a_git_sha_stays_a_tag(http: httpx.Client) -> None:
    experiment_id, _ = new_run(http)
    tags = [{"key": "mlflow.source.git.commit", "value": "abc"}]
    run = ok(http.post(f"{API}/runs/create", json={"experiment_id": experiment_id, "tags": tags}))
    assert {"key": "mlflow.source.git.commit", "value": "abc"} in run["run"]["data"]["tags"]
