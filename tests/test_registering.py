"""Registering a model: failures change nothing, an active run stays one commit, short run ids."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from conftest import git, invoke

NAME = "iris classifier"


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    data = load_iris(as_frame=True)
    return data.data, data.target


def _logged_run(iris: tuple[pd.DataFrame, pd.Series]) -> str:
    import mltrack

    X, y = iris
    with mltrack.start_run() as run:
        mltrack.sklearn.log_model(LogisticRegression(max_iter=200).fit(X, y), name="model")
    return run.info.run_id


def _state(repo: Path) -> tuple[str, str, str]:
    return git(repo, "rev-parse", "HEAD"), git(repo, "tag", "-l"), git(repo, "status", "--short")


@pytest.mark.parametrize(
    "uri",
    ["runs:/0123456789abcdef0123456789abcdef/model", "runs:/{run_id}/no-such-model"],
    ids=["bad-run-id", "bad-path"],
)
def test_a_failed_cli_registration_changes_nothing(repo: Path, iris, cli, uri: str) -> None:  # type: ignore[no-untyped-def]
    run_id = _logged_run(iris)
    before = _state(repo)
    result = invoke(cli, "models", "register", uri.format(run_id=run_id), NAME)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert _state(repo) == before
    listed = invoke(cli, "models", "list", "--format", "json")
    assert listed.exit_code == 0
    assert NAME not in listed.stdout


def test_a_failed_python_registration_changes_nothing(repo: Path, iris) -> None:  # type: ignore[no-untyped-def]
    import mltrack
    from mltrack.exceptions import MltrackError

    run_id = _logged_run(iris)
    before = _state(repo)
    for uri in (f"runs:/{run_id}/nothing-here", "runs:/ffffffffffffffffffffffffffffffff/model"):
        with pytest.raises(MltrackError):
            mltrack.register_model(uri, NAME)
    assert _state(repo) == before
    assert mltrack.MltrackClient().search_registered_models() == []


def test_registering_inside_an_active_run_makes_one_run_commit(repo: Path, iris) -> None:  # type: ignore[no-untyped-def]
    """MLflow's tracking quickstart: log_model(..., registered_model_name=...) inside the run."""
    import mltrack

    X, y = iris
    with mltrack.start_run() as run:
        info = mltrack.sklearn.log_model(
            LogisticRegression(max_iter=200).fit(X, y), name="model", registered_model_name=NAME
        )
        mltrack.log_metric("accuracy", 0.97)
        assert info.registered_model_version == 1
    run_id = run.info.run_id
    run_commits = git(repo, "log", "--format=%s", f"--grep=Mltrack-Run: {run_id}").splitlines()
    assert len(run_commits) == 1, run_commits
    assert "RUNNING" not in git(repo, "log", "--format=%B")
    version = mltrack.MltrackClient().get_model_version(NAME, 1)
    assert version.run_id == run_id
    # The tag holds the finished run: its files and its FINISHED run.yaml.
    tagged = git(repo, "ls-tree", "-r", "--name-only", version.commit)
    assert f"{run_id}/artifacts/model/MLmodel" in tagged
    run_yaml = next(p for p in tagged.splitlines() if p.endswith(f"{run_id}/run.yaml"))
    assert "FINISHED" in git(repo, "show", f"{version.commit}:{run_yaml}")


def test_register_model_inside_an_active_run_is_pending_until_the_run_ends(
    repo: Path, iris
) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    X, y = iris
    with mltrack.start_run() as run:
        mltrack.sklearn.log_model(LogisticRegression(max_iter=200).fit(X, y), name="model")
        pending = mltrack.register_model(f"runs:/{run.info.run_id}/model", NAME)
        assert (pending.version, pending.status) == (1, "PENDING_REGISTRATION")
        assert git(repo, "tag", "-l") == ""
    ready = mltrack.MltrackClient().get_model_version(NAME, 1)
    assert ready.status == "READY"
    run_commits = git(repo, "log", "--format=%s", f"--grep=Mltrack-Run: {run.info.run_id}")
    assert len(run_commits.splitlines()) == 1


def test_runs_uris_accept_a_unique_run_id_prefix(repo: Path, iris, cli) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    run_id = _logged_run(iris)
    result = invoke(cli, "models", "register", f"runs:/{run_id[:8]}/model", NAME)
    assert result.exit_code == 0, result.stderr
    assert mltrack.MltrackClient().get_model_version(NAME, 1).run_id == run_id
    X, _ = iris
    X.head(3).to_csv(repo / "rows.csv", index=False)
    predicted = invoke(
        cli, "models", "predict", "-m", f"runs:/{run_id[:8]}/model", "-i", "rows.csv"
    )
    assert predicted.exit_code == 0, predicted.stderr
    assert len(json.loads(predicted.stdout)["predictions"]) == 3


def test_a_version_that_never_existed_names_the_latest(repo: Path, iris, cli) -> None:  # type: ignore[no-untyped-def]
    run_id = _logged_run(iris)
    assert invoke(cli, "models", "register", f"runs:/{run_id}/model", NAME).exit_code == 0
    result = invoke(cli, "models", "compare", NAME, "1", "7")
    assert result.exit_code == 1
    assert result.stderr == f"Error: Model {NAME!r} has no version 7; the latest is 1.\n"
    assert "fetch" not in result.stderr


def test_a_tag_missing_in_this_clone_gets_the_fetch_hint(repo: Path, iris) -> None:  # type: ignore[no-untyped-def]
    import mltrack
    from mltrack.exceptions import ResourceDoesNotExist

    run_id = _logged_run(iris)
    client = mltrack.MltrackClient()
    client.create_model_version(NAME, f"runs:/{run_id}/model", description="first")
    git(repo, "tag", "-d", client.get_model_version(NAME, 1).tag)  # a clone without the tag
    with pytest.raises(ResourceDoesNotExist, match=r"git fetch --tags"):
        client.get_model_version(NAME, 1)


def test_models_compare_marks_what_changed(repo: Path, iris, cli) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    X, y = iris
    for c in (1.0, 0.5):
        with mltrack.start_run() as run:
            mltrack.log_params({"C": c, "solver": "lbfgs"})
            mltrack.log_metric("accuracy", 0.9)
            model = LogisticRegression(C=c, max_iter=200).fit(X, y)
            mltrack.sklearn.log_model(model, name="model", input_example=X.head(2))
        assert (
            invoke(cli, "models", "register", f"runs:/{run.info.run_id}/model", NAME).exit_code == 0
        )
    rows = {
        (r["kind"], r["key"]): r["changed"]
        for r in csv.DictReader(
            io.StringIO(invoke(cli, "models", "compare", NAME, "1", "2", "--format", "csv").stdout)
        )
    }
    assert rows[("param", "C")] == "*"
    assert rows[("param", "solver")] == rows[("metric", "accuracy")] == ""
    assert rows[("signature", "inputs")] == ""
    assert rows[("source", "run")] == "*"
    markdown = invoke(cli, "models", "compare", NAME, "1", "2", "--format", "markdown").stdout
    assert "| **param `C`** | 1.0 | 0.5 |" in markdown
    assert "| param `solver` | lbfgs | lbfgs |" in markdown


def test_batch_predict_of_a_headerless_csv_names_the_columns(repo: Path, iris, cli) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    X, y = iris
    with mltrack.start_run() as run:
        model = LogisticRegression(max_iter=200).fit(X, y)
        mltrack.sklearn.log_model(model, name="model", input_example=X.head(2))
    X.head(3).to_csv(repo / "rows.csv", index=False, header=False)
    result = invoke(
        cli, "models", "predict", "-m", f"runs:/{run.info.run_id}/model", "-i", "rows.csv"
    )
    assert result.exit_code == 1
    assert "has no header row" in result.stderr
    assert ",".join(X.columns) in result.stderr
