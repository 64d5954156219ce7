"""``/graphql`` on a live ``mltrack server``, with the queries MLflow 3.17.2's web UI sends.

The UI's operations are copied from its built JavaScript (``mlflow/server/js/build``):
the run page (``GetRun``), the experiment header (``MlflowGetExperimentQuery``), runs by
name (``SearchRuns``) and sampled metric charts (``GetMetricHistoryBulkInterval``).
Answers are MLflow's: ``{"data", "errors"}`` with errors as strings, int64 as strings,
protobuf's defaults for unset fields. With ``--auth``, every field is checked as the
REST route it mirrors.
"""

from __future__ import annotations

import base64
import importlib.util
import math
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from liveserver import make_repo
from support import TrackingServer, child_env

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"

GET_RUN = """
  query GetRun($data: MlflowGetRunInput!) @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetRun(input: $data) {
      apiError { helpUrl code message }
      run {
        info {
          runName status runUuid experimentId artifactUri endTime lifecycleStage startTime userId
        }
        experiment {
          experimentId name tags { key value } artifactLocation lifecycleStage lastUpdateTime
        }
        modelVersions { status version name source }
        data {
          metrics { key value step timestamp }
          params { key value }
          tags { key value }
        }
        inputs {
          datasetInputs {
            dataset { digest name profile schema source sourceType }
            tags { key value }
          }
          modelInputs { modelId }
        }
        outputs { modelOutputs { modelId step } }
      }
    }
  }
"""

GET_EXPERIMENT = """
  query MlflowGetExperimentQuery($input: MlflowGetExperimentInput!)
  @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetExperiment(input: $input) {
      apiError { code message }
      experiment {
        artifactLocation creationTime effectiveTraceArchivalRetention experimentId
        lastUpdateTime lifecycleStage name tags { key value }
      }
    }
  }
"""

SEARCH_RUNS = """
  query SearchRuns($data: MlflowSearchRunsInput!) {
    mlflowSearchRuns(input: $data) {
      apiError { helpUrl code message }
      runs {
        info { runName status runUuid experimentId }
        experiment { experimentId name }
        modelVersions { version name creationTimestamp status source }
      }
    }
  }
"""

BULK_INTERVAL = """
  query GetMetricHistoryBulkInterval($data: MlflowGetMetricHistoryBulkIntervalInput!)
  @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetMetricHistoryBulkInterval(input: $data) {
      __typename
      metrics { timestamp step runId key value }
      apiError { code message }
    }
  }
"""


# ---------------------------------------------------------------------- helpers


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fill(template: str, *values: str) -> str:
    """``template`` with each ``%s`` replaced by the next value (GraphQL is full of braces)."""
    for value in values:
        template = template.replace("%s", value, 1)
    return template


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}  # type: ignore[no-any-return]


def graphql(
    http: httpx.Client, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """The answer of one POST, which must be a 200 with MLflow's two keys."""
    body = ok(http.post("/graphql", json={"query": query, "variables": variables}, **kwargs))
    assert set(body) == {"data", "errors"}, body
    return body


def answered(body: dict[str, Any]) -> dict[str, Any]:
    assert body["errors"] is None, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def new_experiment(http: httpx.Client) -> str:
    return str(
        ok(http.post(f"{API}/experiments/create", json={"name": unique("exp")}))["experiment_id"]
    )


def new_run(http: httpx.Client, experiment_id: str) -> str:
    body = ok(http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}))
    return str(body["run"]["info"]["run_id"])


def model_run(http: httpx.Client, experiment_id: str) -> str:
    """A finished run with a model under ``model/``."""
    run_id = new_run(http, experiment_id)
    base = f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts/model"
    mlmodel = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: x\n"
    ok(http.put(f"{base}/MLmodel", content=mlmodel.encode()))
    ok(http.put(f"{base}/model.bin", content=b"weights"))
    ok(http.post(f"{API}/runs/update", json={"run_id": run_id, "status": "FINISHED"}))
    return run_id


def register(http: httpx.Client, run_id: str) -> str:
    name = unique("model")
    ok(http.post(f"{API}/registered-models/create", json={"name": name}))
    version = {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id}
    ok(http.post(f"{API}/model-versions/create", json=version))
    return name


# ---------------------------------------------------------------------- without --auth


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    repo, home = make_repo(tmp_path_factory.mktemp("graphql"))
    live = TrackingServer(repo, home=home)
    yield live
    live.stop()


@pytest.fixture
def http(server: TrackingServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def test_run_page_query_of_mlflow_ui(http: httpx.Client) -> None:
    experiment_id = new_experiment(http)
    run_id = model_run(http, experiment_id)
    name = register(http, run_id)
    # A second run to log into (the first one is finished and committed).
    run_id = new_run(http, experiment_id)
    ok(http.post(f"{API}/runs/log-batch", json={
        "run_id": run_id,
        "metrics": [
            {"key": "loss", "value": 0.25, "timestamp": 1700000000123, "step": 3},
            {"key": "bad", "value": "NaN", "timestamp": 2, "step": 1},
        ],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "team", "value": "vision"}],
    }))  # fmt: skip
    dataset = {"name": "train", "digest": "abc123", "source_type": "local", "source": "{}"}
    ok(http.post(f"{API}/runs/log-inputs", json={
        "run_id": run_id,
        "datasets": [{"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": "training"}]}],
    }))  # fmt: skip

    run = answered(graphql(http, GET_RUN, {"data": {"runId": run_id}}))["mlflowGetRun"]
    assert run["apiError"] is None
    info = run["run"]["info"]
    assert info["runUuid"] == run_id
    assert info["experimentId"] == experiment_id
    assert info["status"] == "RUNNING"
    assert info["endTime"] == "0"  # unset: protobuf's default, as MLflow answers
    assert isinstance(info["startTime"], str) and int(info["startTime"]) > 0
    assert info["artifactUri"] == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    assert run["run"]["experiment"]["experimentId"] == experiment_id
    assert run["run"]["experiment"]["tags"] == []
    metrics = {m["key"]: m for m in run["run"]["data"]["metrics"]}
    assert metrics["loss"] == {
        "key": "loss",
        "value": 0.25,
        "step": "3",
        "timestamp": "1700000000123",
    }
    assert metrics["bad"]["value"] is None  # NaN has no GraphQL Float
    assert run["run"]["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    assert {"key": "team", "value": "vision"} in run["run"]["data"]["tags"]
    assert run["run"]["inputs"] == {
        "datasetInputs": [{
            "dataset": {"digest": "abc123", "name": "train", "profile": "", "schema": "",
                        "source": "{}", "sourceType": "local"},
            "tags": [{"key": "mlflow.data.context", "value": "training"}],
        }],
        "modelInputs": [],
    }  # fmt: skip
    assert run["run"]["outputs"] == {"modelOutputs": []}
    assert run["run"]["modelVersions"] == []

    # The run that holds the registered model lists its version.
    first = answered(graphql(http, SEARCH_RUNS, {"data": {"experimentIds": [experiment_id]}}))
    runs = first["mlflowSearchRuns"]["runs"]
    assert [r["info"]["runUuid"] for r in runs][::-1][1] == run_id  # newest first
    finished = next(r for r in runs if r["info"]["status"] == "FINISHED")
    assert finished["modelVersions"] == [{
        "version": "1", "name": name, "creationTimestamp": finished["modelVersions"][0]["creationTimestamp"],
        "status": "READY", "source": f"runs:/{finished['info']['runUuid']}/model",
    }]  # fmt: skip
    assert finished["experiment"]["experimentId"] == experiment_id


def test_experiment_header_query_of_mlflow_ui(http: httpx.Client) -> None:
    experiment_id = new_experiment(http)
    ok(http.post(f"{API}/experiments/set-experiment-tag", json={
        "experiment_id": experiment_id, "key": "owner", "value": "ada",
    }))  # fmt: skip
    data = answered(graphql(http, GET_EXPERIMENT, {"input": {"experimentId": experiment_id}}))
    experiment = data["mlflowGetExperiment"]["experiment"]
    rest = ok(http.get(f"{API}/experiments/get", params={"experiment_id": experiment_id}))
    assert experiment == {
        "artifactLocation": rest["experiment"]["artifact_location"],
        # An experiment without runs has no creation time in mltrack: protobuf's "0".
        "creationTime": str(rest["experiment"].get("creation_time", 0)),
        "effectiveTraceArchivalRetention": "",
        "experimentId": experiment_id,
        "lastUpdateTime": str(rest["experiment"].get("last_update_time", 0)),
        "lifecycleStage": "active",
        "name": rest["experiment"]["name"],
        "tags": [{"key": "owner", "value": "ada"}],
    }
    assert data["mlflowGetExperiment"]["apiError"] is None


def test_sampled_metric_chart_query_of_mlflow_ui(http: httpx.Client) -> None:
    experiment_id = new_experiment(http)
    runs = [new_run(http, experiment_id) for _ in range(2)]
    for index, run_id in enumerate(runs):
        points = [
            {"key": "acc", "value": step / 10 + index, "timestamp": 1000 + step, "step": step}
            for step in range(10)
        ]
        ok(http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": points}))
    variables = {"data": {"runIds": runs, "metricKey": "acc", "maxResults": 320}}
    result = answered(graphql(http, BULK_INTERVAL, variables))["mlflowGetMetricHistoryBulkInterval"]
    assert result["__typename"] == "MlflowGetMetricHistoryBulkIntervalResponse"
    assert result["apiError"] is None
    got = [(m["runId"], m["step"], m["value"]) for m in result["metrics"]]
    assert got == [(run_id, str(s), s / 10 + i) for i, run_id in enumerate(runs) for s in range(10)]
    # The REST route answers the same points: one function behind both.
    rest = ok(http.get(f"{API}/metrics/get-history-bulk-interval", params={
        "run_ids": runs, "metric_key": "acc", "max_results": 3,
    }))  # fmt: skip
    sampled = answered(graphql(http, BULK_INTERVAL, {
        "data": {"runIds": runs, "metricKey": "acc", "maxResults": 3},
    }))["mlflowGetMetricHistoryBulkInterval"]["metrics"]  # fmt: skip
    assert [(m["runId"], m["step"]) for m in sampled] == [
        (m["run_id"], str(m["step"])) for m in rest["metrics"]
    ]


def test_search_runs_as_query_and_mutation(http: httpx.Client) -> None:
    experiment_id = new_experiment(http)
    first, second = new_run(http, experiment_id), new_run(http, experiment_id)
    ok(http.post(f"{API}/runs/delete", json={"run_id": first}))
    for operation in ("query", "mutation"):
        body = graphql(
            http,
            f"{operation} ($ids: [String]) {{ mlflowSearchRuns(input: {{experimentIds: $ids}}) "
            "{ nextPageToken runs { info { runId lifecycleStage } } } }",
            {"ids": [experiment_id]},
        )
        found = answered(body)["mlflowSearchRuns"]
        assert found == {
            "nextPageToken": "",
            "runs": [{"info": {"runId": second, "lifecycleStage": "active"}}],
        }
    every = answered(graphql(http, fill(
        'query { mlflowSearchRuns(input: {experimentIds: ["%s"], runViewType: ALL, maxResults: 1, '
        'orderBy: ["attributes.start_time ASC"]}) { nextPageToken runs { info { runId } } } }',
        experiment_id,
    )))["mlflowSearchRuns"]  # fmt: skip
    assert [r["info"]["runId"] for r in every["runs"]] == [first]
    assert every["nextPageToken"]


def test_list_artifacts_and_search_datasets(http: httpx.Client) -> None:
    experiment_id = new_experiment(http)
    run_id = new_run(http, experiment_id)
    base = f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts"
    ok(http.put(f"{base}/test.txt", content=b"hello world"))
    ok(http.put(f"{base}/testDir/test.txt", content=b"hello world"))
    query = fill(
        'query { top: mlflowListArtifacts(input: {runId: "%s"}) { rootUri files { path isDir fileSize } }'
        ' sub: mlflowListArtifacts(input: {runId: "%s", path: "testDir"}) { files { path isDir fileSize } } }',
        run_id,
        run_id,
    )
    data = answered(graphql(http, query))
    assert data["top"]["rootUri"] == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    assert data["top"]["files"] == [
        {"path": "test.txt", "isDir": False, "fileSize": "11"},
        {"path": "testDir", "isDir": True, "fileSize": "0"},
    ]
    assert data["sub"]["files"] == [{"path": "testDir/test.txt", "isDir": False, "fileSize": "11"}]

    dataset = {"name": "eval", "digest": "d1", "source_type": "local", "source": "{}"}
    ok(
        http.post(
            f"{API}/runs/log-inputs", json={"run_id": run_id, "datasets": [{"dataset": dataset}]}
        )
    )
    mutation = fill(
        'mutation { mlflowSearchDatasets(input: {experimentIds: ["%s"]}) '
        "{ datasetSummaries { experimentId name digest context } } }",
        experiment_id,
    )
    summaries = answered(graphql(http, mutation))["mlflowSearchDatasets"]["datasetSummaries"]
    assert summaries == [
        {"experimentId": experiment_id, "name": "eval", "digest": "d1", "context": ""}
    ]


def test_search_model_versions(http: httpx.Client) -> None:
    name = register(http, model_run(http, new_experiment(http)))
    query = fill(
        'query { mlflowSearchModelVersions(input: {filter: "name = \'%s\'", maxResults: "5"}) '
        "{ nextPageToken modelVersions { name version currentStage aliases tags { key } "
        "deploymentJobState { jobId jobState } } } }",
        name,
    )
    found = answered(graphql(http, query))["mlflowSearchModelVersions"]
    assert found == {
        "nextPageToken": "",
        "modelVersions": [{
            "name": name, "version": "1", "currentStage": "None", "aliases": [], "tags": [],
            "deploymentJobState": {"jobId": "", "jobState": None},
        }],
    }  # fmt: skip


def test_mlflow_test_field_and_get_requests(http: httpx.Client, server: TrackingServer) -> None:
    echo = 'query testQuery { test(inputString: "abc") { output } }'
    body = ok(http.post("/graphql", json={"query": echo, "operationName": "testQuery"}))
    assert body == {"data": {"test": {"output": "abc"}}, "errors": None}
    mutation = 'mutation { testMutation(inputString: "x") { output } }'
    assert answered(graphql(http, mutation)) == {"testMutation": {"output": "x"}}
    # GET with the query string, and GET with a JSON body as MLflow's server reads it.
    assert ok(http.get("/graphql", params={"query": echo}))["data"] == {"test": {"output": "abc"}}
    raw = httpx.request("GET", server.url + "/graphql", json={"query": echo}, timeout=60)
    assert ok(raw)["data"] == {"test": {"output": "abc"}}
    variables = '{"s": "v"}'
    with_variables = "query ($s: String) { test(inputString: $s) { output } }"
    got = ok(http.get("/graphql", params={"query": with_variables, "variables": variables}))
    assert got["data"] == {"test": {"output": "v"}}


def test_errors_are_graphql_errors_never_500(http: httpx.Client) -> None:
    missing = graphql(http, GET_RUN, {"data": {"runId": "0" * 32}})
    assert missing["data"] == {"mlflowGetRun": None}
    assert len(missing["errors"]) == 1 and "0" * 32 in missing["errors"][0]
    syntax = graphql(http, 'query { test(inputString: "abc") { output }')
    assert syntax["data"] is None and syntax["errors"][0].startswith("Syntax Error")
    unknown = graphql(http, "query { nope }")
    assert unknown["errors"] == ["Cannot query field 'nope' on type 'Query'."]
    wrong_type = graphql(http, GET_RUN, {"data": {"runId": 5}})
    assert "String cannot represent a non string value: 5" in wrong_type["errors"][0]
    no_variable = graphql(http, GET_RUN)
    assert "was not provided" in no_variable["errors"][0]
    refused = graphql(
        http,
        fill(
            'query { mlflowListArtifacts(input: {runId: "%s", path: "../x"}) { files { path } } }',
            new_run(http, new_experiment(http)),
        ),
    )
    assert refused["data"] == {"mlflowListArtifacts": None}
    assert refused["errors"] == ["Invalid path"]
    empty_input = graphql(http, "query { mlflowGetRun { run { info { runId } } } }")
    assert "Missing value for required parameter 'run_id'" in empty_input["errors"][0]
    two = 'query a { test(inputString: "a") { output } } query b { test(inputString: "b") { output } }'
    assert "operation name" in graphql(http, two)["errors"][0]
    chosen = ok(http.post("/graphql", json={"query": two, "operationName": "b"}))
    assert chosen["data"] == {"test": {"output": "b"}}
    # Requests that are not GraphQL requests: 400 as the REST routes answer.
    for content in (
        b"not json",
        b"[1, 2]",
        b'{"query": 5}',
        b"{}",
        b'{"query": "{ test { output } }", "variables": 3}',
    ):
        response = http.post("/graphql", content=content)
        assert response.status_code == 400, (content, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    for variables in ("{not json", "[" * 3000):
        response = http.get(
            "/graphql", params={"query": "{ test { output } }", "variables": variables}
        )
        assert response.status_code == 400, response.text


def test_mlflow_limits_on_one_query(http: httpx.Client) -> None:
    roots = " ".join(f'k{i}: test(inputString: "a") {{ output }}' for i in range(11))
    assert (
        "should have at most 10 root fields, got 11" in graphql(http, f"{{ {roots} }}")["errors"][0]
    )
    aliases = " ".join(f"e{i}: experiment {{ name }}" for i in range(11))
    query = f'{{ mlflowGetExperiment(input: {{experimentId: "0"}}) {{ {aliases} }} }}'
    assert "queries should have at most 10 aliases" in graphql(http, query)["errors"][0]
    # Aliases spread over sibling fragments count together.
    spread = (
        '{ mlflowGetExperiment(input: {experimentId: "0"}) { ...A ...B } } '
        "fragment A on MlflowGetExperimentResponse { " + " ".join(f"a{i}: apiError {{ code }}" for i in range(6)) + " } "
        "fragment B on MlflowGetExperimentResponse { " + " ".join(f"b{i}: apiError {{ code }}" for i in range(6)) + " }"
    )  # fmt: skip
    assert "got 12 aliases" in graphql(http, spread)["errors"][0]
    inner = "name"
    for _ in range(12):
        inner = f"name {{ {inner} }}"
    deep = f'{{ mlflowGetExperiment(input: {{experimentId: "0"}}) {{ experiment {{ {inner} }} }} }}'
    assert graphql(http, deep)["errors"] == ["Query exceeds maximum depth of 10"]
    wide = " ".join(f"f{i} {{ name }}" for i in range(1002))
    query = f'{{ mlflowGetExperiment(input: {{experimentId: "0"}}) {{ experiment {{ {wide} }} }} }}'
    assert graphql(http, query)["errors"] == ["Query exceeds maximum total selections of 1000"]
    # A document too long to be worth parsing is refused while parsing (mltrack's own limit).
    huge = "{ " + " ".join(f"f{i}: test {{ output }}" for i in range(2600)) + " }"
    assert graphql(http, huge)["errors"] == [
        "Syntax Error: Document contains more than 10000 tokens. Parsing aborted."
    ]
    # Fragments that spread each other are counted once, then refused by validation.
    loop = "{ test { ...A } } fragment A on Test { output ...B } fragment B on Test { ...A }"
    assert graphql(http, loop)["errors"] == ["Cannot spread fragment 'A' within itself via 'B'."]


def test_limits_follow_mlflow_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphql import parse

    from mltrack.server.graphql_api import check_limits

    roots = parse("{ " + " ".join(f"k{i}: test {{ output }}" for i in range(12)) + " }")
    assert check_limits(roots) is not None
    monkeypatch.setenv("MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS", "12")
    assert check_limits(roots) is not None  # 12 aliases in one selection set: over 10
    monkeypatch.setenv("MLFLOW_SERVER_GRAPHQL_MAX_ALIASES", "12")
    assert check_limits(roots) is None
    monkeypatch.setenv("MLFLOW_SERVER_GRAPHQL_MAX_ALIASES", "not a number")
    assert "at most 10 aliases" in str(check_limits(roots))


def test_graphql_core_is_imported_only_for_graphql() -> None:
    code = (
        "import sys, mltrack, mltrack.server.app as app\n"
        "assert 'graphql' not in sys.modules, 'graphql imported early'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------- with --auth

ADMIN_PASSWORD = "admin-graphql-pw"


def basic(username: str, password: str) -> dict[str, str]:
    return {
        "Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    }


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A ``--auth`` server; an admin's experiment bob may not read (NO_PERMISSIONS), one he
    may, a run in each; a registered model of the readable run that bob may not read."""
    repo, home = make_repo(tmp_path_factory.mktemp("graphql-auth"))
    live = TrackingServer(
        repo, "--auth", home=home, env={"MLTRACK_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    )
    admin = httpx.Client(base_url=live.url, headers=basic("admin", ADMIN_PASSWORD), timeout=60)
    bob = httpx.Client(base_url=live.url, headers=basic("bob", "bob-pw"), timeout=60)
    try:
        ok(admin.post(f"{API}/users/create", json={"username": "bob", "password": "bob-pw"}))
        hidden, shown = new_experiment(admin), new_experiment(admin)
        hidden_run = new_run(admin, hidden)
        shown_run = model_run(admin, shown)
        model = register(admin, shown_run)
        ok(admin.post(f"{API}/experiments/permissions/create", json={
            "experiment_id": hidden, "username": "bob", "permission": "NO_PERMISSIONS",
        }))  # fmt: skip
        ok(admin.post(f"{API}/registered-models/permissions/create", json={
            "name": model, "username": "bob", "permission": "NO_PERMISSIONS",
        }))  # fmt: skip
        yield {
            "server": live, "admin": admin, "bob": bob, "hidden": hidden, "shown": shown,
            "hidden_run": hidden_run, "shown_run": shown_run, "model": model,
        }  # fmt: skip
    finally:
        admin.close()
        bob.close()
        live.stop()


def test_graphql_needs_credentials(team: dict[str, Any]) -> None:
    url = team["server"].url + "/graphql"
    echo = {"query": 'query { test(inputString: "a") { output } }'}
    for response in (
        httpx.post(url, json=echo, timeout=60),
        httpx.get(url, params=echo, timeout=60),
        httpx.post(url, json=echo, headers=basic("bob", "wrong"), timeout=60),
    ):
        assert response.status_code == 401, response.text
        assert response.json()["error_code"] == "UNAUTHENTICATED"
    assert ok(team["bob"].post("/graphql", json=echo))["data"] == {"test": {"output": "a"}}


def test_graphql_fields_are_checked_as_their_rest_routes(team: dict[str, Any]) -> None:
    bob, admin = team["bob"], team["admin"]
    hidden, hidden_run, shown_run = team["hidden"], team["hidden_run"], team["shown_run"]
    denied = {
        "mlflowGetRun": graphql(bob, GET_RUN, {"data": {"runId": hidden_run}}),
        "mlflowGetExperiment": graphql(bob, GET_EXPERIMENT, {"input": {"experimentId": hidden}}),
        "mlflowGetMetricHistoryBulkInterval": graphql(
            bob, BULK_INTERVAL, {"data": {"runIds": [shown_run, hidden_run], "metricKey": "m"}}
        ),
        "mlflowListArtifacts": graphql(
            bob,
            fill('query { mlflowListArtifacts(input: {runUuid: "%s"}) { files { path } } }', hidden_run),
        ),
        "mlflowSearchDatasets": graphql(
            bob,
            fill('mutation { mlflowSearchDatasets(input: {experimentIds: ["%s"]}) '
                 "{ datasetSummaries { name } } }", hidden),
        ),
    }  # fmt: skip
    for field, body in denied.items():
        assert body["data"] == {field: None}, field
        assert body["errors"] and body["errors"][0].startswith("Permission denied"), body
        assert "bob" in body["errors"][0]
    # Searches answer with what bob may read; the run's registered model is not his to see.
    search = {"data": {"experimentIds": [hidden, team["shown"]]}}
    runs = answered(graphql(bob, SEARCH_RUNS, search))["mlflowSearchRuns"]["runs"]
    assert [r["info"]["runUuid"] for r in runs] == [shown_run]
    assert runs[0]["modelVersions"] == []
    versions = "query { mlflowSearchModelVersions(input: {}) { modelVersions { name } } }"
    assert answered(graphql(bob, versions))["mlflowSearchModelVersions"]["modelVersions"] == []
    readable = answered(graphql(bob, GET_RUN, {"data": {"runId": shown_run}}))["mlflowGetRun"]
    assert readable["run"]["info"]["runUuid"] == shown_run
    assert readable["run"]["modelVersions"] == []
    # The admin sees everything, the model version included.
    every = answered(graphql(admin, SEARCH_RUNS, search))["mlflowSearchRuns"]["runs"]
    assert {r["info"]["runUuid"] for r in every} == {hidden_run, shown_run}
    owned = next(r for r in every if r["info"]["runUuid"] == shown_run)
    assert [v["name"] for v in owned["modelVersions"]] == [team["model"]]


def test_nan_and_infinite_metrics_are_null(http: httpx.Client) -> None:
    run_id = new_run(http, new_experiment(http))
    points = [
        {"key": "nan", "value": "NaN", "timestamp": 1, "step": 0},
        {"key": "inf", "value": "Infinity", "timestamp": 1, "step": 0},
        {"key": "ninf", "value": "-Infinity", "timestamp": 1, "step": 0},
        {"key": "one", "value": 1, "timestamp": 1, "step": 0},
    ]
    ok(http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": points}))
    data = answered(graphql(http, GET_RUN, {"data": {"runId": run_id}}))
    values = {m["key"]: m["value"] for m in data["mlflowGetRun"]["run"]["data"]["metrics"]}
    assert values == {"nan": None, "inf": None, "ninf": None, "one": 1.0}
    assert not any(isinstance(v, float) and math.isnan(v) for v in values.values())


# ---------------------------------------------------------------------- --mlflow-ui


def test_mlflow_ui_only_with_the_flag_and_an_installed_build(
    http: httpx.Client, tmp_path: Path
) -> None:
    assert http.get("/mlflow/").status_code == 404
    assert http.post("/mlflow/graphql", json={"query": "{ test { output } }"}).status_code == 404
    fake = tmp_path / "site" / "mlflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    repo, home = make_repo(tmp_path / "ui")
    env = child_env(home)
    env["PYTHONPATH"] = f"{fake.parent}:{env['PYTHONPATH']}"
    result = subprocess.run(
        [sys.executable, "-m", "mltrack", "-C", str(repo), "server", "--mlflow-ui", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "this MLflow has no built UI" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="needs an installed MLflow")
def test_mlflow_ui_reaches_every_worker(tmp_path: Path) -> None:
    repo, home = make_repo(tmp_path)
    live = TrackingServer(repo, "--mlflow-ui", "--workers", "2", home=home)
    try:
        with httpx.Client(base_url=live.url, timeout=60) as http:
            for _ in range(6):  # connections spread over both workers
                with httpx.Client(base_url=live.url, timeout=60) as fresh:
                    page = fresh.get("/mlflow/")
                    assert page.status_code == 200 and "<title>MLflow</title>" in page.text
            assert http.get("/mlflow", follow_redirects=False).headers["location"] == "/mlflow/"
            echo = {"query": '{ test(inputString: "w") { output } }'}
            assert ok(http.post("/mlflow/graphql", json=echo))["data"] == {"test": {"output": "w"}}
    finally:
        live.stop()
