"""sklearn autolog of parameter searches: best candidate on the run, candidates as child runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.svm import SVC

from conftest import git, invoke, run_python


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    data = load_iris(as_frame=True)
    return data.data, data.target


def _commits(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%s").splitlines()


def test_grid_search_logs_best_candidate_and_one_child_run_per_candidate(repo: Path, iris) -> None:
    import mltrack as mlflow

    X, y = iris
    grid = {"kernel": ["linear", "rbf"], "C": [1, 10, 100]}
    mlflow.sklearn.autolog(max_tuning_runs=4)
    try:
        with mlflow.start_run() as parent:
            search = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    run = mlflow.get_run(parent.info.run_id)
    assert run.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert run.data.params["best_C"] == str(search.best_params_["C"])
    assert run.data.params["best_kernel"] == search.best_params_["kernel"]
    assert "estimator__C" not in run.data.params  # a search's own params are shallow
    artifacts = {f.path for f in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    assert "cv_results.csv" in artifacts
    csv = Path(run.info.artifact_uri.removeprefix("file://")) / "cv_results.csv"
    assert len(pd.read_csv(csv)) == 6
    best = mlflow.sklearn.load_model(f"runs:/{parent.info.run_id}/best_estimator")
    assert best.get_params()["C"] == search.best_params_["C"]

    children = mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        output_format="list",
        order_by=["metrics.rank_test_score ASC"],
    )
    assert len(children) == 4  # max_tuning_runs: the best four of six candidates
    results = pd.DataFrame(search.cv_results_)
    worst_logged = sorted(results["rank_test_score"])[3]
    for child in children:
        assert child.info.status == "FINISHED"
        (row,) = [
            row
            for _, row in results.iterrows()
            if str(row["params"]["C"]) == child.data.params["C"]
            and row["params"]["kernel"] == child.data.params["kernel"]
        ]
        assert row["rank_test_score"] <= worst_logged
        assert child.data.params["gamma"] == "scale"  # the base estimator's other params
        assert child.data.metrics["mean_test_score"] == pytest.approx(row["mean_test_score"])
        assert {"std_test_score", "mean_fit_time", "rank_test_score"} <= set(child.data.metrics)
        assert not [k for k in child.data.metrics if k.startswith(("split", "param"))]
        assert child.data.tags["mlflow.autologging"] == "sklearn"
        assert child.data.tags["estimator_name"] == "SVC"
        assert [d.dataset.name for d in child.inputs.dataset_inputs] == ["train"]


def test_candidate_runs_land_in_one_commit(repo: Path, iris) -> None:
    import mltrack as mlflow

    X, y = iris
    before = len(_commits(repo))
    mlflow.sklearn.autolog(max_tuning_runs=None)
    try:
        RandomizedSearchCV(
            SVC(),
            {"C": [0.1, 1, 10, 100], "kernel": ["linear", "rbf"]},
            n_iter=5,
            cv=2,
            random_state=0,
        ).fit(X, y)  # no active run: autolog starts and ends one
    finally:
        mlflow.sklearn.autolog(disable=True)
    subjects = _commits(repo)[: len(_commits(repo)) - before]
    # newest first: the search's own run ends after its five candidates were committed at once
    assert len(subjects) == 2, subjects
    assert subjects[1].startswith("RandomizedSearchCV: 5 candidate run(s) of run ")
    assert git(repo, "status", "--porcelain") == ""
    message = git(repo, "log", "-1", "--skip=1", "--format=%B")
    children = mlflow.search_runs(
        filter_string="tags.mlflow.parentRunId != ''", output_format="list"
    )
    assert len(children) == 5
    assert sorted(
        line.removeprefix("Mltrack-Run: ")
        for line in message.splitlines()
        if line.startswith("Mltrack-Run: ")
    ) == sorted(c.info.run_id for c in children)
    timeline = {e.run_id for e in mlflow_timeline(repo)}
    assert {c.info.run_id for c in children} <= timeline


def mlflow_timeline(repo: Path) -> list:
    from mltrack.store.repository import Repository
    from mltrack.store.revisions import timeline

    return timeline(Repository.open(repo))


def test_runs_ended_in_one_commit_survive_a_crash_before_it(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Until the batch commit, ended runs are files on disk; `mltrack commit` commits them."""
    assert invoke(cli, "init").exit_code == 0
    code = (
        "import os\n"
        "from mltrack.tracking import fluent\n"
        "client = fluent.client()\n"
        "with client.runs.in_one_commit('batch'):\n"
        "    for _ in range(2):\n"
        "        run = client.create_run('0')\n"
        "        client.log_metric(run.info.run_id, 'score', 0.5)\n"
        "        client.set_terminated(run.info.run_id)\n"
        "    os._exit(0)  # killed before the block ends: no commit was made\n"
    )
    run_python(code, repo)
    assert git(repo, "status", "--porcelain", "--", ".mltrack") != ""
    result = invoke(cli, "commit")
    assert result.exit_code == 0, result.output
    assert git(repo, "status", "--porcelain", "--", ".mltrack") == ""
    import mltrack as mlflow

    runs = mlflow.search_runs(output_format="list")
    assert [(r.info.status, r.data.metrics) for r in runs] == [("FINISHED", {"score": 0.5})] * 2
