"""The stock MLflow client (the ``mlflow`` test extra, pinned 3.17.2) against a live server.

What MLflow logs through ``mltrack server`` must also be what mltrack itself
sees: ``mltrack runs list``, commits in ``git log``, registry tags, and
``runs:/`` models loadable locally.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from liveserver import make_repo, run_cli
from support import TrackingServer, child_env

pytestmark = [
    pytest.mark.mlflow,
    # The test drives MLflow's deprecated stage API on purpose.
    pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning"),
]

mlflow = pytest.importorskip("mlflow", reason="needs the `mlflow` test extra")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    repo, home = make_repo(tmp_path_factory.mktemp("client"))
    live = TrackingServer(repo, home=home)
    yield live
    live.stop()


@pytest.fixture
def tracking(server: TrackingServer, monkeypatch: pytest.MonkeyPatch) -> TrackingServer:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow.set_tracking_uri(server.url)
    return server


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def session(server: TrackingServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One training run logged with every fluent call, as a user script would."""
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    mlflow.set_tracking_uri(server.url)
    work = tmp_path_factory.mktemp("session")
    (work / "notes.txt").write_text("hello\n")
    (work / "dir").mkdir()
    (work / "dir" / "a.txt").write_text("a")
    X, y = load_iris(return_X_y=True, as_frame=True)
    with warnings.catch_warnings():
        # MLflow's hints about this data and model (integer columns, type hints), and
        # pandas 3 warning about calls MLflow 3.17 makes that pandas 4 will change.
        warnings.filterwarnings("ignore", module=r"mlflow\.")
        warnings.filterwarnings("ignore", category=pd.errors.Pandas4Warning)
        mlflow.set_experiment("demo")
        with mlflow.start_run(run_name="r1", tags={"custom": "yes"}, description="my run") as run:
            mlflow.log_param("alpha", 0.5)
            mlflow.log_params({"l1": 0.1, "solver": "lbfgs"})
            mlflow.log_metric("acc", 0.9, step=1)
            mlflow.log_metrics({"acc": 0.95, "loss": 0.2}, step=2)
            mlflow.set_tag("stage", "dev")
            mlflow.set_tags({"team": "ml"})
            mlflow.log_artifact(str(work / "notes.txt"))
            mlflow.log_artifacts(str(work / "dir"), artifact_path="dir")
            mlflow.log_text("some text", "text/t.txt")
            mlflow.log_dict({"a": 1}, "cfg/d.json")
            frame = pd.concat([X, y.rename("target")], axis=1)
            dataset = mlflow.data.from_pandas(frame, source="/data/iris.csv", name="iris")
            mlflow.log_input(dataset, context="training")
            model = LogisticRegression(max_iter=300).fit(X, y)
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=X.iloc[:2],
                pip_requirements=["scikit-learn"],  # skips MLflow's slow requirement inference
            )
    return {"run_id": run.info.run_id, "model_id": info.model_id, "X": X, "work": work}


def test_run_is_logged_and_committed(tracking: TrackingServer, session: dict[str, Any]) -> None:
    client = mlflow.MlflowClient()
    run = client.get_run(session["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "r1"
    assert run.data.params == {"alpha": "0.5", "l1": "0.1", "solver": "lbfgs"}
    assert run.data.metrics == {"acc": 0.95, "loss": 0.2}
    assert run.data.tags["custom"] == "yes" and run.data.tags["mlflow.note.content"] == "my run"
    assert run.data.tags["team"] == "ml"
    assert run.inputs.dataset_inputs[0].dataset.name == "iris"
    assert [o.model_id for o in run.outputs.model_outputs] == [session["model_id"]]
    history = client.get_metric_history(session["run_id"], "acc")
    assert [(m.step, m.value) for m in history] == [(1, 0.9), (2, 0.95)]
    repo = tracking.repo
    log = git(repo, "log", "--format=%s%n%b")
    assert "Run r1: FINISHED in demo" in log and f"Mltrack-Run: {session['run_id']}" in log
    assert git(repo, "status", "--porcelain") == ""
    listed = run_cli("-C", str(repo), "runs", "list", "--experiment", "demo", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["info"]["run_id"] == session["run_id"] and row["info"]["status"] == "FINISHED"
    assert row["data"]["metrics"] == {"acc": 0.95, "loss": 0.2}
    files = git(repo, "ls-files", ".mltrack").splitlines()
    run_files = [f for f in files if session["run_id"] in f]
    assert any(f.endswith("artifacts/model/MLmodel") for f in run_files)
    assert any(f.endswith("artifacts/notes.txt") for f in run_files)


def test_search_runs_filters_and_orders(tracking: TrackingServer, session: dict[str, Any]) -> None:
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("demo")
    found = client.search_runs(
        [experiment.experiment_id],
        "metrics.acc > 0.5 and params.alpha = '0.5'",
        order_by=["metrics.acc DESC"],
    )
    assert [r.info.run_id for r in found] == [session["run_id"]]
    assert client.search_runs([experiment.experiment_id], "metrics.acc > 0.99") == []
    frame = mlflow.search_runs(experiment_names=["demo"])
    assert list(frame["run_id"]) == [session["run_id"]]
    assert frame.loc[0, "metrics.acc"] == 0.95


def test_artifacts_list_and_download(
    tracking: TrackingServer, session: dict[str, Any], tmp_path: Path
) -> None:
    client = mlflow.MlflowClient()
    run_id = session["run_id"]
    top = {f.path: f.is_dir for f in client.list_artifacts(run_id)}
    assert top == {"cfg": True, "dir": True, "model": True, "notes.txt": False, "text": True}
    assert [f.path for f in client.list_artifacts(run_id, "cfg")] == ["cfg/d.json"]
    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="cfg", dst_path=str(tmp_path)
    )
    assert json.loads((Path(local) / "d.json").read_text()) == {"a": 1}
    text = mlflow.artifacts.load_text(f"runs:/{run_id}/text/t.txt")
    assert text == "some text"


def test_register_aliases_stages_and_load(
    tracking: TrackingServer, session: dict[str, Any]
) -> None:
    client = mlflow.MlflowClient()
    run_id, model_id = session["run_id"], session["model_id"]
    one = mlflow.register_model(f"runs:/{run_id}/model", "iris-clf")
    two = mlflow.register_model(f"models:/{model_id}", "iris-clf")
    assert (one.version, two.version) == ("1", "2")
    assert one.run_id == two.run_id == run_id
    tags = git(tracking.repo, "tag", "-l", "mltrack/iris-clf/*").split()
    assert tags == ["mltrack/iris-clf/v1", "mltrack/iris-clf/v2"]
    client.set_registered_model_alias("iris-clf", "champion", "1")
    assert client.get_model_version_by_alias("iris-clf", "champion").version == "1"
    client.transition_model_version_stage("iris-clf", "1", "Production")
    client.transition_model_version_stage(
        "iris-clf", "2", "Production", archive_existing_versions=True
    )
    stages = {v.version: v.current_stage for v in client.search_model_versions("name='iris-clf'")}
    assert stages == {"1": "Archived", "2": "Production"}
    model = mlflow.pyfunc.load_model("models:/iris-clf@champion")
    predictions = model.predict(session["X"].iloc[:5])
    assert list(predictions) == [0, 0, 0, 0, 0]
    assert len(mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(session["X"])) == 150
    assert len(mlflow.pyfunc.load_model(f"models:/{model_id}").predict(session["X"])) == 150
    assert git(tracking.repo, "status", "--porcelain") == ""


def test_mltrack_sees_the_logged_model_as_a_run_model(
    tracking: TrackingServer, session: dict[str, Any]
) -> None:
    script = f"""
        import mltrack, pandas as pd
        mltrack.set_tracking_uri({str(tracking.repo)!r})
        model = mltrack.pyfunc.load_model("runs:/{session["run_id"]}/model")
        frame = pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=[
            "sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"])
        print(list(model.predict(frame).tolist()))
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0]"


def test_log_model_after_metrics_keeps_each_point_once(tracking: TrackingServer) -> None:
    """MLflow's log_model re-sends the points of the model's step; they are stored once."""
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"mlflow\.")
        with mlflow.start_run() as run:
            for step in range(10):
                mlflow.log_metric("m", step / 10, step=step)
            model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
            mlflow.sklearn.log_model(model, name="model")
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "m")
    assert [(m.step, m.value) for m in history] == [(step, step / 10) for step in range(10)]


def test_model_inputs_and_outputs_are_recorded_and_committed(tracking: TrackingServer) -> None:
    """MLflow 3's ``log_inputs(models=...)`` and ``log_outputs`` over REST, as the local API
    records them: in get-run and in the run's committed run.yaml."""
    from mlflow.entities import LoggedModelInput, LoggedModelOutput

    mlflow.set_experiment("model-io")
    client = mlflow.MlflowClient()
    used = mlflow.initialize_logged_model(name="used")
    with mlflow.start_run() as run:
        made = mlflow.initialize_logged_model(name="made")
        client.log_inputs(run.info.run_id, models=[LoggedModelInput(used.model_id)])
        client.log_inputs(run.info.run_id, models=[LoggedModelInput(used.model_id)])  # once
        client.log_outputs(run.info.run_id, [LoggedModelOutput(made.model_id, 4)])
    stored = client.get_run(run.info.run_id)
    assert [m.model_id for m in stored.inputs.model_inputs] == [used.model_id]
    assert [(m.model_id, m.step) for m in stored.outputs.model_outputs] == [(made.model_id, 4)]
    experiment_id = stored.info.experiment_id
    rel = f".mltrack/experiments/{experiment_id}/runs/{run.info.run_id}/run.yaml"
    committed = (tracking.repo / rel).read_text()
    assert f"model_id: {used.model_id}" in committed.split("model_inputs:")[1]
    assert made.model_id in committed.split("outputs:")[1]  # its own model: in outputs
    assert rel not in git(tracking.repo, "status", "--porcelain")  # committed with the run
    with pytest.raises(mlflow.exceptions.MlflowException, match="model_id"):
        client.log_inputs(run.info.run_id, models=[LoggedModelInput("")])


def test_delete_restore_and_errors(tracking: TrackingServer) -> None:
    from mlflow.exceptions import MlflowException, RestException

    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment("errors")
    with pytest.raises(MlflowException) as duplicate:
        client.create_experiment("errors")
    assert duplicate.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(RestException) as missing:
        client.get_run("doesnotexist")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "alpha", "1")
    with pytest.raises(MlflowException) as changed:
        client.log_param(run.info.run_id, "alpha", "2")
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    client.delete_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([experiment_id]) == []
    client.restore_run(run.info.run_id)
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [run.info.run_id]
    client.set_terminated(run.info.run_id)
    assert client.get_experiment_by_name("no such experiment") is None


# ---------------------------------------------------------------------- concurrency

CLIENT_SCRIPT = """
import sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("concurrent")
with mlflow.start_run(run_name=sys.argv[2]):
    mlflow.log_params({f"p{i}": i for i in range(10)})
    for step in range(int(sys.argv[3])):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({f"m{i}": float(i) for i in range(10)})
    mlflow.set_tags({"client": sys.argv[2]})
    mlflow.log_text(sys.argv[2], "who.txt")
"""


def _thread_client(url: str, name: str, steps: int, errors: list[BaseException]) -> None:
    try:
        client = mlflow.MlflowClient(url)
        experiment = client.get_experiment_by_name("concurrent")
        if experiment is None:
            try:
                experiment_id = client.create_experiment("concurrent")
            except Exception:
                experiment_id = client.get_experiment_by_name("concurrent").experiment_id
        else:
            experiment_id = experiment.experiment_id
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        for i in range(10):
            client.log_param(run_id, f"p{i}", i)
        for step in range(steps):
            client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
        client.set_tag(run_id, "client", name)
        client.log_text(run_id, name, "who.txt")
        client.set_terminated(run_id)
    except BaseException as error:
        errors.append(error)


@pytest.mark.slow
def test_many_clients_and_workers_lose_nothing(tmp_path: Path) -> None:
    """8 client threads and 8 client processes at once against --workers 4."""
    repo, home = make_repo(tmp_path)
    live = TrackingServer(repo, "--workers", "4", home=home)
    steps = 60
    try:
        script = tmp_path / "client.py"
        script.write_text(CLIENT_SCRIPT)
        env = {**child_env(), "MLFLOW_DISABLE_TELEMETRY": "true"}
        processes = [
            subprocess.Popen(
                [sys.executable, str(script), live.url, f"proc-{i}", str(steps)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for i in range(8)
        ]
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=_thread_client, args=(live.url, f"thread-{i}", steps, errors))
            for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        for process in processes:
            _, stderr = process.communicate(timeout=600)
            assert process.returncode == 0, stderr.decode()[-2000:]
        assert not errors, errors
        client = mlflow.MlflowClient(live.url)
        experiment = client.get_experiment_by_name("concurrent")
        runs = client.search_runs([experiment.experiment_id], max_results=100)
        assert sorted(r.info.run_name for r in runs) == sorted(
            [f"proc-{i}" for i in range(8)] + [f"thread-{i}" for i in range(8)]
        )
        for run in runs:
            assert run.info.status == "FINISHED"
            assert len(run.data.params) == 10
            history = client.get_metric_history(run.info.run_id, "loss")
            assert sorted(m.step for m in history) == list(range(steps))
    finally:
        live.stop()
    subjects = git(repo, "log", "--format=%s").splitlines()
    assert sum(1 for s in subjects if s.startswith("Run ") and "FINISHED" in s) == 16
    assert git(repo, "status", "--porcelain") == ""
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    listed = run_cli(
        "-C", str(repo), "runs", "list", "--experiment", "concurrent", "--format", "json", home=home
    )
    assert len(json.loads(listed.stdout)) == 16
