"""The scoring server against real servers on 127.0.0.1: a ``mltrack models serve``
subprocess for the payload and error contract, uvicorn in a thread for other models."""

from __future__ import annotations

import io
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from conftest import invoke, reset_mltrack
from mltrack.pyfunc import PythonModel
from serving_support import COLUMNS, ROWS, SEED_REQUEST, IrisRepo, isolate, make_iris_repo
from support import ServerProcess, serve_in_thread, wait_until

# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrisRepo]:
    root = tmp_path_factory.mktemp("serving")
    cwd = os.getcwd()
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, root / "home")
        try:
            yield make_iris_repo(root / "repo")
        finally:
            os.chdir(cwd)
            reset_mltrack()


@pytest.fixture(scope="module")
def client(iris: IrisRepo) -> Iterator[TestClient]:
    """The scoring app for ``models:/iris/1`` with a 64 KB body limit, in this process."""
    cwd = os.getcwd()
    os.chdir(iris.path)
    try:
        app = app_for("models:/iris/1", max_body_size=64 * 1024)
    finally:
        os.chdir(cwd)
    with TestClient(app, base_url="http://localhost") as http:
        yield http


@pytest.fixture(scope="module")
def server(iris: IrisRepo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mltrack models serve -m models:/iris/1`` with a 64 KB body limit, for what needs a
    real socket (streamed and broken requests); at the end its log must hold no traceback."""
    live = ServerProcess(
        "models", "serve", "-m", "models:/iris/1", "--max-body-size", "64KB", "--no-access-log",
        ready_path="/ping", log_dir=tmp_path_factory.mktemp("logs"), cwd=iris.path,
    )  # fmt: skip
    try:
        yield live.url
    finally:
        live.stop()
    log = live.read_log()
    assert "Serving 'iris' version 1 at http://127.0.0.1:" in log
    assert "Traceback" not in log and "Exception in ASGI" not in log, log


@pytest.fixture(scope="module")
def live_client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as http:
        yield http


@pytest.fixture
def in_iris(iris: IrisRepo, monkeypatch: pytest.MonkeyPatch) -> IrisRepo:
    """The iris repository as the working directory (for in-process model loading)."""
    monkeypatch.chdir(iris.path)
    return iris


def app_for(uri: str, **options: Any) -> Any:
    from mltrack.serving.app import create_app
    from mltrack.serving.served import ServedModel

    return create_app(ServedModel.load(uri), **options)


def log_pyfunc(python_model: PythonModel, name: str, **kwargs: Any) -> str:
    import mltrack

    mltrack.set_experiment("iris")
    with mltrack.start_run() as run:
        mltrack.pyfunc.log_model(name=name, python_model=python_model, **kwargs)
    return f"runs:/{run.info.run_id}/{name}"


def post(client: httpx.Client, content_type: str | None, body: bytes) -> httpx.Response:
    headers = {"content-type": content_type} if content_type is not None else {}
    return client.post("/invocations", content=body, headers=headers)


def as_json(document: Any) -> bytes:
    return json.dumps(document).encode()


def as_csv(rows: list[list[Any]], columns: list[str] = COLUMNS) -> bytes:
    lines = [",".join(columns)] + [",".join(str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def as_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def records(rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def assert_error(response: httpx.Response, status: int, code: str, *fragments: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code, body
    for fragment in fragments:
        assert fragment in body["message"], body["message"]


# ---------------------------------------------------------------------- the seed request


def test_the_seed_request_from_our_users_docs(client: httpx.Client) -> None:
    response = client.post("/invocations", json=SEED_REQUEST)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": [0]}


def test_ping_health_version(client: httpx.Client, iris: IrisRepo) -> None:
    import mltrack

    ping = client.get("/ping")
    assert (ping.status_code, ping.content) == (200, b"\n")
    assert client.get("/health").json() == {
        "status": "ok",
        "model_uri": "models:/iris/1",
        "model": "'iris' version 1",
        "model_id": iris.model_id,
        "loaded_at": client.get("/health").json()["loaded_at"],
    }
    version = client.get("/version")
    assert (version.status_code, version.text) == (200, mltrack.__version__)


# ---------------------------------------------------------------------- every payload form

INTEGER_ROWS = [[5, 3, 1, 0], [7, 3, 5, 2]]
FLOAT_FRAME = pd.DataFrame(ROWS, columns=COLUMNS)
SPLIT = {"columns": COLUMNS, "data": ROWS}

FORMS: dict[str, tuple[str | None, bytes, list[list[Any]]]] = {
    "legacy columns+data": ("application/json", as_json(SPLIT), ROWS),
    "legacy with format=pandas-split": (
        "application/json; format=pandas-split", as_json(SPLIT), ROWS,
    ),
    "dataframe_split": ("application/json", as_json({"dataframe_split": SPLIT}), ROWS),
    "dataframe_split with index": (
        "application/json", as_json({"dataframe_split": {**SPLIT, "index": [7, 9]}}), ROWS,
    ),
    "dataframe_split with integers": (
        "application/json",
        as_json({"dataframe_split": {"columns": COLUMNS, "data": INTEGER_ROWS}}),
        INTEGER_ROWS,
    ),
    "dataframe_split, columns reordered": (
        "application/json",
        as_json({"dataframe_split": {"columns": COLUMNS[::-1], "data": [r[::-1] for r in ROWS]}}),
        ROWS,
    ),
    "dataframe_records": ("application/json", as_json({"dataframe_records": records(ROWS)}), ROWS),
    "records body with format=pandas-records": (
        "application/json; format=pandas-records", as_json(records(ROWS)), ROWS,
    ),
    "instances as records": ("application/json", as_json({"instances": records(ROWS)}), ROWS),
    "inputs as columns": (
        "application/json",
        as_json({"inputs": {c: [r[i] for r in ROWS] for i, c in enumerate(COLUMNS)}}),
        ROWS,
    ),
    "inputs as one row of scalars": (
        "application/json", as_json({"inputs": dict(zip(COLUMNS, ROWS[1], strict=True))}), ROWS[1:],
    ),
    "inputs as records": ("application/json", as_json({"inputs": records(ROWS)}), ROWS),
    "params on a model without a params schema": (
        "application/json", as_json({"dataframe_split": SPLIT, "params": {}}), ROWS,
    ),
    "charset=utf-8": ("application/json; charset=UTF-8", as_json({"dataframe_split": SPLIT}), ROWS),
    "no Content-Type, JSON body": (None, as_json({"dataframe_split": SPLIT}), ROWS),
    "curl -d without -H (form encoding), JSON body": (
        "application/x-www-form-urlencoded", as_json(SPLIT), ROWS,
    ),
    "text/csv": ("text/csv", as_csv(ROWS), ROWS),
    "text/csv; charset=utf-8": ("text/csv; charset=utf-8", as_csv(ROWS), ROWS),
    "text/csv with integers": ("text/csv", as_csv(INTEGER_ROWS), INTEGER_ROWS),
    "text/csv, columns reordered": (
        "text/csv", as_csv([r[::-1] for r in ROWS], COLUMNS[::-1]), ROWS,
    ),
    "parquet": ("application/vnd.apache.parquet", as_parquet(FLOAT_FRAME), ROWS),
    "parquet with int64 columns (x-parquet)": (
        "application/x-parquet",
        as_parquet(pd.DataFrame(INTEGER_ROWS, columns=COLUMNS).astype("int64")),
        INTEGER_ROWS,
    ),
}  # fmt: skip


@pytest.mark.parametrize("form", list(FORMS))
def test_every_payload_form(client: httpx.Client, iris: IrisRepo, form: str) -> None:
    content_type, body, rows = FORMS[form]
    response = post(client, content_type, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": iris.expected(rows)}


def test_predict_proba_through_params(client: httpx.Client, iris: IrisRepo) -> None:
    response = client.post(
        "/invocations",
        json={"dataframe_split": SPLIT, "params": {"predict_method": "predict_proba"}},
    )
    assert response.status_code == 200, response.text
    probabilities = response.json()["predictions"]
    expected = iris.estimator.predict_proba(FLOAT_FRAME)
    assert np.allclose(probabilities, expected)
    assert len(probabilities) == 2 and all(len(row) == 3 for row in probabilities)


def test_ten_thousand_rows_in_one_request(in_iris: IrisRepo) -> None:
    rows = in_iris.features.sample(10_000, replace=True, random_state=1)
    with serve_in_thread(app_for("models:/iris/1")) as url:
        response = httpx.post(
            f"{url}/invocations",
            json={"dataframe_split": {"columns": COLUMNS, "data": rows.to_numpy().tolist()}},
            timeout=60,
        )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == in_iris.estimator.predict(rows).tolist()


# ---------------------------------------------------------------------- every model URI form


def uri_forms(iris: IrisRepo) -> dict[str, str]:
    model_dir = iris.path / ".mltrack" / "experiments"
    path = next(p.parent for p in model_dir.rglob("MLmodel") if p.parent.name == "model")
    return {
        "runs:/": f"runs:/{iris.run_id}/model",
        "version": "models:/iris/1",
        "stage": "models:/iris/Production",
        "alias": "models:/iris@production",
        "latest": "models:/iris/latest",
        "logged model": f"models:/{iris.model_id}",
        "path": str(path),
        "file:// URI": path.as_uri(),
    }


@pytest.mark.parametrize(
    "form", ["runs:/", "version", "stage", "alias", "latest", "logged model", "path", "file:// URI"]
)
def test_every_model_uri_form(in_iris: IrisRepo, form: str) -> None:
    uri = uri_forms(in_iris)[form]
    with serve_in_thread(app_for(uri)) as url:
        response = httpx.post(f"{url}/invocations", json=SEED_REQUEST)
        assert response.json() == {"predictions": [0]}
        assert httpx.get(f"{url}/health").json()["model_uri"] == uri


# ---------------------------------------------------------------------- every bad request

ERRORS: dict[str, tuple[str | None, bytes, int, str, tuple[str, ...]]] = {
    "malformed JSON": (
        "application/json", b'{"dataframe_split": ', 400, "BAD_REQUEST", ("not valid JSON", "line 1"),
    ),
    "empty JSON body": ("application/json", b"", 400, "BAD_REQUEST", ("empty",)),
    "JSON not UTF-8": ("application/json", b'{"a": "\xff"}', 400, "BAD_REQUEST", ("UTF-8",)),
    "a list body": ("application/json", as_json(ROWS), 400, "BAD_REQUEST", ("a list",)),
    "text/plain": ("text/plain", b"5.1,3.5", 415, "BAD_REQUEST", ("text/plain", "text/csv")),
    "octet-stream is not parquet": (
        "application/octet-stream", as_parquet(FLOAT_FRAME), 415, "BAD_REQUEST", ("octet-stream",),
    ),
    "charset latin-1": (
        "application/json; charset=latin-1", as_json(SEED_REQUEST), 415, "BAD_REQUEST", ("UTF-8",),
    ),
    "unknown content-type parameter": (
        "application/json; format=tf-serving", as_json(SEED_REQUEST), 415, "BAD_REQUEST",
        ("format=tf-serving",),
    ),
    "no Content-Type, body not JSON": (
        None, as_csv(ROWS), 415, "BAD_REQUEST", ("Content-Type",),
    ),
    "two format keys": (
        "application/json",
        as_json({"dataframe_split": SPLIT, "dataframe_records": records(ROWS)}),
        400, "BAD_REQUEST", ("dataframe_split", "dataframe_records"),
    ),
    "legacy keys beside a format key": (
        "application/json", as_json({"inputs": records(ROWS), **SPLIT}), 400, "BAD_REQUEST",
        ("'inputs'", "'columns'", "'data'"),
    ),
    "unknown key": (
        "application/json", as_json({"dataframe_splt": SPLIT}), 400, "BAD_REQUEST",
        ("dataframe_splt",),
    ),
    "no input": ("application/json", as_json({"params": {}}), 400, "BAD_REQUEST", ("no input",)),
    "missing column": (
        "application/json",
        as_json({"dataframe_split": {"columns": COLUMNS[:3], "data": [r[:3] for r in ROWS]}}),
        400, "INVALID_PARAMETER_VALUE", ("petal_width", "missing"),
    ),
    "unknown column": (
        "application/json",
        as_json({"dataframe_split": {"columns": [*COLUMNS, "colour"], "data": [[*r, 1] for r in ROWS]}}),
        400, "INVALID_PARAMETER_VALUE", ("colour",),
    ),
    "text for a double": (
        "application/json",
        as_json({"dataframe_split": {"columns": COLUMNS, "data": [[5.1, "abc", 1.4, 0.2]]}}),
        400, "INVALID_PARAMETER_VALUE", ("'sepal_width'", "abc", "double"),
    ),
    "true for a double": (
        "application/json",
        as_json({"dataframe_records": [{**records(ROWS)[0], "petal_width": True}]}),
        400, "INVALID_PARAMETER_VALUE", ("'petal_width'", "true"),
    ),
    "a list for a double": (
        "application/json",
        as_json({"inputs": {**{c: [1.0] for c in COLUMNS}, "sepal_length": [[1.0]]}}),
        400, "INVALID_PARAMETER_VALUE", ("'sepal_length'",),
    ),
    "empty data": (
        "application/json", as_json({"dataframe_split": {"columns": COLUMNS, "data": []}}),
        400, "BAD_REQUEST", ("no rows",),
    ),
    "empty records": (
        "application/json", as_json({"dataframe_records": []}), 400, "BAD_REQUEST", ("no rows",),
    ),
    "ragged rows": (
        "application/json",
        as_json({"dataframe_split": {"columns": COLUMNS, "data": [ROWS[0], ROWS[1][:2]]}}),
        400, "BAD_REQUEST", ("row 1 has 2 values",),
    ),
    "split that is a list": (
        "application/json", as_json({"dataframe_split": ROWS}), 400, "BAD_REQUEST", ("columns",),
    ),
    "records that are lists": (
        "application/json", as_json({"dataframe_records": ROWS}), 400, "BAD_REQUEST", ("record",),
    ),
    "unnamed values for a named signature": (
        "application/json", as_json({"inputs": ROWS}), 400, "INVALID_PARAMETER_VALUE",
        ("named columns", "sepal_length", "dataframe_split"),
    ),
    "params that are not an object": (
        "application/json", as_json({"dataframe_split": SPLIT, "params": [1]}), 400,
        "BAD_REQUEST", ("params",),
    ),
    "unknown predict_method": (
        "application/json",
        as_json({"dataframe_split": SPLIT, "params": {"predict_method": "fit"}}),
        400, "INVALID_PARAMETER_VALUE", ("predict_method", "fit"),
    ),
    "CSV with a bad value": (
        "text/csv", as_csv([[5.1, "x", 1.4, 0.2]]), 400, "INVALID_PARAMETER_VALUE",
        ("'sepal_width'", "'x'"),
    ),
    "CSV with a short line": (
        "text/csv", as_csv(ROWS)[:-4] + b"\n1,2\n", 400, "BAD_REQUEST", ("CSV",),
    ),
    "CSV header only": ("text/csv", as_csv([]), 400, "BAD_REQUEST", ("no rows",)),
    "CSV missing a column": (
        "text/csv", as_csv([r[:3] for r in ROWS], COLUMNS[:3]), 400, "INVALID_PARAMETER_VALUE",
        ("petal_width",),
    ),
    "empty CSV": ("text/csv", b"", 400, "BAD_REQUEST", ("CSV",)),
    "parquet that is not parquet": (
        "application/vnd.apache.parquet", b"PAR1 garbage", 400, "BAD_REQUEST", ("Parquet",),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ERRORS))
def test_every_bad_request(client: httpx.Client, case: str) -> None:
    content_type, body, status, code, fragments = ERRORS[case]
    assert_error(post(client, content_type, body), status, code, *fragments)


def test_body_over_the_limit_gets_413(client: httpx.Client) -> None:
    rows = [ROWS[0]] * 4000  # ~100 KB of JSON for a 64 KB limit
    response = client.post(
        "/invocations", json={"dataframe_split": {"columns": COLUMNS, "data": rows}}
    )
    assert_error(response, 413, "RESOURCE_LIMIT_EXCEEDED", "65536", "--max-body-size")


def test_chunked_body_over_the_limit_is_refused_while_streaming(
    live_client: httpx.Client,
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"dataframe_split": {"columns": ["a"], "data": ['
        for _ in range(200):
            yield b"[1.0]," * 100
        yield b"[1.0]]}}"

    response = live_client.post(
        "/invocations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "RESOURCE_LIMIT_EXCEEDED", "65536")


def test_huge_declared_length_is_refused_before_reading_the_body(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        raw.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000000\r\n\r\n"
        )
        answer = b""
        while b"}" not in answer:
            data = raw.recv(4096)
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error_code"] == "RESOURCE_LIMIT_EXCEEDED"


def test_wrong_method_and_unknown_path_are_json(client: httpx.Client) -> None:
    response = client.get("/invocations")
    assert_error(response, 405, "BAD_REQUEST", "GET", "POST")
    assert response.headers["allow"] == "POST"
    assert_error(client.post("/ping"), 405, "BAD_REQUEST")
    assert_error(client.get("/predict"), 404, "ENDPOINT_NOT_FOUND", "/predict", "/invocations")


def test_foreign_hosts_and_cross_origin_posts_get_403(client: httpx.Client) -> None:
    assert_error(
        client.post("/invocations", json=SEED_REQUEST, headers={"host": "evil.example"}),
        403,
        "PERMISSION_DENIED",
        "--allowed-hosts",
    )
    text_plain = {"origin": "https://evil.example", "content-type": "text/plain"}
    response = client.post("/invocations", content=json.dumps(SEED_REQUEST), headers=text_plain)
    assert_error(response, 403, "PERMISSION_DENIED", "--cors-allowed-origins")
    assert client.get("/ping", headers={"host": "10.0.0.7:8080"}).status_code == 200
    assert client.get("/health", headers={"host": "lb.example"}).status_code == 200
    local = client.post("/invocations", json=SEED_REQUEST, headers={"origin": "http://localhost"})
    assert local.json() == {"predictions": [0]}
    assert local.headers["x-content-type-options"] == "nosniff"


def test_the_serving_guard_takes_the_flags(in_iris: IrisRepo) -> None:
    from starlette.testclient import TestClient

    from mltrack.serving.server import ServeOptions

    options = ServeOptions(
        host="0.0.0.0", allowed_hosts=("model.corp.example",), cors_allowed_origins=("*",)
    )
    app = app_for("models:/iris/1", origin_policy=options.origin_policy())
    with TestClient(app, base_url="http://model.corp.example") as http:
        cross = http.post(
            "/invocations", json=SEED_REQUEST, headers={"origin": "https://any.example"}
        )
        assert cross.json() == {"predictions": [0]}
        assert cross.headers["access-control-allow-origin"] == "*"
        assert http.get("/version", headers={"host": "localhost"}).status_code == 200
        assert http.get("/ping", headers={"host": "other.example"}).status_code == 200
        refused = http.post("/invocations", json=SEED_REQUEST, headers={"host": "localhost"})
        assert refused.status_code == 403


def test_a_client_hanging_up_mid_body_does_not_disturb_the_server(
    live_client: httpx.Client, server: str
) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        raw.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"dataframe_split": '
        )
    assert live_client.post("/invocations", json=SEED_REQUEST).json() == {"predictions": [0]}


def test_server_keeps_serving_after_errors(client: httpx.Client) -> None:
    for content_type, body, *_ in ERRORS.values():
        post(client, content_type, body)
    assert client.get("/ping").status_code == 200
    assert client.post("/invocations", json=SEED_REQUEST).json() == {"predictions": [0]}


# ---------------------------------------------------------------------- fuzz

_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
_keys = st.sampled_from(
    ["dataframe_split", "dataframe_records", "instances", "inputs", "params", "columns", "data",
     "index"]
)  # fmt: skip
_payload = st.dictionaries(_keys | st.text(max_size=8), _json, max_size=4)
_split = st.fixed_dictionaries(
    {"columns": st.lists(st.sampled_from([*COLUMNS, "x"]), max_size=5) | _json,
     "data": st.lists(st.lists(_scalars, max_size=6) | _scalars, max_size=4)}
)  # fmt: skip
_forms = st.builds(
    lambda key, value, params: {key: value, **params},
    st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs"]),
    _split | st.lists(st.dictionaries(st.sampled_from(COLUMNS), _scalars), max_size=3) | _json,
    st.just({}) | st.fixed_dictionaries({"params": _json}),
)
_csv = st.lists(
    st.lists(
        st.sampled_from(["5.1", "1", "", "x", '"a,b"', "true", "-0", "1e400", "nan"]), max_size=5
    ),
    max_size=4,
).map(lambda rows: "\n".join([",".join(COLUMNS)] + [",".join(r) for r in rows]).encode())
_numbers = st.integers(-10, 10) | st.floats(-10, 10)
_odd = st.sampled_from([True, None, "1.5", "x", [], 1e400])
_row = st.lists(_numbers, min_size=4, max_size=4) | st.lists(_numbers | _odd, max_size=5)
_near_valid = st.builds(
    lambda rows, key: (
        {key: {"columns": COLUMNS, "data": rows}} if key else {"columns": COLUMNS, "data": rows}
    ),
    st.lists(_row, min_size=1, max_size=3),
    st.sampled_from(["dataframe_split", None]),
)
_bodies = st.one_of(
    _near_valid.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    _json.map(lambda v: json.dumps(v).encode()),
    _payload.map(lambda v: json.dumps(v).encode()),
    _forms.map(lambda v: json.dumps(v).encode()),
    _csv,
    st.just(as_parquet(FLOAT_FRAME)).map(lambda b: b[: len(b) // 2]),
)
_content_types = st.one_of(
    st.none(),
    st.sampled_from(
        ["application/json", "text/csv", "application/vnd.apache.parquet", "application/x-parquet",
         "application/json; charset=utf-8", "application/json; format=pandas-records",
         "application/json; format=pandas-split", "text/plain", "multipart/form-data", ""]
    ),
    # h11 (the client) refuses header values with surrounding spaces
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip),
)  # fmt: skip


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=_bodies, content_type=_content_types)
def test_fuzz_every_response_is_a_prediction_or_a_json_4xx(
    client: httpx.Client, body: bytes, content_type: str | None
) -> None:
    assert_prediction_or_4xx(post(client, content_type, body))


def assert_prediction_or_4xx(response: httpx.Response) -> None:
    event(f"status {response.status_code}")
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    if response.status_code == 200:
        assert set(data) == {"predictions"}
    else:
        assert set(data) == {"error_code", "message"}
        assert isinstance(data["error_code"], str) and data["message"].strip()


def test_after_the_fuzz_the_server_still_answers(client: httpx.Client) -> None:
    assert client.get("/ping").status_code == 200
    assert client.post("/invocations", json=SEED_REQUEST).json() == {"predictions": [0]}


# ---------------------------------------------------------------------- other models and outputs


class Typed(PythonModel):
    """Reports the dtypes it received (the server's casting) and doubles ``count``."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        dtypes = ",".join(str(model_input[c].dtype) for c in model_input.columns)
        return pd.DataFrame(
            {"dtypes": [dtypes] * len(model_input), "double": model_input["count"] * 2}
        )


def typed_signature() -> Any:
    from mltrack.models.signature import ModelSignature
    from mltrack.types import ColSpec, Schema

    specs = [("count", "long"), ("ratio", "double"), ("small", "float"), ("flag", "boolean"),
             ("name", "string"), ("when", "datetime"), ("blob", "binary")]  # fmt: skip
    return ModelSignature(inputs=Schema(tuple(ColSpec(t, n) for n, t in specs)))


TYPED_ROW = {"count": 3, "ratio": 1, "small": 0.5, "flag": True, "name": "a",
             "when": "2024-01-02T03:04:05", "blob": "YWI="}  # fmt: skip


@pytest.fixture(scope="module")
def typed_app(iris: IrisRepo) -> Any:
    os.chdir(iris.path)
    return app_for(log_pyfunc(Typed(), "typed", signature=typed_signature()))


def test_json_and_csv_are_cast_to_the_signature_types(typed_app: Any) -> None:
    with serve_in_thread(typed_app) as url:
        response = httpx.post(f"{url}/invocations", json={"dataframe_records": [TYPED_ROW]})
        csv = ",".join(TYPED_ROW) + "\n" + ",".join(str(v) for v in TYPED_ROW.values()) + "\n"
        from_csv = httpx.post(
            f"{url}/invocations", content=csv.replace("True", "true"),
            headers={"content-type": "text/csv"},
        )  # fmt: skip
    assert response.status_code == 200, response.text
    [prediction] = response.json()["predictions"]
    assert prediction["double"] == 6
    dtypes = prediction["dtypes"].split(",")
    assert dtypes[:4] == ["int64", "float64", "float32", "bool"]
    assert dtypes[5] == "datetime64[ns]"
    assert from_csv.status_code == 200, from_csv.text
    assert from_csv.json() == response.json()


@pytest.fixture(scope="module")
def typed_url(typed_app: Any) -> Iterator[str]:
    with serve_in_thread(typed_app) as url:
        yield url


_typed_values = _scalars | st.sampled_from(
    ["2024-01-02", "YWI=", "true", "1", "2.0", "1e400", "-5", "nan", 2**53 + 1, 2**63, -(2**31)]
)


_typed_row = st.builds(
    lambda changes, dropped: {k: v for k, v in {**TYPED_ROW, **changes}.items() if k != dropped},
    st.fixed_dictionaries({}, optional={k: _typed_values for k in TYPED_ROW}),
    st.none() | st.sampled_from(list(TYPED_ROW)),
)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rows=st.lists(_typed_row, max_size=3), as_csv_body=st.booleans())
def test_fuzz_casting_every_signature_type(
    typed_url: str, rows: list[dict[str, Any]], as_csv_body: bool
) -> None:
    if as_csv_body:
        lines = [",".join(TYPED_ROW)] + [
            ",".join(str(r.get(k, "")) for k in TYPED_ROW) for r in rows
        ]
        response = httpx.post(
            f"{typed_url}/invocations",
            content="\n".join(lines),
            headers={"content-type": "text/csv"},
        )
    else:
        response = httpx.post(  # json.dumps writes Infinity/NaN, as clients using Python do
            f"{typed_url}/invocations",
            content=json.dumps({"dataframe_records": rows}),
            headers={"content-type": "application/json"},
        )
    assert_prediction_or_4xx(response)


LOSSY = {
    "2.5 for a long": ({"count": 2.5}, "'count'", "not a whole number"),
    "null for a long": ({"count": None}, "'count'", "missing"),
    "text for a long": ({"count": "three"}, "'count'", "not a number"),
    "2**60 for a double": ({"ratio": 2**60}, "'ratio'", "too large"),
    "1e39 for a float": ({"small": 1e39}, "'small'", "float32"),
    "2 for a boolean": ({"flag": 2}, "'flag'", "2"),
    "a number for a string": ({"name": 5}, "'name'", "not a string"),
    "not a date": ({"when": "yesterday"}, "'when'", "yesterday"),
    "binary that is not base64": ({"blob": "***"}, "'blob'", "base64"),
}


@pytest.mark.parametrize("case", list(LOSSY))
def test_lossy_casts_are_refused_naming_the_column(typed_app: Any, case: str) -> None:
    change, column, reason = LOSSY[case]
    with serve_in_thread(typed_app) as url:
        response = httpx.post(
            f"{url}/invocations", json={"dataframe_records": [{**TYPED_ROW, **change}]}
        )
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", column, reason)


def test_csv_lossy_cast_names_the_column(typed_app: Any) -> None:
    csv = ",".join(TYPED_ROW) + "\n2.5,1,1,true,a,2024-01-01,YWI=\n"
    with serve_in_thread(typed_app) as url:
        response = httpx.post(
            f"{url}/invocations", content=csv, headers={"content-type": "text/csv"}
        )
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", "'count'", "'2.5'")


class Outputs(PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        kind = (params or {}).get("kind", "series")
        if kind == "series":
            return pd.Series(model_input["x"] * 2, name="yhat")
        if kind == "dict":
            return {"a": np.arange(len(model_input)), "b": "text"}
        if kind == "nan":
            return np.array([np.nan, 1.0, np.inf])[: len(model_input)]
        if kind == "fail":
            raise ValueError("the model cannot take this")
        return object()


@pytest.fixture(scope="module")
def outputs_app(iris: IrisRepo) -> Any:
    from mltrack.models.signature import ModelSignature
    from mltrack.types import ColSpec, ParamSchema, ParamSpec, Schema

    os.chdir(iris.path)
    signature = ModelSignature(
        inputs=Schema((ColSpec("double", "x"),)),
        params=ParamSchema((ParamSpec("kind", "string", "series"),)),
    )
    return app_for(log_pyfunc(Outputs(), "outputs", signature=signature))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("series", [{"yhat": 2.0}, {"yhat": 4.0}]),
        ("dict", {"a": [0, 1], "b": "text"}),
        ("nan", [None, 1.0]),
    ],
)
def test_mlflow_response_shapes(outputs_app: Any, kind: str, expected: Any) -> None:
    with serve_in_thread(outputs_app) as url:
        response = httpx.post(
            f"{url}/invocations", json={"inputs": {"x": [1.0, 2.0]}, "params": {"kind": kind}}
        )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


def test_params_are_checked_against_the_params_schema(outputs_app: Any) -> None:
    with serve_in_thread(outputs_app) as url:
        response = httpx.post(
            f"{url}/invocations", json={"inputs": {"x": [1.0]}, "params": {"knd": "dict"}}
        )
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", "knd")


def test_model_errors_are_400_and_unserialisable_output_is_500(outputs_app: Any) -> None:
    with serve_in_thread(outputs_app) as url:
        failing = httpx.post(
            f"{url}/invocations", json={"inputs": {"x": [1.0]}, "params": {"kind": "fail"}}
        )
        odd = httpx.post(
            f"{url}/invocations", json={"inputs": {"x": [1.0]}, "params": {"kind": "object"}}
        )
        alive = httpx.get(f"{url}/ping")
    assert_error(failing, 400, "BAD_REQUEST", "ValueError", "the model cannot take this")
    assert_error(odd, 500, "INTERNAL_ERROR", "object", "cannot be written as JSON")
    assert alive.status_code == 200


class WhereItRan(PythonModel):
    """Answers with the name of the thread that ran it, after sleeping ``sleep`` seconds."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        import threading
        import time

        time.sleep(float((params or {}).get("sleep", 0.0)))
        return [threading.current_thread().name] * len(model_input)


def test_small_fast_requests_skip_the_thread_hop_and_a_slow_one_blocks_the_loop_once(
    iris: IrisRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mltrack.models.signature import ModelSignature
    from mltrack.serving import app as serving_app
    from mltrack.serving.app import INLINE_BODY_SIZE
    from mltrack.types import ColSpec, ParamSchema, ParamSpec, Schema

    # "Fast" made generous, so that a loaded machine cannot make the quick answers slow.
    monkeypatch.setattr(serving_app, "INLINE_SECONDS", 0.5)
    os.chdir(iris.path)
    signature = ModelSignature(
        inputs=Schema((ColSpec("double", "x"),)),
        params=ParamSchema((ParamSpec("sleep", "double", 0.0),)),
    )
    app = app_for(log_pyfunc(WhereItRan(), "where", signature=signature))

    def ran_on(http: httpx.Client, sleep: float = 0.0, rows: int = 1) -> str:
        body = {"inputs": {"x": [1.0] * rows}, "params": {"sleep": sleep}}
        response = http.post("/invocations", json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["predictions"][0])

    with serve_in_thread(app) as url, httpx.Client(base_url=url) as http:
        loop_thread = http.get("/ping") and ran_on(http)  # the first request: a worker thread
        assert loop_thread != "MainThread"
        inline = ran_on(http)  # the model answered fast: the next small request runs inline
        assert inline != loop_thread
        assert ran_on(http, sleep=1.0) == inline  # not known to be slow yet: inline, once
        assert ran_on(http) != inline  # after a slow answer: a worker thread again
        assert ran_on(http) == inline
        big = INLINE_BODY_SIZE  # rows: a body over the size limit always goes to a thread
        assert ran_on(http, rows=big) != inline
        assert http.get("/ping").status_code == 200


def test_multi_output_model(in_iris: IrisRepo) -> None:
    from sklearn.ensemble import RandomForestClassifier

    import mltrack

    targets = np.column_stack([in_iris.estimator.predict(in_iris.features), np.arange(150) % 2])
    estimator = RandomForestClassifier(n_estimators=5, random_state=0)
    estimator.fit(in_iris.features, targets)
    mltrack.set_experiment("iris")
    with mltrack.start_run() as run:
        mltrack.sklearn.log_model(estimator, name="multi", input_example=in_iris.features.head(3))
    with serve_in_thread(app_for(f"runs:/{run.info.run_id}/multi")) as url:
        response = httpx.post(f"{url}/invocations", json={"dataframe_split": SPLIT})
    assert response.json() == {"predictions": estimator.predict(FLOAT_FRAME).tolist()}
    assert np.array(response.json()["predictions"]).shape == (2, 2)


# ---------------------------------------------------------------------- stages and aliases that move


@pytest.fixture
def two_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IrisRepo]:
    """'iris' v1 (the forest, @production) and v2 (always predicts 2), in a fresh repository."""
    from sklearn.dummy import DummyClassifier

    import mltrack

    monkeypatch.chdir(tmp_path)
    iris = make_iris_repo(tmp_path / "repo", n_estimators=3)
    constant = DummyClassifier(strategy="constant", constant=2).fit(
        iris.features, iris.estimator.predict(iris.features)
    )
    with mltrack.start_run():
        info = mltrack.sklearn.log_model(
            constant, name="model", input_example=iris.features.head(3)
        )
    mltrack.register_model(info.model_uri, "iris")
    yield iris
    reset_mltrack()


def test_alias_promotion_is_followed_with_reload_interval(two_versions: IrisRepo) -> None:
    from mltrack import MltrackClient

    app = app_for("models:/iris@production", reload_interval=0.1)
    with serve_in_thread(app) as url:
        assert httpx.post(f"{url}/invocations", json=SEED_REQUEST).json() == {"predictions": [0]}
        MltrackClient().registry.set_registered_model_alias("iris", "production", 2)
        wait_until(
            lambda: httpx.get(f"{url}/health").json()["model"] == "'iris' version 2",
            "the promoted version to be served",
        )
        assert httpx.post(f"{url}/invocations", json=SEED_REQUEST).json() == {"predictions": [2]}
        MltrackClient().registry.delete_registered_model_alias("iris", "production")
        with pytest.raises(Exception, match="production"):
            app.state.served.refresh()  # what the reload thread meets: it keeps serving v2
        assert httpx.get(f"{url}/health").json()["model"] == "'iris' version 2"
        assert httpx.post(f"{url}/invocations", json=SEED_REQUEST).json() == {"predictions": [2]}


def test_without_reload_interval_the_loaded_version_stays(two_versions: IrisRepo) -> None:
    from mltrack import MltrackClient

    app = app_for("models:/iris/Production")
    assert app.state.served.follows_registry
    with serve_in_thread(app) as url:
        MltrackClient().registry.transition_model_version_stage("iris", 2, "Production", True)
        assert httpx.get(f"{url}/health").json()["model"] == "'iris' version 1"
        assert httpx.post(f"{url}/invocations", json=SEED_REQUEST).json() == {"predictions": [0]}
        assert app.state.served.refresh() is True  # what --reload-interval would do
        assert app.state.served.refresh() is False
        assert httpx.post(f"{url}/invocations", json=SEED_REQUEST).json() == {"predictions": [2]}


def test_requests_during_swaps_all_succeed(two_versions: IrisRepo) -> None:
    from mltrack import MltrackClient

    app = app_for("models:/iris@production")
    registry = MltrackClient().registry
    answers: list[Any] = []
    done = threading.Event()
    with serve_in_thread(app) as url:

        def hammer() -> None:
            with httpx.Client(base_url=url) as http:
                while not done.is_set():
                    response = http.post("/invocations", json=SEED_REQUEST)
                    answers.append((response.status_code, response.json()))

        worker = threading.Thread(target=hammer)
        worker.start()
        try:
            for version in (2, 1, 2, 1):
                seen = len(answers)  # every swap happens while requests keep arriving
                wait_until(lambda seen=seen: len(answers) > seen, "another answer")
                registry.set_registered_model_alias("iris", "production", version)
                assert app.state.served.refresh() is True
        finally:
            done.set()
            worker.join(30)
    assert answers
    assert {status for status, _ in answers} == {200}
    assert {json.dumps(body) for _, body in answers} <= {
        '{"predictions": [0]}',
        '{"predictions": [2]}',
    }


def test_fixed_uris_do_not_follow_the_registry(in_iris: IrisRepo) -> None:
    from mltrack.serving.served import ServedModel

    for uri in ("models:/iris/1", f"models:/{in_iris.model_id}", f"runs:/{in_iris.run_id}/model"):
        assert not ServedModel.load(uri).follows_registry
    for uri in ("models:/iris@production", "models:/iris/Production", "models:/iris/latest"):
        assert ServedModel.load(uri).follows_registry


# ---------------------------------------------------------------------- the command line


def test_workers_and_repo_option(iris: IrisRepo, tmp_path: Path) -> None:
    live = ServerProcess(
        "-C", str(iris.path), "models", "serve", "-m", "models:/iris@production", "--workers", "2",
        ready_path="/ping", log_dir=tmp_path, cwd=tmp_path,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=live.url) as http:
            answers = [http.post("/invocations", json=SEED_REQUEST).json() for _ in range(6)]
    finally:
        live.stop()
    assert answers == [{"predictions": [0]}] * 6


@pytest.fixture
def serve_args(iris: IrisRepo) -> Iterator[list[str]]:
    yield ["-C", str(iris.path), "models", "serve"]
    reset_mltrack()  # -C set the process's tracking URI


def test_serve_with_an_unknown_model_is_a_one_line_error(cli: Any, serve_args: list[str]) -> None:
    result = invoke(cli, *serve_args, "-m", "models:/nope/1", "-p", "0")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "nope" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_on_a_port_in_use_is_a_one_line_error(cli: Any, serve_args: list[str]) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        result = invoke(cli, *serve_args, "-m", "models:/iris/1", "-p", str(port))
    finally:
        taken.close()
    assert result.exit_code == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr


def test_serve_usage_errors(cli: Any, serve_args: list[str]) -> None:
    result = invoke(cli, *serve_args, "-m", "models:/iris/1", "--max-body-size", "lots")
    assert result.exit_code == 2
    assert "lots" in result.stderr
    assert invoke(cli, *serve_args, "-m", "models:/iris/1", "--workers", "0").exit_code == 2
    help_text = invoke(cli, "models", "serve", "--help").stdout
    assert "-h, --host" in help_text and "--reload-interval" in help_text
