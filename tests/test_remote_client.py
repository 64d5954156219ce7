"""The remote client: ``import mltrack as mlflow`` with an ``http://`` tracking URI logs to a server.

Against a real ``mltrack server`` and a real ``mlflow server`` (SQLite), each on a
free port of 127.0.0.1; what was logged is read back with MLflow's own client.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import run_python
from liveserver import make_repo
from support import TrackingServer, answers, bound_socket, wait_until

TRAINING_SCRIPT = """
import sys
import mltrack as mlflow

mlflow.set_experiment("remote-training")
with mlflow.start_run(run_name="first") as run:
    mlflow.log_params({"lr": 0.01, "layers": 3})
    mlflow.log_param("optimizer", "adam")
    mlflow.set_tag("stage", "dev")
    mlflow.set_tags({"team": "vision"})
    mlflow.set_tag("queued", "no", synchronous=False).wait()
    for step in range(1234):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"acc": 0.5, "f1": 0.25}, step=7)
    mlflow.log_text("hello from the training machine", "notes/hello.txt")
    mlflow.log_dict({"depth": 3}, "config.json")
    with open("weights.bin", "wb") as f:
        f.write(b"\\x00\\x01\\x02")
    mlflow.log_artifact("weights.bin", artifact_path="files")
    import pandas as pd
    frame = pd.DataFrame({"x": [1, 2], "y": [3, 4]})
    mlflow.log_input(mlflow.data.from_pandas(frame, name="toy"), context="training")
    assert len(mlflow.get_run(run.info.run_id).data.params) == 3
    history = mlflow.MltrackClient().get_metric_history(run.info.run_id, "loss")
    assert len(history) == 1234, len(history)
print(run.info.run_id)
"""


class MlflowServer:
    """``mlflow server`` on SQLite, serving artifacts, on a free port of 127.0.0.1."""

    def __init__(self, workdir: Path) -> None:
        sock = bound_socket()
        port = sock.getsockname()[1]
        sock.close()  # mlflow server binds by number; nothing else here takes ports meanwhile
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / "mlflow-server.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--backend-store-uri",
                    f"sqlite:///{workdir / 'mlflow.db'}",
                    "--artifacts-destination",
                    str(workdir / "mlartifacts"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                ],
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(
            lambda: answers(self.url + "/health"),
            "mlflow server to answer",
            timeout=120,
            process=self.process,
            log=self.log,
        )

    def stop(self) -> None:
        import os
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(params=["mltrack", "mlflow"])
def server_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A tracking server of either kind, with an empty store."""
    if request.param == "mlflow":
        pytest.importorskip("mlflow")
        mlflow_server = MlflowServer(tmp_path)
        try:
            yield mlflow_server.url
        finally:
            mlflow_server.stop()
    else:
        server = TrackingServer(tmp_path / "team-repo", "--init")
        try:
            yield server.url
        finally:
            server.stop()


@pytest.fixture
def training_dir(tmp_path: Path) -> Path:
    """A directory outside any git repository: the training machine has no mltrack store."""
    path = tmp_path / "trainer"
    path.mkdir()
    return path


def test_a_script_logs_to_a_server_and_mlflow_reads_it_back(
    server_url: str, training_dir: Path
) -> None:
    mlflow = pytest.importorskip("mlflow")
    result = run_python(TRAINING_SCRIPT, training_dir, MLFLOW_TRACKING_URI=server_url)
    run_id = result.stdout.strip().splitlines()[-1]
    assert not (training_dir / ".mltrack").exists() and not (training_dir / "mlruns").exists()

    reader = mlflow.MlflowClient(server_url)
    run = reader.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "first"
    assert reader.get_experiment(run.info.experiment_id).name == "remote-training"
    assert run.data.params == {"lr": "0.01", "layers": "3", "optimizer": "adam"}
    assert run.data.tags["stage"] == "dev" and run.data.tags["team"] == "vision"
    assert run.data.tags["queued"] == "no"
    assert run.data.tags["mlflow.runName"] == "first"
    assert run.data.metrics == {"loss": 1.0 / 1234, "acc": 0.5, "f1": 0.25}
    history = reader.get_metric_history(run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [
        (step, 1.0 / (step + 1)) for step in range(1234)
    ]
    assert [(m.step, m.value) for m in reader.get_metric_history(run_id, "acc")] == [(7, 0.5)]
    (training_dir / "dl").mkdir()
    downloaded = Path(reader.download_artifacts(run_id, "", str(training_dir / "dl")))
    assert (downloaded / "notes" / "hello.txt").read_text() == "hello from the training machine"
    assert (downloaded / "config.json").read_text().replace(" ", "").replace("\n", "") == (
        '{"depth":3}'
    )
    assert (downloaded / "files" / "weights.bin").read_bytes() == b"\x00\x01\x02"
    [dataset_input] = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "toy"
    assert {t.key: t.value for t in dataset_input.tags} == {"mlflow.data.context": "training"}


def test_the_client_searches_ends_and_deletes_runs_on_a_server(
    server_url: str, training_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mltrack

    monkeypatch.chdir(training_dir)
    mltrack.set_tracking_uri(server_url)
    try:
        experiment_id = mltrack.create_experiment("searched")
        assert [e.name for e in mltrack.search_experiments(filter_string="name = 'searched'")] == [
            "searched"
        ]
        client = mltrack.MltrackClient()
        run = client.create_run(experiment_id, run_name="manual")
        client.log_batch(
            run.info.run_id,
            metrics=[mltrack.entities.Metric("m", float(i), 1000 + i, i) for i in range(2500)],
            params=[mltrack.entities.Param(f"p{i}", str(i)) for i in range(150)],
        )
        client.set_terminated(run.info.run_id, "KILLED")
        found = mltrack.search_runs([experiment_id], "params.p149 = '149'", output_format="list")
        assert [r.info.run_id for r in found] == [run.info.run_id]
        assert found[0].info.status == "KILLED" and len(found[0].data.params) == 150
        frame = mltrack.search_runs([experiment_id])
        assert list(frame["run_id"]) == [run.info.run_id] and frame["metrics.m"][0] == 2499.0
        assert len(client.get_metric_history(run.info.run_id, "m")) == 2500
        mltrack.delete_run(run.info.run_id)
        assert mltrack.search_runs([experiment_id], output_format="list") == []
        with pytest.raises(mltrack.exceptions.ResourceDoesNotExist):
            client.delete_registered_model("never-registered")
        with pytest.raises(mltrack.exceptions.MltrackError, match=r"^This call is not offered"):
            client.repository  # noqa: B018 - the git repository is the server's
        with pytest.raises(mltrack.exceptions.ResourceDoesNotExist):
            client.get_run("0" * 32)
    finally:
        mltrack.set_tracking_uri(str(training_dir))
        from mltrack.tracking import fluent

        fluent.reset_state()


MODEL_SCRIPT = """
import json
import numpy as np
import mltrack as mlflow
from sklearn.linear_model import LogisticRegression

X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [0.0, 3.0], [3.0, 0.5], [0.5, 2.5]])
y = np.array([0, 1, 1, 0, 1, 0])
model = LogisticRegression().fit(X, y)
with mlflow.start_run() as run:
    mlflow.log_param("C", 1.0)
    info = mlflow.sklearn.log_model(
        model, name="model", input_example=X[:2], registered_model_name="classifier"
    )
by_id = mlflow.sklearn.load_model(info.model_uri).predict(X)
by_run = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model").predict(X)
by_version = mlflow.pyfunc.load_model("models:/classifier/1").predict(X)
by_latest = mlflow.sklearn.load_model("models:/classifier/latest").predict(X)
print(json.dumps({
    "model_uri": info.model_uri, "model_id": info.model_id, "run_id": run.info.run_id,
    "version": info.registered_model_version,
    "expected": model.predict(X).tolist(), "by_id": by_id.tolist(),
    "by_run": [int(v) for v in by_run], "by_version": [int(v) for v in by_version],
    "by_latest": by_latest.tolist(),
}))
"""


def test_an_sklearn_model_is_logged_to_a_server_and_loaded_by_mlflow_and_mltrack(
    server_url: str, training_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mlflow = pytest.importorskip("mlflow")
    result = run_python(MODEL_SCRIPT, training_dir, MLFLOW_TRACKING_URI=server_url)
    logged = json.loads(result.stdout.strip().splitlines()[-1])
    assert logged["model_uri"] == f"models:/{logged['model_id']}"
    assert logged["model_id"].startswith("m-")
    assert logged["by_id"] == logged["expected"] == logged["by_run"]
    assert logged["by_version"] == logged["expected"] == logged["by_latest"]
    assert logged["version"] == 1
    assert not (training_dir / ".mltrack").exists() and not (training_dir / "mlruns").exists()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server_url)
    reader = mlflow.MlflowClient(server_url)
    stored = reader.get_logged_model(logged["model_id"])
    assert stored.status == mlflow.entities.LoggedModelStatus.READY
    assert stored.source_run_id == logged["run_id"] and stored.name == "model"
    assert stored.params["C"] == "1.0"
    run = reader.get_run(logged["run_id"])
    assert [o.model_id for o in run.outputs.model_outputs] == [logged["model_id"]]
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [0.0, 3.0], [3.0, 0.5], [0.5, 2.5]])
    version = reader.get_model_version("classifier", "1")
    assert version.source == logged["model_uri"] and version.run_id == logged["run_id"]
    for uri in (logged["model_uri"], f"runs:/{logged['run_id']}/model", "models:/classifier/1"):
        assert mlflow.sklearn.load_model(uri).predict(X).tolist() == logged["expected"]


def test_a_python_model_round_trips_and_a_missing_model_is_one_line(
    server_url: str, training_dir: Path
) -> None:
    script = (
        "import mltrack as mlflow\n"
        "from mltrack.exceptions import MltrackError\n"
        "class Echo(mlflow.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return model_input\n"
        "with mlflow.start_run() as run:\n"
        "    try:\n"
        "        mlflow.pyfunc.log_model(name='bad', python_model=object())\n"
        "    except MltrackError as e:\n"
        "        print(type(e).__name__)\n"
        "    info = mlflow.pyfunc.log_model(name='echo', python_model=Echo())\n"
        "print(mlflow.pyfunc.load_model(info.model_uri).predict(['a', 'b']))\n"
        "for uri in (f'runs:/{run.info.run_id}/nothing', 'models:/m-0123', 'models:/reg/1'):\n"
        "    try:\n"
        "        mlflow.pyfunc.load_model(uri)\n"
        "    except MltrackError as e:\n"
        "        print(type(e).__name__, e)\n"
    )
    result = run_python(script, training_dir, MLFLOW_TRACKING_URI=server_url)
    refused, echoed, *lines = result.stdout.strip().splitlines()[-5:]
    assert refused == "InvalidParameterValue" and echoed == "['a', 'b']"
    assert all(line.startswith("ResourceDoesNotExist") for line in lines), lines
    assert "nothing" in lines[0] and "m-0123" in lines[1] and "reg" in lines[2]


class _DropFirstBatchProxy(http.server.ThreadingHTTPServer):
    """Forwards to ``target``; the first ``log-batch`` is stored, then its answer is lost.

    ``busy``: instead, the first ``log-batch`` is answered 503 without reaching the server.
    """

    def __init__(self, target: str, busy: bool = False) -> None:
        self.target = target
        self.busy = busy
        self.dropped = 0
        self.batches = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.busy and self.path.endswith("/runs/log-batch") and not proxy.dropped:
                    proxy.dropped += 1
                    proxy.batches += 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                # A loaded machine's `mlflow server` can take longer than httpx's 5 s default.
                answer = httpx.request(
                    self.command,
                    proxy.target + self.path,
                    content=body,
                    headers=headers,
                    timeout=120,
                )
                if self.path.endswith("/runs/log-batch"):
                    proxy.batches += 1
                    if proxy.dropped == 0:
                        proxy.dropped += 1
                        self.close_connection = True
                        return  # stored by the server, but the client never hears so
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = _forward

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_a_retried_batch_whose_answer_was_lost_stores_no_point_twice(
    server_url: str, training_dir: Path
) -> None:
    proxy = _DropFirstBatchProxy(server_url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
        script = (
            "import mltrack as mlflow\n"
            "with mlflow.start_run() as run:\n"
            "    for step in range(1500):\n"
            "        mlflow.log_metric('loss', float(step), step=step, timestamp=1000 + step)\n"
            "print(run.info.run_id)\n"
        )
        result = run_python(
            script,
            training_dir,
            MLFLOW_TRACKING_URI=proxy_url,
            MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="0",
            MLFLOW_HTTP_REQUEST_BACKOFF_JITTER="0",
        )
        run_id = result.stdout.strip().splitlines()[-1]
        assert proxy.dropped == 1 and proxy.batches == 3  # 1000 + its retry + 500
        import mltrack

        history = mltrack.MltrackClient(server_url).get_metric_history(run_id, "loss")
        assert sorted(m.step for m in history) == list(range(1500))
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_a_batch_answered_503_is_sent_again(tmp_path: Path, training_dir: Path) -> None:
    server = TrackingServer(tmp_path / "team-repo", "--init")
    proxy = _DropFirstBatchProxy(server.url, busy=True)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        script = (
            "import mltrack as mlflow\n"
            "with mlflow.start_run() as run:\n"
            "    mlflow.log_metrics({'a': 1.0, 'b': 2.0})\n"
            "print(run.info.run_id)\n"
        )
        result = run_python(
            script,
            training_dir,
            MLFLOW_TRACKING_URI=f"http://127.0.0.1:{proxy.server_address[1]}",
            MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="0",
            MLFLOW_HTTP_REQUEST_BACKOFF_JITTER="0",
        )
        run_id = result.stdout.strip().splitlines()[-1]
        assert proxy.dropped == 1 and proxy.batches == 2
        import mltrack

        assert mltrack.MltrackClient(server.url).get_run(run_id).data.metrics == {
            "a": 1.0,
            "b": 2.0,
        }
    finally:
        proxy.shutdown()
        proxy.server_close()
        server.stop()


def test_credentials_from_mlflow_variables_reach_an_auth_server(tmp_path: Path) -> None:
    repo, home = make_repo(tmp_path)
    server = TrackingServer(
        repo, "--auth", home=home, env={"MLTRACK_AUTH_ADMIN_PASSWORD": "admin-pw-123"}
    )
    try:
        trainer = tmp_path / "trainer"
        trainer.mkdir()
        script = (
            "import mltrack as mlflow\n"
            "with mlflow.start_run() as run:\n"
            "    mlflow.log_metric('loss', 0.5)\n"
            "print(run.info.run_id)\n"
        )
        refused = run_python(script, trainer, check=False, MLFLOW_TRACKING_URI=server.url)
        assert refused.returncode == 1 and "MLFLOW_TRACKING_USERNAME" in refused.stderr
        result = run_python(
            script,
            trainer,
            MLFLOW_TRACKING_URI=server.url,
            MLFLOW_TRACKING_USERNAME="admin",
            MLFLOW_TRACKING_PASSWORD="admin-pw-123",
        )
        run_id = result.stdout.strip().splitlines()[-1]
        stored = httpx.get(
            f"{server.url}/api/2.0/mlflow/runs/get",
            params={"run_id": run_id},
            auth=("admin", "admin-pw-123"),
        ).json()["run"]
        assert stored["info"]["status"] == "FINISHED"
        assert stored["data"]["metrics"][0]["value"] == 0.5
    finally:
        server.stop()


def test_tls_with_a_ca_bundle_or_insecure_mode_and_refused_otherwise(tmp_path: Path) -> None:
    from test_server_auth_client import self_signed

    repo, home = make_repo(tmp_path)
    key, cert = self_signed(tmp_path)
    server = TrackingServer(
        repo,
        "--auth",
        "--ssl-keyfile",
        str(key),
        "--ssl-certfile",
        str(cert),
        home=home,
        env={"MLTRACK_AUTH_ADMIN_PASSWORD": "admin-pw-123"},
    )
    try:
        assert server.url.startswith("https://")
        trainer = tmp_path / "trainer"
        trainer.mkdir()
        script = (
            "import mltrack as mlflow\n"
            "from mltrack.exceptions import MltrackError\n"
            "try:\n"
            "    with mlflow.start_run() as run:\n"
            "        mlflow.log_metric('loss', 0.5)\n"
            "    print(mlflow.get_run(run.info.run_id).data.metrics)\n"
            "except MltrackError as e:\n"
            "    print(e)\n"
        )
        credentials = {
            "MLFLOW_TRACKING_URI": server.url,
            "MLFLOW_TRACKING_USERNAME": "admin",
            "MLFLOW_TRACKING_PASSWORD": "admin-pw-123",
        }
        with_bundle = run_python(
            script, trainer, MLFLOW_TRACKING_SERVER_CERT_PATH=str(cert), **credentials
        )
        assert with_bundle.stdout.strip() == "{'loss': 0.5}"
        insecure = run_python(script, trainer, MLFLOW_TRACKING_INSECURE_TLS="true", **credentials)
        assert insecure.stdout.strip() == "{'loss': 0.5}"
        refused = run_python(script, trainer, **credentials)
        assert refused.stdout.startswith(f"TLS with the tracking server at {server.url} failed")
        assert "MLFLOW_TRACKING_SERVER_CERT_PATH" in refused.stdout
    finally:
        server.stop()


REGISTRY_SCRIPT = """
import os
import mltrack as mlflow

os.makedirs("saved/model", exist_ok=True)
with open("saved/model/MLmodel", "w") as f:
    f.write("artifact_path: model\\nflavors:\\n  python_function:\\n    loader_module: x\\n")
with mlflow.start_run() as run:
    mlflow.log_artifacts("saved/model", artifact_path="model")
version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "remote-model")
client = mlflow.MltrackClient()
client.set_registered_model_alias("remote-model", "champion", version.version)
again = mlflow.register_model(f"runs:/{run.info.run_id}/model", "remote-model")
print(run.info.run_id, version.version, again.version)
print(client.get_model_version_by_alias("remote-model", "champion").version)
"""


def test_register_model_and_aliases_over_a_server(server_url: str, training_dir: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    result = run_python(REGISTRY_SCRIPT, training_dir, MLFLOW_TRACKING_URI=server_url)
    first, second = result.stdout.strip().splitlines()[-2:]
    run_id, version, again = first.split()
    assert (version, again, second) == ("1", "2", "1")
    reader = mlflow.MlflowClient(server_url)
    champion = reader.get_model_version_by_alias("remote-model", "champion")
    assert champion.version == "1" and champion.run_id == run_id
    assert [v.version for v in reader.search_model_versions("name = 'remote-model'")] in (
        ["2", "1"],
        ["1", "2"],
    )


def test_a_client_given_a_repository_stays_local_whatever_the_tracking_uri(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mltrack.client import MltrackClient
    from mltrack.tracking.client import TrackingClient
    from mltrack.tracking.context import open_repository

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # as `mltrack import` sets it
    repository = open_repository(str(repo))
    for cls in (TrackingClient, MltrackClient):
        local = cls(repository=repository)
        assert not local.remote and isinstance(local, cls)
        local.get_experiment_by_name("Default")
    assert MltrackClient().remote and TrackingClient().remote


def test_points_are_sent_once_the_oldest_has_waited_so_a_kill_loses_only_the_last_ones(
    tmp_path: Path, training_dir: Path
) -> None:
    server = TrackingServer(tmp_path / "team-repo", "--init")
    try:
        script = (
            "import os, signal, sys, time\n"
            "import mltrack as mlflow\n"
            "import mltrack.tracking.remote as remote\n"
            "remote.MAX_POINT_AGE_S = 0.2  # seconds, not the default's, to keep the test short\n"
            "print(mlflow.start_run().info.run_id, flush=True)  # a read flushes: do it first\n"
            "mlflow.log_metric('loss', 1.0, step=0)\n"
            "time.sleep(0.3)\n"
            "mlflow.log_metric('loss', 0.5, step=1)  # the first point has waited: both are sent\n"
            "os.kill(os.getpid(), signal.SIGKILL)  # no end_run, no exit handler\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=training_dir,
            env={**os.environ, "MLFLOW_TRACKING_URI": server.url},
            capture_output=True,
            text=True,
        )
        assert done.returncode == -9, done.stderr
        run_id = done.stdout.split()[0]
        import mltrack

        history = mltrack.MltrackClient(server.url).get_metric_history(run_id, "loss")
        assert sorted((m.step, m.value) for m in history) == [(0, 1.0), (1, 0.5)]
    finally:
        server.stop()


READING_SCRIPT = """
import json
import os
import mltrack as mlflow

with mlflow.start_run() as run:
    mlflow.log_text("hello", "notes/hello.txt")
    mlflow.log_dict({"depth": 3}, "config.json")
    mlflow.log_dict({"units": [4, 2]}, "deep/er/net.yaml")
run_id = run.info.run_id
client = mlflow.MltrackClient()
listed = {
    "root": [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id)],
    "deep": [(f.path, f.is_dir) for f in mlflow.artifacts.list_artifacts(f"runs:/{run_id}/deep")],
}
tree = client.download_artifacts(run_id, "", "copy")
one = mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{run_id}/notes/hello.txt")
sub = client.download_artifacts(run_id=run_id, path="deep", dst_path="sub")
files = sorted(
    os.path.relpath(os.path.join(d, f), tree) for d, _, fs in os.walk(tree) for f in fs
)
print(json.dumps({
    "run_id": run_id,
    "listed": listed,
    "tree": [tree, files],
    "one": open(one).read(),
    "sub": sorted(os.listdir(os.path.join(sub, "er"))),
    "text": mlflow.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt"),
    "dict": mlflow.artifacts.load_dict(f"runs:/{run_id}/deep/er/net.yaml"),
}))
"""


def test_artifacts_are_listed_downloaded_and_loaded_from_a_server(
    server_url: str, training_dir: Path
) -> None:
    import json

    mlflow = pytest.importorskip("mlflow")
    result = run_python(READING_SCRIPT, training_dir, MLFLOW_TRACKING_URI=server_url)
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    run_id = seen["run_id"]
    reader = mlflow.MlflowClient(server_url)
    assert seen["listed"]["root"] == [
        [f.path, f.is_dir, f.file_size] for f in reader.list_artifacts(run_id)
    ]
    assert [p for p, _, _ in seen["listed"]["root"]] == ["config.json", "deep", "notes"]
    assert seen["listed"]["deep"] == [["deep/er", True]]
    tree, files = seen["tree"]
    assert Path(tree) == Path("copy", "artifacts")  # under dst_path, as given
    assert files == ["config.json", "deep/er/net.yaml", "notes/hello.txt"]
    assert seen["one"] == "hello" and seen["text"] == "hello"
    assert seen["sub"] == ["net.yaml"]
    assert seen["dict"] == {"units": [4, 2]}


def test_reading_a_missing_artifact_or_model_or_a_local_path_from_a_server_is_one_line(
    server_url: str, training_dir: Path
) -> None:
    script = (
        "import mltrack as mlflow\n"
        "with mlflow.start_run() as run:\n"
        "    mlflow.log_text('x', 'a.txt')\n"
        "try:\n"
        "    mlflow.artifacts.download_artifacts(f'runs:/{run.info.run_id}/nothing.txt')\n"
        "except mlflow.exceptions.MltrackError as error:\n"
        "    print(type(error).__name__, error)\n"
        "for uri in ('models:/m-123', 'models:/nobody/1', 'file:///tmp/x.txt'):\n"
        "    try:\n"
        "        mlflow.artifacts.list_artifacts(uri)\n"
        "    except mlflow.exceptions.MltrackError as error:\n"
        "        print(type(error).__name__, error)\n"
    )
    result = run_python(script, training_dir, MLFLOW_TRACKING_URI=server_url)
    missing, model, version, path = result.stdout.strip().splitlines()[-4:]
    assert missing.startswith("ResourceDoesNotExist") and "nothing.txt" in missing
    assert model.startswith("ResourceDoesNotExist") and "m-123" in model
    assert version.startswith("ResourceDoesNotExist") and "nobody" in version
    assert path.startswith("NotOfferedRemotely") and "file:///tmp/x.txt" in path


MEDIA_SCRIPT = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import mltrack as mlflow

with mlflow.start_run() as run:
    figure, axes = plt.subplots()
    axes.plot([0, 1], [1, 0])
    mlflow.log_figure(figure, "plots/line.png")
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    mlflow.log_image(pixels, "images/static.png")
    mlflow.log_image(pixels, key="sample", step=2, timestamp=1700000000000)
    mlflow.log_table({"x": [1, 2], "y": ["a", "b"]}, "tables/rows.json")
    mlflow.log_table({"x": [3], "y": ["c"]}, "tables/rows.json")
    assert mlflow.artifacts.load_image(f"runs:/{run.info.run_id}/images/static.png").size == (8, 8)
    assert mlflow.load_table("tables/rows.json", run_ids=[run.info.run_id])["x"].tolist() == [1, 2, 3]
print(run.info.run_id)
"""


def test_figures_images_and_tables_are_logged_to_a_server(
    server_url: str, training_dir: Path
) -> None:
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("matplotlib")
    result = run_python(MEDIA_SCRIPT, training_dir, MLFLOW_TRACKING_URI=server_url)
    run_id = result.stdout.strip().splitlines()[-1]
    reader = mlflow.MlflowClient(server_url)
    copy = Path(reader.download_artifacts(run_id, "", str(training_dir / "dl")))
    assert (copy / "plots" / "line.png").read_bytes().startswith(b"\x89PNG")
    assert (copy / "images" / "static.png").read_bytes().startswith(b"\x89PNG")
    stepped = sorted(p.name for p in (copy / "images").iterdir() if p.name.startswith("sample"))
    assert len(stepped) == 2
    assert stepped[0].startswith("sample+step+2+timestamp+1700000000000+")
    thumbnail, full = stepped  # "<base>+compressed.webp" sorts before "<base>.png"
    assert full == thumbnail.replace("+compressed.webp", ".png")
    run = reader.get_run(run_id)
    assert run.data.tags["mlflow.loggedImages"] == "True"
    mlflow.set_tracking_uri(server_url)
    try:
        mlflow.set_experiment(experiment_id=run.info.experiment_id)
        table = mlflow.load_table("tables/rows.json", run_ids=[run_id])
    finally:
        mlflow.set_tracking_uri(None)
    assert table["x"].tolist() == [1, 2, 3] and table["y"].tolist() == ["a", "b", "c"]
