"""The fluent API and MltrackClient against MLflow's documented semantics."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mltrack
from conftest import git
from mltrack.entities import Metric, Param, RunTag, ViewType
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.store import yamlio

SRC = Path(__file__).resolve().parents[1] / "src"


# ---------------------------------------------------------------------- runs


def test_start_run_records_mlflow_tags_and_commits_on_end(repo: Path) -> None:
    code = git(repo, "rev-parse", "HEAD").strip()
    with mltrack.start_run(
        run_name="base", tags={"team": "vision"}, description="first try"
    ) as run:
        assert mltrack.active_run() is run
        info = run.info
        assert info.status == "RUNNING" and info.end_time is None
        assert len(info.run_id) == 32 and info.run_uuid == info.run_id
    assert mltrack.active_run() is None
    finished = mltrack.get_run(info.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.info.end_time >= finished.info.start_time
    assert finished.info.experiment_id == "0"
    assert finished.info.artifact_uri.startswith("file://")
    tags = finished.data.tags
    assert tags["team"] == "vision"
    assert tags["mlflow.note.content"] == "first try"
    assert tags["mlflow.runName"] == "base"
    assert tags["mlflow.source.git.commit"] == code
    assert tags["mlflow.source.git.branch"] == "main"
    assert {"mlflow.user", "mlflow.source.name", "mlflow.source.type"} <= set(tags)
    assert finished.code.commit == code
    subject = git(repo, "log", "-1", "--format=%s").strip()
    assert subject == "Run base: FINISHED in Default"
    assert git(repo, "status", "--porcelain") == ""


def test_code_version_records_a_dirty_tree(repo: Path) -> None:
    with mltrack.start_run() as clean:
        pass
    (repo / "train.py").write_text("print('edited')\n")
    with mltrack.start_run() as dirty:
        pass
    (repo / "scratch.py").write_text("untracked files do not make the tree dirty\n")
    git(repo, "checkout", "train.py")
    with mltrack.start_run() as untracked:
        pass
    assert mltrack.get_run(clean.info.run_id).code.dirty is False
    assert mltrack.get_run(dirty.info.run_id).code.dirty is True
    assert mltrack.get_run(untracked.info.run_id).code.dirty is False
    # mltrack's own commits are not the code version: it stays the user's commit.
    user_commit = git(repo, "rev-parse", "HEAD~3").strip()
    assert {mltrack.get_run(r.info.run_id).code.commit for r in (clean, dirty, untracked)} == {
        user_commit
    }


def test_an_edit_that_keeps_size_and_mtime_still_makes_the_next_run_dirty(repo: Path) -> None:
    """A sweep reuses the last dirty check only while no tracked file changed since it."""
    train = repo / "train.py"
    before = train.stat()
    with mltrack.start_run() as clean:
        pass
    train.write_text(train.read_text().upper())  # same size
    os.utime(train, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old mtime
    with mltrack.start_run() as edited:
        pass
    assert mltrack.get_run(clean.info.run_id).code.dirty is False
    assert mltrack.get_run(edited.info.run_id).code.dirty is True


def test_generated_run_names(repo: Path) -> None:
    with mltrack.start_run() as run:
        pass
    name = mltrack.get_run(run.info.run_id).info.run_name
    adjective, noun, number = name.split("-")
    assert adjective.isalpha() and noun.isalpha() and 0 <= int(number) <= 999


def test_nested_runs(repo: Path) -> None:
    with mltrack.start_run(run_name="parent") as parent:
        with mltrack.start_run(run_name="child", nested=True) as child:
            assert mltrack.active_run() is child
            with mltrack.start_run(run_name="grandchild", nested=True) as grandchild:
                pass
        assert mltrack.active_run() is parent
    child_run = mltrack.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert (
        mltrack.get_run(grandchild.info.run_id).data.tags["mlflow.parentRunId"] == child.info.run_id
    )
    assert "mlflow.parentRunId" not in mltrack.get_run(parent.info.run_id).data.tags
    assert mltrack.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
    assert mltrack.get_parent_run(parent.info.run_id) is None
    found = mltrack.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'", output_format="list"
    )
    assert [r.info.run_name for r in found] == ["child"]


def test_explicit_parent_run_id(repo: Path) -> None:
    with mltrack.start_run(run_name="parent") as parent:
        pass
    with mltrack.start_run(run_name="later child", parent_run_id=parent.info.run_id) as child:
        pass
    assert mltrack.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_start_run_while_active_needs_nested(repo: Path) -> None:
    with mltrack.start_run() as run:
        with pytest.raises(InvalidParameterValue, match="is already active") as caught:
            mltrack.start_run()
        assert run.info.run_id in str(caught.value)
        assert "nested=True" in str(caught.value)
        assert mltrack.active_run() is run
    assert len(mltrack.search_runs(output_format="list")) == 1


def test_context_manager_marks_failed_on_exception(repo: Path) -> None:
    with pytest.raises(ValueError, match="boom"), mltrack.start_run(run_name="bad") as run:
        mltrack.log_metric("loss", 1.0)
        raise ValueError("boom")
    failed = mltrack.get_run(run.info.run_id)
    assert failed.info.status == "FAILED"
    assert failed.data.metrics == {"loss": 1.0}
    assert mltrack.active_run() is None
    assert git(repo, "log", "-1", "--format=%s").strip() == "Run bad: FAILED in Default"


def test_context_manager_marks_killed_on_keyboard_interrupt(repo: Path) -> None:
    with pytest.raises(KeyboardInterrupt), mltrack.start_run(run_name="stopped") as run:
        raise KeyboardInterrupt
    assert mltrack.get_run(run.info.run_id).info.status == "KILLED"
    assert mltrack.active_run() is None


def test_end_run_status_and_last_active_run(repo: Path) -> None:
    assert mltrack.last_active_run() is None
    run = mltrack.start_run(run_name="manual")
    assert mltrack.last_active_run().info.run_id == run.info.run_id
    mltrack.end_run("KILLED")
    assert mltrack.active_run() is None
    last = mltrack.last_active_run()
    assert last.info.run_id == run.info.run_id and last.info.status == "KILLED"
    mltrack.end_run()  # nothing active: a no-op, as MLflow


def test_logging_without_a_run_starts_one(repo: Path) -> None:
    mltrack.log_metric("loss", 0.5)
    active = mltrack.active_run()
    assert active is not None
    mltrack.end_run()
    assert mltrack.get_run(active.info.run_id).data.metrics == {"loss": 0.5}


def test_resume_a_run(repo: Path) -> None:
    with mltrack.start_run(run_name="resumable") as run:
        mltrack.log_param("lr", "0.1")
        mltrack.log_metric("loss", 1.0, step=0)
    with mltrack.start_run(run_id=run.info.run_id) as again:
        assert again.info.status == "RUNNING"
        mltrack.log_metric("loss", 0.5, step=1)
    resumed = mltrack.get_run(run.info.run_id)
    assert resumed.info.status == "FINISHED"
    assert resumed.data.params == {"lr": "0.1"}
    assert resumed.data.metrics == {"loss": 0.5}
    history = mltrack.MltrackClient().get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5)]


def test_delete_and_restore_runs(repo: Path) -> None:
    with mltrack.start_run() as run:
        pass
    client = mltrack.MltrackClient()
    mltrack.delete_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert mltrack.search_runs(output_format="list") == []
    deleted = mltrack.search_runs(run_view_type=ViewType.DELETED_ONLY, output_format="list")
    assert [r.info.run_id for r in deleted] == [run.info.run_id]
    client.restore_run(run.info.run_id)
    assert len(mltrack.search_runs(output_format="list")) == 1


def test_reads_see_changes_made_by_another_process(repo: Path) -> None:
    """A run this process wrote, then changed by another process, reads as the file says."""
    with mltrack.start_run(run_name="shared") as run:
        mltrack.log_param("lr", "0.1")
    script = (
        "import mltrack\n"
        "client = mltrack.MltrackClient()\n"
        f"client.set_tag({run.info.run_id!r}, 'reviewed', 'yes')\n"
        f"client.log_metric({run.info.run_id!r}, 'late', 2.0, step=5)\n"
        f"client.delete_run({run.info.run_id!r})\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    subprocess.run([sys.executable, "-c", script], cwd=repo, env=env, check=True)
    seen = mltrack.get_run(run.info.run_id)
    assert seen.info.lifecycle_stage == "deleted"
    assert seen.data.tags["reviewed"] == "yes"
    assert seen.data.metrics == {"late": 2.0}
    # This process's own later change is merged with the other one's, not lost.
    mltrack.MltrackClient().set_tag(run.info.run_id, "mine", "too")
    assert {"reviewed", "mine"} <= set(mltrack.get_run(run.info.run_id).data.tags)
    mltrack.MltrackClient().restore_run(run.info.run_id)
    stored = yamlio.load(
        next(repo.glob(f".mltrack/experiments/*/runs/{run.info.run_id}/run.yaml")).read_bytes()
    )
    assert {"reviewed", "mine"} <= set(stored["tags"])
    assert stored["lifecycle_stage"] == "active"


# ---------------------------------------------------------------------- params, metrics, tags


def test_log_params_metrics_tags(repo: Path) -> None:
    with mltrack.start_run() as run:
        assert mltrack.log_param("alpha", 0.5) == 0.5
        mltrack.log_params({"layers": 3, "act": "relu", "flag": True, "none": None})
        mltrack.log_metrics({"acc": 0.9, "loss": 0.1}, step=3)
        mltrack.set_tags({"stage": "dev", "n": 7})
        mltrack.set_tag("temp", "x")
        mltrack.delete_tag("temp")
        with pytest.raises(ResourceDoesNotExist, match="No tag with name: temp"):
            mltrack.delete_tag("temp")
    data = mltrack.get_run(run.info.run_id).data
    assert data.params == {
        "alpha": "0.5",
        "layers": "3",
        "act": "relu",
        "flag": "True",
        "none": "None",
    }
    assert data.metrics == {"acc": 0.9, "loss": 0.1}
    assert data.tags["stage"] == "dev" and data.tags["n"] == "7"
    assert "temp" not in data.tags
    history = mltrack.MltrackClient().get_metric_history(run.info.run_id, "acc")
    assert [(m.key, m.value, m.step) for m in history] == [("acc", 0.9, 3)]


def test_metric_values_and_timestamps(repo: Path) -> None:
    import numpy as np

    with mltrack.start_run() as run:
        mltrack.log_metric("int", 3)
        mltrack.log_metric("numpy", np.float32(0.25))
        mltrack.log_metric("nan", float("nan"))
        mltrack.log_metric("inf", float("inf"), timestamp=1234)
    client = mltrack.MltrackClient()
    metrics = mltrack.get_run(run.info.run_id).data.metrics
    assert metrics["int"] == 3.0 and type(metrics["int"]) is float
    assert metrics["numpy"] == 0.25
    assert metrics["nan"] != metrics["nan"]
    (inf,) = client.get_metric_history(run.info.run_id, "inf")
    assert (inf.value, inf.timestamp, inf.step) == (float("inf"), 1234, 0)


@pytest.mark.parametrize(
    ("points", "latest"),
    [
        # (value, step, timestamp): highest step wins, whatever the logging order or time
        ([(1.0, 2, 100), (5.0, 1, 200)], 1.0),
        # same step: the later timestamp wins
        ([(1.0, 1, 200), (5.0, 1, 100)], 1.0),
        # same step and timestamp: the larger value wins
        ([(3.0, 1, 100), (2.0, 1, 100)], 3.0),
        ([(2.0, 1, 100), (3.0, 1, 100)], 3.0),
        ([(-1.0, 0, 5), (-2.0, 0, 5), (-0.5, 0, 4)], -1.0),
    ],
)
def test_latest_metric_rule(
    repo: Path, points: list[tuple[float, int, int]], latest: float
) -> None:
    client = mltrack.MltrackClient()
    with mltrack.start_run() as run:
        for value, step, timestamp in points:
            client.log_metric(run.info.run_id, "m", value, timestamp=timestamp, step=step)
        assert mltrack.get_run(run.info.run_id).data.metrics["m"] == latest  # unflushed
    assert mltrack.get_run(run.info.run_id).data.metrics["m"] == latest  # from run.yaml
    found = mltrack.search_runs(filter_string=f"metrics.m = {latest}", output_format="list")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    assert [m.value for m in client.get_metric_history(run.info.run_id, "m")] == [
        p[0] for p in points
    ]


def test_latest_metric_survives_later_appends(repo: Path) -> None:
    client = mltrack.MltrackClient()
    with mltrack.start_run() as run:
        client.log_metric(run.info.run_id, "m", 9.0, timestamp=100, step=10)
    client.log_metric(run.info.run_id, "m", 1.0, timestamp=999, step=2)  # older step, logged later
    client.set_terminated(run.info.run_id)
    assert mltrack.get_run(run.info.run_id).data.metrics["m"] == 9.0
    assert len(client.get_metric_history(run.info.run_id, "m")) == 2


# ---------------------------------------------------------------------- datasets


def iris_like() -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "sepal_length": [5.1, 4.9, 6.2, 5.9],
            "species": ["setosa", "setosa", "virginica", "virginica"],
            "target": [0, 0, 2, 2],
        }
    )


def test_log_input_from_pandas(repo: Path) -> None:
    df = iris_like()
    dataset = mltrack.data.from_pandas(df, source="data.csv", name="iris", targets="target")
    with mltrack.start_run(run_name="with data") as run:
        mltrack.log_input(dataset, context="training", tags={"split": "train"})
    with mltrack.start_run(run_name="without data"):
        pass
    (entry,) = mltrack.get_run(run.info.run_id).inputs.dataset_inputs
    recorded = entry.dataset
    assert recorded.name == "iris"
    assert len(recorded.digest) == 8 and int(recorded.digest, 16) >= 0
    assert recorded.digest == dataset.digest
    assert recorded.digest == mltrack.data.from_pandas(df.copy(), source="data.csv").digest
    assert recorded.digest != mltrack.data.from_pandas(df.head(3)).digest
    assert recorded.source_type == "local"
    assert json.loads(recorded.source) == {"uri": "data.csv"}
    colspec = json.loads(recorded.schema)["mlflow_colspec"]
    assert [(c["name"], c["type"]) for c in colspec] == [
        ("sepal_length", "double"),
        ("species", "string"),
        ("target", "long"),
    ]
    assert json.loads(recorded.profile) == {"num_rows": 4, "num_elements": 12}
    assert entry.context == "training"
    assert {(t.key, t.value) for t in entry.tags} == {
        ("mlflow.data.context", "training"),
        ("split", "train"),
    }

    def names(filter_string: str) -> list[str]:
        found = mltrack.search_runs(filter_string=filter_string, output_format="list")
        return [r.info.run_name for r in found]

    assert names("datasets.name = 'iris'") == ["with data"]
    assert names(f"datasets.digest = '{recorded.digest}'") == ["with data"]
    assert names("datasets.context = 'training'") == ["with data"]
    assert names("datasets.name IN ('iris', 'mnist')") == ["with data"]
    assert names("datasets.name = 'mnist'") == []


def test_log_input_twice_is_recorded_once(repo: Path) -> None:
    dataset = mltrack.data.from_pandas(iris_like(), name="iris")
    with mltrack.start_run() as run:
        mltrack.log_input(dataset, context="training")
        mltrack.log_input(dataset, context="training")
        mltrack.log_input(dataset, context="eval")
    inputs = mltrack.get_run(run.info.run_id).inputs.dataset_inputs
    assert sorted(i.context for i in inputs) == ["eval", "training"]


def test_from_pandas_refuses_a_missing_target_column(repo: Path) -> None:
    with pytest.raises(InvalidParameterValue, match="'label' is not a column"):
        mltrack.data.from_pandas(iris_like(), targets="label")


def test_log_input_from_numpy(repo: Path) -> None:
    import numpy as np

    features = np.arange(12, dtype=np.float64).reshape(4, 3)
    targets = np.array([0, 1, 0, 1])
    dataset = mltrack.data.from_numpy(
        features, source="s3://bucket/x.npy", targets=targets, name="nums"
    )
    with mltrack.start_run() as run:
        mltrack.log_input(dataset)
    (entry,) = mltrack.get_run(run.info.run_id).inputs.dataset_inputs
    recorded = entry.dataset
    assert recorded.name == "nums"
    assert len(recorded.digest) == 8
    assert recorded.digest == mltrack.data.from_numpy(features.copy(), targets=targets).digest
    assert recorded.digest != mltrack.data.from_numpy(features + 1, targets=targets).digest
    assert recorded.source_type == "s3"
    assert json.loads(recorded.source) == {"uri": "s3://bucket/x.npy"}
    spec = json.loads(recorded.schema)["mlflow_tensorspec"]
    assert set(spec) == {"features", "targets"}
    profile = json.loads(recorded.profile)
    assert profile["features_shape"] == [4, 3] and profile["targets_shape"] == [4]
    assert entry.context is None


def test_log_inputs_with_the_client(repo: Path) -> None:
    from mltrack.entities import DatasetInput, InputTag

    entity = mltrack.data.from_pandas(iris_like(), name="iris").to_entity()
    client = mltrack.MltrackClient()
    run = client.create_run("0")
    client.log_inputs(
        run.info.run_id, [DatasetInput(entity, (InputTag("mlflow.data.context", "eval"),))]
    )
    client.set_terminated(run.info.run_id)
    (entry,) = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert entry.dataset == entity and entry.context == "eval"


# ---------------------------------------------------------------------- artifacts


def test_artifacts(repo: Path, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    local = tmp_path / "model.txt"
    local.write_text("weights")
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    figure, axis = plt.subplots()
    axis.plot([0, 1], [1, 0])
    with mltrack.start_run() as run:
        mltrack.log_text("hello\n", "notes/hello.txt")
        mltrack.log_dict({"b": [1, 2], "a": {"yes": "yes"}}, "config.json")
        mltrack.log_dict({"b": [1, 2], "a": {"yes": "yes"}}, "config.yaml")
        mltrack.log_figure(figure, "figures/curve.png")
        mltrack.log_artifact(str(local))
        mltrack.log_artifact(str(local), "models")
        mltrack.log_artifacts(str(folder), "plots")
        uri = mltrack.get_artifact_uri()
        assert mltrack.get_artifact_uri("notes/hello.txt") == uri + "/notes/hello.txt"
    plt.close(figure)
    run_id = run.info.run_id
    client = mltrack.MltrackClient()
    top = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in top] == [
        ("config.json", False),
        ("config.yaml", False),
        ("figures", True),
        ("model.txt", False),
        ("models", True),
        ("notes", True),
        ("plots", True),
    ]
    assert top[3].file_size == len("weights")
    assert [f.path for f in client.list_artifacts(run_id, "plots")] == ["plots/a.txt", "plots/sub"]
    assert [f.path for f in client.list_artifacts(run_id, "plots/sub")] == ["plots/sub/b.txt"]
    assert client.list_artifacts(run_id, "missing") == []

    root = Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://"))
    assert (root / "notes/hello.txt").read_text() == "hello\n"
    assert json.loads((root / "config.json").read_text()) == {"b": [1, 2], "a": {"yes": "yes"}}
    assert yamlio.load((root / "config.yaml").read_bytes()) == {"b": [1, 2], "a": {"yes": "yes"}}
    assert (root / "figures/curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (root / "models/model.txt").read_text() == "weights"

    target = tmp_path / "download"
    target.mkdir()
    copied = Path(client.download_artifacts(run_id, "notes/hello.txt", str(target)))
    assert copied == target / "hello.txt" and copied.read_text() == "hello\n"
    copied_dir = Path(client.download_artifacts(run_id, "plots", str(target)))
    assert (copied_dir / "sub" / "b.txt").read_text() == "b"
    everything = Path(client.download_artifacts(run_id, "", str(target)))
    assert (everything / "config.json").is_file()
    with pytest.raises(ResourceDoesNotExist, match=r"No artifact at 'nope\.txt'"):
        client.download_artifacts(run_id, "nope.txt", str(target))

    # Artifacts are part of the run's commit.
    committed = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert any(p.endswith("/artifacts/notes/hello.txt") for p in committed)
    assert any(p.endswith("/artifacts/plots/sub/b.txt") for p in committed)
    assert git(repo, "status", "--porcelain") == ""


def test_log_figure_refuses_other_objects(repo: Path) -> None:
    with mltrack.start_run(), pytest.raises(InvalidParameterValue, match="matplotlib or plotly"):
        mltrack.log_figure(object(), "x.png")


# ---------------------------------------------------------------------- search


@pytest.fixture
def sweep(repo: Path) -> list[str]:
    """Five finished runs in experiment "sweep", lr 0.1 … 0.5, acc rising with lr."""
    mltrack.set_experiment("sweep")
    ids = []
    for index in range(5):
        with mltrack.start_run(run_name=f"run-{index}") as run:
            mltrack.log_param("lr", f"0.{index + 1}")
            mltrack.log_metric("acc", 0.5 + index / 10)
            mltrack.set_tag("parity", "even" if index % 2 == 0 else "odd")
        ids.append(run.info.run_id)
    return ids


def test_search_runs_dataframe_has_mlflow_columns(sweep: list[str]) -> None:
    import pandas as pd

    frame = mltrack.search_runs()
    assert isinstance(frame, pd.DataFrame)
    columns = list(frame.columns)
    assert columns[:6] == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]
    rest = columns[6:]
    assert rest == sorted(
        rest, key=lambda c: ("metrics.", "params.", "tags.").index(c.split(".")[0] + ".")
    )
    assert {"metrics.acc", "params.lr", "tags.parity", "tags.mlflow.runName"} <= set(rest)
    assert len(frame) == 5
    assert list(frame["run_id"]) == list(reversed(sweep))  # newest first
    assert (
        str(frame["start_time"].dtype).startswith("datetime64")
        and frame["start_time"].dt.tz is not None
    )
    assert set(frame["status"]) == {"FINISHED"}
    assert frame.loc[frame["run_id"] == sweep[0], "params.lr"].item() == "0.1"


def test_search_runs_filter_order_limit_and_list(sweep: list[str]) -> None:
    runs = mltrack.search_runs(
        filter_string="metrics.acc >= 0.7 and tags.parity = 'even'",
        order_by=["metrics.acc DESC"],
        output_format="list",
    )
    assert [r.info.run_name for r in runs] == ["run-4", "run-2"]
    assert isinstance(runs[0], mltrack.entities.Run)
    top = mltrack.search_runs(order_by=["params.lr ASC"], max_results=2, output_format="list")
    assert [r.info.run_name for r in top] == ["run-0", "run-1"]
    assert mltrack.search_runs(filter_string="params.lr LIKE '0.%'", output_format="list")
    assert len(mltrack.search_runs(experiment_names=["sweep"], output_format="list")) == 5
    assert mltrack.search_runs(experiment_names=["nope"], output_format="list") == []
    assert len(mltrack.search_runs(experiment_ids=["0"], output_format="list")) == 0
    assert len(mltrack.search_runs(search_all_experiments=True, output_format="list")) == 5
    with pytest.raises(InvalidParameterValue, match="output format"):
        mltrack.search_runs(output_format="arrow")


def test_search_runs_empty_dataframe(repo: Path) -> None:
    frame = mltrack.search_runs()
    assert len(frame) == 0
    assert list(frame.columns)[:6] == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]


def test_client_search_runs_pagination(sweep: list[str]) -> None:
    client = mltrack.MlflowClient()
    experiment_id = mltrack.get_experiment_by_name("sweep").experiment_id
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_runs([experiment_id], max_results=2, page_token=token)
        seen += [r.info.run_id for r in page]
        pages += 1
        token = page.token
        if token is None:
            break
    assert pages == 3
    assert seen == list(reversed(sweep))
    everything = client.search_runs([experiment_id])
    assert everything.token is None and len(everything) == 5
    with pytest.raises(InvalidParameterValue, match="page token"):
        client.search_runs([experiment_id], page_token="not-a-token")
    with pytest.raises(InvalidParameterValue, match="max_results"):
        client.search_runs([experiment_id], max_results=0)


def test_search_experiments(repo: Path) -> None:
    for name in ("sweep-a", "sweep-b", "other"):
        mltrack.create_experiment(name, tags={"kind": name.split("-")[0]})
    names = [e.name for e in mltrack.search_experiments(filter_string="name LIKE 'sweep%'")]
    assert sorted(names) == ["sweep-a", "sweep-b"]
    tagged = mltrack.search_experiments(filter_string="tags.kind = 'other'")
    assert [e.name for e in tagged] == ["other"]
    ordered = mltrack.search_experiments(order_by=["name DESC"])
    assert [e.name for e in ordered] == ["sweep-b", "sweep-a", "other", "Default"]
    mltrack.delete_experiment(mltrack.get_experiment_by_name("other").experiment_id)
    assert "other" not in [e.name for e in mltrack.search_experiments()]
    assert [e.name for e in mltrack.search_experiments(view_type=ViewType.DELETED_ONLY)] == [
        "other"
    ]
    page = mltrack.MltrackClient().search_experiments(max_results=1)
    assert len(page) == 1 and page.token is not None


def test_search_experiments_lists_the_newest_first_as_mlflow(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mltrack.store.repository as repository

    for name, created in (("first", 3000), ("second", 1000), ("third", 2000)):
        with monkeypatch.context() as clock:
            clock.setattr(repository, "now_ms", lambda created=created: created)
            mltrack.create_experiment(name)
    client = mltrack.MltrackClient()
    assert [e.name for e in client.search_experiments()] == ["first", "third", "second", "Default"]
    assert client.get_experiment_by_name("second").creation_time == 1000
    page = client.search_experiments(max_results=2)
    assert [e.name for e in client.search_experiments(page_token=page.token)] == [
        "second",
        "Default",
    ]
    # an experiment written before creation times were recorded: its first run's start
    old_id = mltrack.create_experiment("old")
    path = client.repository.experiment_dir(old_id) / "experiment.yaml"
    path.write_text(
        "".join(line for line in path.read_text().splitlines(True) if "creation_time" not in line)
    )
    client.create_run(old_id, start_time=2500)
    old = client.get_experiment(old_id)
    assert old.creation_time == 2500 and old.last_update_time >= 2500
    assert [e.name for e in client.search_experiments()][:3] == ["first", "old", "third"]


def test_experiments(repo: Path) -> None:
    experiment_id = mltrack.create_experiment("exp", tags={"owner": "ada"})
    experiment = mltrack.get_experiment(experiment_id)
    assert (experiment.name, experiment.tags, experiment.lifecycle_stage) == (
        "exp",
        {"owner": "ada"},
        "active",
    )
    assert mltrack.set_experiment("exp").experiment_id == experiment_id
    mltrack.set_experiment_tag("stage", "dev")
    assert mltrack.get_experiment(experiment_id).tags == {"owner": "ada", "stage": "dev"}
    with mltrack.start_run() as run:
        pass
    assert run.info.experiment_id == experiment_id
    mltrack.delete_experiment(experiment_id)
    with pytest.raises(InvalidParameterValue, match="deleted experiment"):
        mltrack.set_experiment("exp")
    with pytest.raises(InvalidParameterValue, match="active"):
        mltrack.start_run(experiment_id=experiment_id)
    mltrack.restore_experiment(experiment_id)
    assert mltrack.set_experiment(experiment_id=experiment_id).name == "exp"
    with pytest.raises(mltrack.exceptions.ResourceAlreadyExists):
        mltrack.create_experiment("exp")


# ---------------------------------------------------------------------- client


def test_client_log_batch(repo: Path) -> None:
    client = mltrack.MltrackClient()
    run_id = client.create_run("0", run_name="batch").info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric("loss", 1.0, 1000, 0), Metric("loss", 0.5, 1001, 1)],
        params=[Param("lr", "0.1"), Param("depth", "3")],
        tags=[RunTag("kind", "batch")],
    )
    with pytest.raises(
        InvalidParameterValue, match=r"Duplicate parameter keys have been submitted: \['lr'\]"
    ):
        client.log_batch(run_id, params=[Param("lr", "0.1"), Param("lr", "0.2")])
    with pytest.raises(InvalidParameterValue):
        client.log_batch(run_id, metrics=[Metric("ok", 1.0, 1)], params=[Param("bad!", "x")])
    client.set_terminated(run_id)
    run = client.get_run(run_id)
    assert run.data.params == {"lr": "0.1", "depth": "3"}
    assert run.data.metrics == {"loss": 0.5}
    assert run.data.tags["kind"] == "batch"
    history = client.get_metric_history(run_id, "loss")
    assert [(m.value, m.timestamp, m.step) for m in history] == [(1.0, 1000, 0), (0.5, 1001, 1)]
    assert client.get_metric_history(run_id, "ok") == []


def test_client_run_lifecycle(repo: Path) -> None:
    client = mltrack.MltrackClient()
    run = client.create_run("0", start_time=1000, tags={"a": "b"}, run_name="c")
    assert (run.info.status, run.info.start_time, run.data.tags["a"]) == ("RUNNING", 1000, "b")
    client.update_run(run.info.run_id, name="renamed")
    assert client.get_run(run.info.run_id).info.run_name == "renamed"
    client.set_terminated(run.info.run_id, "FAILED", end_time=5000)
    done = client.get_run(run.info.run_id)
    assert (done.info.status, done.info.end_time, done.data.tags["mlflow.runName"]) == (
        "FAILED",
        5000,
        "renamed",
    )
    with pytest.raises(InvalidParameterValue, match="Invalid run status"):
        client.set_terminated(run.info.run_id, "DONE")


# ---------------------------------------------------------------------- `import mltrack as mlflow`


def test_mlflow_attribute_surface() -> None:
    import mltrack as mlflow

    assert mlflow.MlflowClient is mlflow.MltrackClient
    assert mlflow.tracking.MlflowClient is mlflow.MltrackClient
    assert mlflow.entities.ViewType.ACTIVE_ONLY == 1
    assert mlflow.entities.ViewType.ALL == 3
    assert mlflow.exceptions.MlflowException is mlflow.MltrackError
    assert issubclass(mlflow.exceptions.ResourceDoesNotExist, mlflow.exceptions.MlflowException)
    assert mlflow.data.from_pandas is not None and mlflow.data.from_numpy is not None
    for name in [
        "set_tracking_uri", "get_tracking_uri", "set_experiment", "create_experiment",
        "get_experiment_by_name", "search_experiments", "start_run", "end_run", "active_run",
        "last_active_run", "log_param", "log_params", "log_metric", "log_metrics", "set_tag",
        "set_tags", "delete_tag", "log_artifact", "log_artifacts", "log_text", "log_dict",
        "log_figure", "log_input", "get_run", "search_runs",
    ]:  # fmt: skip
        assert callable(getattr(mlflow, name)), name


def test_mlflow_signatures_match() -> None:
    """Parameter names in MLflow's order (checked against MLflow 3's signatures)."""
    expected = {
        "start_run": ["run_id", "experiment_id", "run_name", "nested", "parent_run_id", "tags", "description", "log_system_metrics"],
        "log_metric": ["key", "value", "step", "synchronous", "timestamp", "run_id"],
        "log_metrics": ["metrics", "step", "synchronous", "run_id", "timestamp"],
        "log_param": ["key", "value", "synchronous"],
        "log_params": ["params", "synchronous", "run_id"],
        "set_experiment": ["experiment_name", "experiment_id"],
        "search_runs": ["experiment_ids", "filter_string", "run_view_type", "max_results", "order_by", "output_format", "search_all_experiments", "experiment_names"],
        "log_text": ["text", "artifact_file", "run_id"],
        "log_dict": ["dictionary", "artifact_file", "run_id"],
        "log_artifact": ["local_path", "artifact_path", "run_id"],
        "log_input": ["dataset", "context", "tags", "model"],
    }  # fmt: skip
    for name, params in expected.items():
        actual = [
            p.name
            for p in inspect.signature(getattr(mltrack, name)).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        assert actual[: len(params)] == params, name


def test_tracking_uri(repo: Path, tmp_path: Path) -> None:
    assert mltrack.get_tracking_uri() == repo.as_uri()
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    mltrack.set_tracking_uri(str(other))
    assert mltrack.get_tracking_uri() == str(other)
    with mltrack.start_run() as run:
        pass
    assert (other / ".mltrack").is_dir()
    assert not (repo / ".mltrack").exists()
    assert mltrack.get_run(run.info.run_id).info.artifact_uri.startswith(other.as_uri())
    with pytest.raises(InvalidParameterValue, match="not a local path"):
        mltrack.set_tracking_uri("sqlite:///mlflow.db")


def test_all_is_exactly_the_public_api() -> None:
    import types

    public = {name for name in dir(mltrack) if not name.startswith("_")}
    # Importing a subpackage (mltrack.store …) makes it an attribute as a side effect.
    imported = {
        name
        for name in public
        if isinstance(getattr(mltrack, name), types.ModuleType)
        and getattr(mltrack, name).__name__ == f"mltrack.{name}"
        and name not in mltrack.__all__
    }
    assert public - imported == set(mltrack.__all__) - {"__version__"}
    for name in mltrack.__all__:
        assert getattr(mltrack, name) is not None, name
    assert mltrack.__all__ == sorted(mltrack.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mltrack.nope  # noqa: B018


def test_every_public_fluent_function_is_exported() -> None:
    from mltrack.tracking import fluent

    defined = {
        name
        for name, value in vars(fluent).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == fluent.__name__
    }
    plumbing = {
        "active_experiment_id",
        "client",
        "live_run",
        "local_live_run",
        "note_logged_model",
        "records_to_pandas",
        "reset_state",
    }
    assert defined - plumbing <= set(mltrack.__all__)
    assert set(fluent.__all__) <= set(mltrack.__all__)
