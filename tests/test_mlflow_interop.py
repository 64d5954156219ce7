"""``mltrack import mlflow`` and ``mltrack export mlflow`` against real MLflow stores.

The source stores are made here with MLflow's own client (the pinned 3.17.2 of the
``mlflow`` test extra): a SQLite database, an ``mlruns`` directory, and a live
``mlflow server``. The round trip MLflow → mltrack → MLflow is compared field by
field through MLflow's API; only what MLflow's client cannot choose differs (see
``test_round_trip_keeps_every_field_mlflow_returns``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import git
from support import answers, bound_socket, child_env, wait_until

pytestmark = [
    pytest.mark.mlflow,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning"),
]

mlflow = pytest.importorskip("mlflow", reason="needs the `mlflow` test extra")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import (  # noqa: E402
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    Metric,
    Param,
    ViewType,
)

from mltrack.interop.mlflow_export import export_mlflow  # noqa: E402
from mltrack.interop.mlflow_import import import_mlflow  # noqa: E402
from mltrack.store.repository import Repository  # noqa: E402
from mltrack.tracking.context import open_repository  # noqa: E402

T0 = 1_700_000_000_000
MLMODEL = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: my_loader\n"


@pytest.fixture(autouse=True)
def quiet_mlflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield
    mlflow.set_tracking_uri(None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)


def fill(uri: str, scratch: Path) -> dict[str, str]:
    """An MLflow store with every kind of record; returns its run and model ids by name."""
    client = MlflowClient(uri, uri)
    mlflow.set_tracking_uri(uri)  # MLflow's registry looks a models:/ source up there
    ids: dict[str, str] = {}
    exp = client.create_experiment("sweep", tags={"team": "vision", "note": "yes"})
    gone = client.create_experiment("abandoned")
    data = Dataset("train", "d1g357", "local", '{"uri": "data/train.csv"}', '{"a": "long"}', "{}")
    for i, (name, status) in enumerate([("parent", "FINISHED"), ("child", "FAILED")]):
        tags = {"mlflow.user": f"user{i}", "stage": "dev", "mlflow.note.content": "why"}
        if name == "child":
            tags["mlflow.parentRunId"] = ids["parent"]
        run = client.create_run(exp, start_time=T0 + i, tags=tags, run_name=name)
        run_id = run.info.run_id
        ids[name] = run_id
        client.log_batch(
            run_id,
            metrics=[Metric("loss", 1 / (s + 1), T0 + 100 + s, s) for s in range(7)]
            + [Metric("acc", 0.5 + s / 10, T0 + 200 + s, s * 2) for s in range(3)],
            params=[Param("lr", "0.1"), Param("flag", "yes"), Param("big", "1e3")],
        )
        client.log_inputs(run_id, [DatasetInput(data, [InputTag("mlflow.data.context", "train")])])
        client.log_text(run_id, f"notes of {name}", "notes/readme.txt")
        client.log_dict(run_id, {"i": i}, "config.json")
        client.set_terminated(run_id, status, end_time=T0 + 9000 + i)
    deleted = client.create_run(
        gone, start_time=T0 + 5, tags={"mlflow.user": "bob"}, run_name="old"
    )
    ids["old"] = deleted.info.run_id
    client.log_metric(ids["old"], "m", 1.0, timestamp=T0 + 6, step=0)
    client.set_terminated(ids["old"], "KILLED", end_time=T0 + 7)
    client.delete_run(ids["old"])
    client.delete_experiment(gone)

    model_dir = scratch / "model-files"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text(MLMODEL)
    (model_dir / "weights.bin").write_bytes(bytes(range(256)))
    model = client.create_logged_model(
        exp, name="model", source_run_id=ids["parent"], tags={"kind": "linear"},
        params={"alpha": "0.5"}, model_type="regressor",
    )  # fmt: skip
    client.log_model_artifacts(model.model_id, str(model_dir))
    client.finalize_logged_model(model.model_id, "READY")
    client.log_outputs(ids["parent"], [LoggedModelOutput(model.model_id, 3)])
    ids["model"] = model.model_id

    client.create_registered_model("Fraud Model", tags={"owner": "risk"}, description="detects")
    source = f"models:/{model.model_id}"
    for description in ("first", ""):
        client.create_model_version(
            "Fraud Model", source, run_id=ids["parent"], tags={"v": description or "none"},
            description=description or None, model_id=model.model_id,
        )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage("Fraud Model", "1", "Production")
    client.set_registered_model_alias("Fraud Model", "champion", "2")
    client.set_model_version_tag("Fraud Model", "2", "validated", "true")
    return ids


def snapshot(uri: str, scratch: Path) -> dict[str, Any]:
    """Everything MLflow's API returns about a store, with ids replaced by names."""
    client = MlflowClient(uri, uri)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    runs = [
        run
        for experiment in experiments
        for run in client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL)
    ]
    run_names = {run.info.run_id: run.info.run_name for run in runs}
    models = [
        model
        for experiment in experiments
        for model in client.search_logged_models([experiment.experiment_id])
    ]
    model_names = {model.model_id: model.name for model in models}
    out: dict[str, Any] = {
        "experiments": {
            e.name: {"tags": dict(e.tags), "lifecycle_stage": e.lifecycle_stage}
            for e in experiments
        },
        "runs": {},
        "logged_models": {},
    }
    for run in runs:
        info = run.info
        tags = dict(run.data.tags)
        if "mlflow.parentRunId" in tags:
            tags["mlflow.parentRunId"] = run_names[tags["mlflow.parentRunId"]]
        download = scratch / f"run-{info.run_id}"
        download.mkdir(parents=True)
        local = Path(client.download_artifacts(info.run_id, "", str(download)))
        out["runs"][info.run_name] = {
            "experiment": client.get_experiment(info.experiment_id).name,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "user_id": info.user_id,
            "lifecycle_stage": info.lifecycle_stage,
            "params": dict(run.data.params),
            "metrics": dict(run.data.metrics),
            "tags": tags,
            "history": {
                key: sorted(
                    (m.step, m.timestamp, m.value)
                    for m in client.get_metric_history(info.run_id, key)
                )
                for key in run.data.metrics
            },
            "inputs": [
                (dict(i.dataset.to_dictionary()), sorted((t.key, t.value) for t in i.tags))
                for i in run.inputs.dataset_inputs
            ],
            "outputs": [
                (model_names[o.model_id], o.step) for o in (run.outputs.model_outputs or [])
            ],
            "artifacts": files(local),
        }
    for model in models:
        download = scratch / f"model-{model.model_id}"
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=model.artifact_location, dst_path=str(download), tracking_uri=uri
        )
        out["logged_models"][model.name] = {
            "experiment": client.get_experiment(model.experiment_id).name,
            "source_run": run_names.get(model.source_run_id),
            "status": str(model.status),
            "tags": dict(model.tags),
            "params": dict(model.params),
            "model_type": model.model_type,
            "artifacts": files(Path(local)),
        }
    registry: dict[str, Any] = {}
    for listed in client.search_registered_models():
        model = client.get_registered_model(listed.name)
        versions = client.search_model_versions(f"name = '{model.name}'")
        registry[model.name] = {
            "description": model.description,
            "tags": dict(model.tags),
            "aliases": dict(model.aliases),
            "latest": sorted((v.current_stage, v.version) for v in model.latest_versions),
            "versions": {
                v.version: {
                    "stage": v.current_stage,
                    "description": v.description,
                    "tags": dict(v.tags),
                    "status": v.status,
                    "run": run_names.get(v.run_id),
                    "source": named(v.source, model_names),
                    "model": model_names.get(
                        client.get_model_version(model.name, v.version).model_id
                    ),
                    "aliases": sorted(v.aliases),
                }
                for v in versions
            },
        }
    out["registry"] = registry
    return out


def named(source: str, names: dict[str, str]) -> str:
    for model_id, name in names.items():
        source = source.replace(model_id, f"<{name}>")
    return source


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def mltrack_repo(repo: Path) -> Repository:
    subprocess.run(
        [sys.executable, "-m", "mltrack", "init"],
        cwd=repo,
        env=child_env(),
        check=True,
        capture_output=True,
    )
    return open_repository(str(repo))


def test_round_trip_keeps_every_field_mlflow_returns(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite → mltrack → SQLite. What differs, because MLflow's client cannot set it:
    experiment ids, creation and update times and artifact locations; the exported run and
    logged model ids (new ones, mapped back to names here); logged models', registered
    models' and versions' creation and update times; versions' user ids."""
    monkeypatch.chdir(tmp_path)  # MLflow's SQLite stores keep artifacts in ./mlruns
    source = f"sqlite:///{tmp_path / 'source.db'}"
    ids = fill(source, tmp_path)
    repository = mltrack_repo(repo)

    report = import_mlflow(repository, source)

    assert (report.runs, report.logged_models, report.versions) == (3, 1, 2)
    assert report.warnings == []
    imported = open_repository(str(repo))
    from mltrack.client import MltrackClient

    here = MltrackClient(repository=imported)
    assert here.get_run(ids["parent"]).info.run_name == "parent"  # ids are kept
    assert here.get_logged_model(ids["model"]).source_run_id == ids["parent"]
    assert here.get_model_version_by_alias("Fraud Model", "champion").version == 2
    from mltrack.store.maintenance import fsck

    assert fsck(imported) == []  # every imported file is valid against the schemas
    assert git(repo, "status", "--porcelain") == ""

    destination = f"sqlite:///{tmp_path / 'exported.db'}"
    exported = export_mlflow(imported, destination)

    assert set(exported.run_ids) == {ids["parent"], ids["child"], ids["old"]}
    assert not set(exported.run_ids.values()) & set(exported.run_ids)  # MLflow made new ids
    before = snapshot(source, tmp_path / "before")
    after = snapshot(destination, tmp_path / "after")
    for part in ("experiments", "runs", "logged_models"):
        assert after[part] == before[part], part
    for name, model in before["registry"].items():
        assert after["registry"][name].pop("versions") == model.pop("versions")
        assert after["registry"][name] == model
    assert after["registry"].keys() == before["registry"].keys()


def test_import_twice_imports_nothing_twice_and_commits_one_run_each(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = f"sqlite:///{tmp_path / 'source.db'}"
    ids = fill(source, tmp_path)
    repository = mltrack_repo(repo)
    seen: list[tuple[int, int]] = []
    import_mlflow(repository, source, progress=lambda done, total: seen.append((done, total)))
    head = git(repo, "rev-parse", "HEAD")
    trailers = git(repo, "log", "--format=%(trailers:key=Mltrack-Run,valueonly)")

    again = import_mlflow(open_repository(str(repo)), source)

    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    assert (again.runs, again.skipped_runs, again.versions, again.skipped_versions) == (0, 3, 0, 2)
    assert git(repo, "rev-parse", "HEAD") == head
    for run_id in (ids["parent"], ids["child"]):
        assert trailers.count(run_id) == 1  # its own commit
    assert git(repo, "status", "--porcelain") == ""


def test_an_interrupted_import_resumes_without_duplicates(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import process dies in the middle of the second run's metrics (os._exit in a
    child, as a kill would): the second import removes that half run and finishes."""
    monkeypatch.chdir(tmp_path)
    source = f"sqlite:///{tmp_path / 'source.db'}"
    ids = fill(source, tmp_path)
    mltrack_repo(repo)
    crash = (
        "import os, sys\n"
        "from mltrack.tracking import run_logging\n"
        "from mltrack.tracking.context import open_repository\n"
        "from mltrack.interop.mlflow_import import import_mlflow\n"
        "original = run_logging.RunLogger.log_batch\n"
        "calls = []\n"
        "def dying(self, run_id, metrics=(), **kw):\n"
        "    if metrics and run_id == sys.argv[2]:\n"
        "        original(self, run_id, metrics[:3], **kw)\n"
        "        self.repo.runs.flush_all()\n"
        "        os._exit(9)\n"
        "    return original(self, run_id, metrics, **kw)\n"
        "run_logging.RunLogger.log_batch = dying\n"
        "import_mlflow(open_repository('.'), sys.argv[1])\n"
    )
    died = subprocess.run(
        [sys.executable, "-c", crash, source, ids["child"]],
        cwd=repo, env=child_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert died.returncode == 9, died.stderr
    half = open_repository(str(repo)).runs.get(ids["child"])
    assert half.status == "RUNNING"

    report = import_mlflow(open_repository(str(repo)), source)

    # The parent was done (skipped); the half child is imported again (the deleted
    # experiment's run may come before or after it, in MLflow's order of experiments).
    assert report.runs + report.skipped_runs == 3 and report.runs >= 1
    from mltrack.client import MltrackClient

    here = MltrackClient(repository=open_repository(str(repo)))
    assert here.get_run(ids["child"]).info.status == "FAILED"
    assert [m.step for m in here.get_metric_history(ids["child"], "loss")] == list(range(7))
    assert git(repo, "status", "--porcelain") == ""


def test_runs_per_commit_still_lists_every_run_in_the_timeline(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = f"sqlite:///{tmp_path / 'source.db'}"
    client = MlflowClient(source)
    for i in range(4):
        run = client.create_run("0", start_time=T0 + i, run_name=f"r{i}")
        client.log_metric(run.info.run_id, "m", float(i), timestamp=T0, step=0)
        client.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 10)
    mltrack_repo(repo)
    commits = int(git(repo, "rev-list", "--count", "HEAD"))

    result = subprocess.run(
        [sys.executable, "-m", "mltrack", "import", "mlflow", source, "--runs-per-commit", "2"],
        cwd=repo, env=child_env(), capture_output=True, text=True,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "Imported 0 experiment(s), 4 run(s)" in result.stdout
    assert int(git(repo, "rev-list", "--count", "HEAD")) == commits + 2
    timeline = subprocess.run(
        [sys.executable, "-m", "mltrack", "log"], cwd=repo, env=child_env(),
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert all(f"r{i}" in timeline for i in range(4))


def test_an_import_killed_before_its_batch_commit_commits_the_batch_when_resumed(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = f"sqlite:///{tmp_path / 'source.db'}"
    client = MlflowClient(source)
    for i in range(4):
        run = client.create_run("0", start_time=T0 + i, run_name=f"r{i}")
        client.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 10)
    mltrack_repo(repo)
    crash = (
        "import os, sys\n"
        "from mltrack.store import runs\n"
        "from mltrack.tracking.context import open_repository\n"
        "from mltrack.interop.mlflow_import import import_mlflow\n"
        "runs.RunStore._commit_ended = lambda self, run_ids, subject: os._exit(9)\n"
        "import_mlflow(open_repository('.'), sys.argv[1], runs_per_commit=2)\n"
    )
    died = subprocess.run(
        [sys.executable, "-c", crash, source],
        cwd=repo, env=child_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert died.returncode == 9, died.stderr
    assert git(repo, "status", "--porcelain", ".mltrack") != ""  # two ended runs, uncommitted

    report = import_mlflow(open_repository(str(repo)), source, runs_per_commit=2)

    assert (report.runs, report.skipped_runs) == (2, 2)
    assert git(repo, "status", "--porcelain") == ""
    trailers = git(repo, "log", "--format=%(trailers:key=Mltrack-Run,valueonly)").split()
    assert len(trailers) == len(set(trailers)) == 4


def test_an_mlruns_directory_imports(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.17 asks for it to write
    store = tmp_path / "mlruns"
    client = MlflowClient(store.as_uri())
    run = client.create_run("0", start_time=T0, tags={"mlflow.user": "carol"}, run_name="filed")
    client.log_param(run.info.run_id, "p", "0777")
    client.log_text(run.info.run_id, "x", "a.txt")
    client.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 1)
    mltrack_repo(repo)

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # the import itself needs no opt-in
    result = subprocess.run(
        [sys.executable, "-m", "mltrack", "import", "mlflow", str(store)],
        cwd=repo, env=child_env(), capture_output=True, text=True,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    from mltrack.client import MltrackClient

    here = MltrackClient(repository=open_repository(str(repo)))
    got = here.get_run(run.info.run_id)
    assert (got.info.user_id, got.info.start_time, got.info.end_time) == ("carol", T0, T0 + 1)
    assert got.data.params == {"p": "0777"}
    assert [f.path for f in here.list_artifacts(run.info.run_id)] == ["a.txt"]


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """``mlflow server`` (SQLite, served artifacts) on a free 127.0.0.1 port."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    sock.close()  # mlflow server binds by number: the port is free again for it
    home = tmp_path / "mlflow-server"
    home.mkdir()
    log = home / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
             str(port), "--workers", "1", "--backend-store-uri", f"sqlite:///{home / 'db.sqlite'}"],
            cwd=home, env=child_env(MLFLOW_DISABLE_TELEMETRY="true"), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(url + "/health"), "mlflow server", 180, process, log)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 15)
            process.wait(timeout=60)


def test_an_http_mlflow_server_imports(
    repo: Path, tmp_path: Path, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ids = fill(mlflow_server, tmp_path)
    mltrack_repo(repo)

    result = subprocess.run(
        [sys.executable, "-m", "mltrack", "import", "mlflow", mlflow_server],
        cwd=repo, env=child_env(MLFLOW_DISABLE_TELEMETRY="true"), capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "3 run(s), 1 logged model(s), 1 registered model(s), 2 version(s)" in result.stdout
    from mltrack.client import MltrackClient

    here = MltrackClient(repository=open_repository(str(repo)))
    parent = here.get_run(ids["parent"])
    assert parent.data.params["flag"] == "yes"
    assert len(here.get_metric_history(ids["parent"], "loss")) == 7
    assert here.download_artifacts(ids["parent"], "notes/readme.txt", str(tmp_path)) is not None
    model = here.get_logged_model(ids["model"])
    assert (
        Path(model.artifact_location.removeprefix("file://")) / "weights.bin"
    ).read_bytes() == bytes(range(256))
    version = here.get_model_version("Fraud Model", 1)
    assert (version.current_stage, version.description) == ("Production", "first")

    exported = subprocess.run(
        [sys.executable, "-m", "mltrack", "export", "mlflow", mlflow_server],
        cwd=repo, env=child_env(MLFLOW_DISABLE_TELEMETRY="true"), capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip

    assert exported.returncode == 0, exported.stderr
    server = MlflowClient(mlflow_server, mlflow_server)
    sweep = server.get_experiment_by_name("sweep").experiment_id
    parents = server.search_runs([sweep], "attributes.run_name = 'parent'")
    assert len(parents) == 2  # MLflow's, and the export's copy under a new id
    copy = next(run for run in parents if run.info.run_id != ids["parent"])
    assert (copy.info.user_id, copy.info.start_time) == ("user0", T0)
    assert len(server.get_metric_history(copy.info.run_id, "loss")) == 7
    # the model already had versions 1 and 2: the export's are 3 and 4, and the alias follows
    assert server.get_model_version_by_alias("Fraud Model", "champion").version == "4"
    assert server.get_model_version("Fraud Model", "3").current_stage == "Production"
    assert server.get_model_version("Fraud Model", "3").run_id == copy.info.run_id
