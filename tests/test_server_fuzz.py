"""No request makes the tracking server answer 5xx: hostile bodies and fields on every route.

In process (Starlette's TestClient) for breadth, then a few hundred requests
against a real ``mltrack server`` for what only a real socket and uvicorn see.
Example counts are bounded so the suite stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route
from starlette.testclient import TestClient

from liveserver import make_repo
from support import TrackingServer

FIELDS = [
    "name", "new_name", "experiment_id", "experiment_ids", "run_id", "run_uuid", "run_name",
    "key", "value", "timestamp", "step", "metrics", "params", "tags", "max_results",
    "page_token", "filter", "filter_string", "order_by", "version", "alias", "stage", "path",
    "source", "description", "model_id", "model_ids", "status", "end_time", "start_time",
    "datasets", "inputs", "outputs", "view_type", "metric_key", "artifact_location",
    "archive_existing_versions", "registered_model_name", "experiment_name", "models",
]  # fmt: skip
IDS = ["0", "1", "m", "iris", "v1", "-1", "9" * 30, "0/../..", ".git", "%2e%2e", "*"]


def _scalars(known: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(known + IDS),
        st.sampled_from(["\ud800", "é" * 200, "a" * 400, "x" * 9000, "\x00", "../" * 40]),
    )


def _values(known: list[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        _scalars(known),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(
                st.sampled_from(["key", "value", "name", *FIELDS[:8]]), inner, max_size=3
            ),
        ),
        max_leaves=6,
    )


def _bodies(known: list[str]) -> st.SearchStrategy[bytes]:
    document = st.dictionaries(st.sampled_from(FIELDS), _values(known), max_size=5)
    return st.one_of(
        document.map(lambda d: json.dumps(d).encode()),
        st.sampled_from(
            [
                DEEP,  # built when sent: a 200 kB example would flood hypothesis's report
                b'{"name": "\\ud800"}',
                b'{"name": "\\udfff\\ud800", "experiment_id": "0"}',
                b"\xff\xfe",
                b"null",
                b"",
                b'{"experiment_id": [null], "name": [], "run_id": [null]}',
            ]
        ),
    )


DEEP = b"<deeply nested>"
DEEP_BODY = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def _routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append((method, route.path))
    return found


def _fill(path: str, filler: str) -> str:
    """A concrete URL for a route pattern: ``{…}`` parameters become ``filler``."""
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + quote(filler, safe="/%") + path[end + 1 :]
    return path


@pytest.fixture(scope="module")
def fuzz_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str], Path]]:
    """A store with an experiment, a run and a registered model the fuzz can aim at."""
    repo, home = make_repo(tmp_path_factory.mktemp("fuzz"))
    server = TrackingServer(repo, home=home)
    try:
        api = f"{server.url}/api/2.0/mlflow"
        run = httpx.post(f"{api}/runs/create", json={"experiment_id": "0"}).json()["run"]
        run_id = run["info"]["run_id"]
        httpx.post(f"{api}/registered-models/create", json={"name": "m"})
        yield repo, [run_id, f"0/{run_id}/artifacts/x", f"0/{run_id}/artifacts"], home
    finally:
        server.stop()


@pytest.fixture(scope="module")
def app_client(fuzz_repo: tuple[Path, list[str], Path]) -> Iterator[TestClient]:
    from mltrack.server.app import create_app
    from mltrack.server.config import ServerConfig

    app = create_app(ServerConfig(fuzz_repo[0]))
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as client:
        yield client


def _request_strategy(routes: list[tuple[str, str]], known: list[str]) -> st.SearchStrategy[Any]:
    return st.tuples(
        st.sampled_from(routes),
        _bodies(known),
        st.dictionaries(
            st.sampled_from(FIELDS),
            st.sampled_from(known + IDS + ["\ud800", "é" * 200]),
            max_size=3,
        ),
        st.one_of(st.sampled_from(known + IDS), st.text(max_size=30)),
    )


def _send(client: httpx.Client, request: tuple[Any, ...]) -> httpx.Response:
    (method, pattern), body, query, filler = request
    url = _fill(pattern, filler)
    params = {k: v.encode("utf-8", "surrogatepass").decode("latin-1") for k, v in query.items()}
    if method == "GET":
        return client.get(url, params=params)
    content = DEEP_BODY if body == DEEP else body
    return client.request(
        method, url, content=content, headers={"content-type": "application/json"}
    )


def _acceptable(request: tuple[Any, ...], response: httpx.Response) -> bool:
    """Below 500, or the 501 on which MLflow's client falls back from multipart to one PUT."""
    multipart = request[0][1].startswith("/api/2.0/mlflow-artifacts/mpu/")
    return response.status_code < 500 or (multipart and response.status_code == 501)


def test_no_route_answers_5xx_in_process(
    app_client: TestClient, fuzz_repo: tuple[Path, list[str], Path]
) -> None:
    routes = _routes(app_client.app)
    assert len(routes) > 60  # every route of the REST API is in the draw

    @settings(max_examples=600, suppress_health_check=list(HealthCheck))
    @given(_request_strategy(routes, fuzz_repo[1]))
    def check(request: tuple[Any, ...]) -> None:
        response = _send(app_client, request)
        assert _acceptable(request, response), (request[0], response.text[:300])

    check()


def test_no_route_answers_5xx_on_a_live_server(fuzz_repo: tuple[Path, list[str], Path]) -> None:
    from mltrack.server.app import create_app
    from mltrack.server.config import ServerConfig

    routes = _routes(create_app(ServerConfig(fuzz_repo[0])))
    server = TrackingServer(fuzz_repo[0], home=fuzz_repo[2])
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:

            @settings(max_examples=150, suppress_health_check=list(HealthCheck))
            @given(_request_strategy(routes, fuzz_repo[1]))
            def check(request: tuple[Any, ...]) -> None:
                response = _send(http, request)
                assert _acceptable(request, response), (request[0], response.text[:300])

            check()
            assert http.get("/health").text == "OK"
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log, log[-3000:]


API = "/api/2.0/mlflow"


@pytest.mark.parametrize(
    ("route", "body", "fragment"),
    [
        ("experiments/create", DEEP_BODY, "nests JSON too deeply"),
        ("experiments/create", b'{"name": [null]}', "Missing value for required parameter 'name'"),
        ("experiments/create", b'{"name": []}', "Missing value for required parameter 'name'"),
        ("registered-models/create", json.dumps({"name": "é" * 200}).encode(), "over the limit"),
        ("registered-models/create", json.dumps({"name": "a" * 256}).encode(), "over the limit"),
        ("experiments/create", b'{"name": "\\ud800"}', "lone UTF-16 surrogate"),
        ("runs/create", b'{"experiment_id": "0", "run_name": "a\\udfffb"}', "lone UTF-16"),
    ],
)
def test_the_inputs_that_used_to_crash_get_400(
    app_client: TestClient, route: str, body: bytes, fragment: str
) -> None:
    response = app_client.post(f"{API}/{route}", content=body)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert fragment in response.json()["message"]


def test_artifact_file_names_over_the_limit_get_400(
    app_client: TestClient, fuzz_repo: tuple[Path, list[str], Path]
) -> None:
    run_id = fuzz_repo[1][0]
    url = f"/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/{'é' * 200}.txt"
    response = app_client.put(url, content=b"x")
    assert response.status_code == 400, response.text
    assert "file names are limited to 200 bytes" in response.json()["message"]


def test_register_model_with_an_over_long_name_is_a_clean_error(repo: Path) -> None:
    import mltrack
    from mltrack.exceptions import InvalidParameterValue

    with mltrack.start_run() as run:
        mltrack.log_text("x", "model/MLmodel")
    with pytest.raises(InvalidParameterValue, match="over the limit of 255"):
        mltrack.register_model(f"runs:/{run.info.run_id}/model", "é" * 200)
    with pytest.raises(InvalidParameterValue, match="lone surrogate"):
        mltrack.log_param("p", "\ud800")
