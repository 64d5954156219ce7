"""A tracking URI names a repository's root: never a path that would log into another one."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import mltrack as mlflow
from conftest import invoke, reset_mltrack
from mltrack.exceptions import InvalidParameterValue, NotAGitRepository


@pytest.mark.parametrize("uri", ["./mlruns", "file:./mlruns", "mlruns"])
def test_a_missing_directory_is_refused_not_the_surrounding_repository(
    repo: Path, uri: str
) -> None:
    mlflow.set_tracking_uri(uri)
    with pytest.raises(InvalidParameterValue, match=r"does not exist.*git init && mltrack init"):
        mlflow.start_run()
    assert not (repo / ".mltrack").exists()
    assert not (repo / "mlruns").exists()


def test_a_missing_directory_from_the_environment_is_refused(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(repo / "mlruns"))
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        mlflow.log_metric("loss", 1.0)
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        mlflow.MlflowClient().search_experiments()
    assert not (repo / ".mltrack").exists()


def test_a_directory_inside_the_repository_is_refused(repo: Path) -> None:
    (repo / "mlruns").mkdir()
    mlflow.set_tracking_uri("./mlruns")
    with pytest.raises(InvalidParameterValue, match=r"inside the git repository .*not its root"):
        mlflow.start_run()
    assert not (repo / ".mltrack").exists()


def test_a_directory_outside_any_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    mlflow.set_tracking_uri(outside.as_uri())
    try:
        with pytest.raises(NotAGitRepository, match=r"not inside a git repository.*git init"):
            mlflow.start_run()
    finally:
        reset_mltrack()
    assert not (outside / ".mltrack").exists()


def test_the_repository_root_works_as_a_path_and_a_file_uri(repo: Path) -> None:
    for uri in (str(repo), repo.as_uri(), "."):
        mlflow.set_tracking_uri(uri)
        with mlflow.start_run():
            mlflow.log_metric("x", 1.0)
    assert len(mlflow.search_runs(output_format="list")) == 3


def test_a_working_directory_below_the_root_still_finds_the_repository(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "src").mkdir()
    monkeypatch.chdir(repo / "src")
    with mlflow.start_run() as run:
        pass
    assert (repo / ".mltrack").is_dir()
    assert mlflow.get_run(run.info.run_id).info.run_id == run.info.run_id


def test_cli_repo_option_refuses_a_missing_directory(repo: Path, cli: CliRunner) -> None:
    result = invoke(cli, "-C", "nowhere", "runs", "list")
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    assert not (repo / ".mltrack").exists()
