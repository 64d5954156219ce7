"""git's split index (``mltrack init --split-index``): a run's commit writes only what changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from conftest import git, invoke, python_env, reset_mltrack


def runs(count: int, start: int = 0) -> list[str]:
    import mltrack

    ids = []
    for number in range(start, start + count):
        with mltrack.start_run(run_name=f"r{number}") as run:
            mltrack.log_param("n", str(number))
            mltrack.log_metric("score", float(number))
        ids.append(run.info.run_id)
    return ids


def shared_indexes(repo: Path) -> list[Path]:
    return sorted((repo / ".git").glob("sharedindex.*"))


def assert_index_holds(repo: Path, run_ids: list[str]) -> None:
    """The index git reads is whole: nothing staged or changed, every run's files in it."""
    assert git(repo, "status", "--porcelain") == ""
    assert subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=repo).returncode == 0
    listed = git(repo, "ls-files", ".mltrack")
    for run_id in run_ids:
        assert f"/runs/{run_id}/run.yaml" in listed


def test_init_split_index_turns_it_on_and_runs_commit_through_it(
    repo: Path, cli: CliRunner
) -> None:
    result = invoke(cli, "init", "--split-index")
    assert result.exit_code == 0, result.stderr
    assert "split index is on" in result.stdout
    assert git(repo, "config", "--bool", "core.splitIndex").strip() == "true"
    assert shared_indexes(repo)

    run_ids = runs(3)
    assert_index_holds(repo, run_ids)
    assert git(repo, "log", "--format=%s", "-3").count("Run r") == 3
    # The index git reads names a shared part in .git (not in mltrack's private directory).
    assert not list((repo / ".git" / "mltrack").glob("sharedindex.*"))


def test_the_shared_part_rewritten_under_a_run_keeps_the_index_whole(
    repo: Path, cli: CliRunner
) -> None:
    assert invoke(cli, "init", "--split-index").exit_code == 0
    git(repo, "config", "splitIndex.maxPercentChange", "0")  # every write rewrites it
    before = set(shared_indexes(repo))
    run_ids = runs(3)
    assert set(shared_indexes(repo)) - before, "git did not write a new shared index"
    assert_index_holds(repo, run_ids)
    fsck = subprocess.run(["git", "fsck", "--no-progress"], cwd=repo, capture_output=True)
    assert fsck.returncode == 0, fsck.stderr


def test_a_users_commit_after_split_index_runs_keeps_every_run(repo: Path, cli: CliRunner) -> None:
    assert invoke(cli, "init", "--split-index").exit_code == 0
    run_ids = runs(2)
    (repo / "notes.txt").write_text("findings\n")
    git(repo, "add", "notes.txt")
    git(repo, "commit", "-q", "-m", "My notes")
    tree = git(repo, "ls-tree", "-r", "--name-only", "HEAD")
    assert "notes.txt" in tree
    for run_id in run_ids:
        assert f"/runs/{run_id}/run.yaml" in tree
    run_ids += runs(2, start=2)
    reset_mltrack()
    assert_index_holds(repo, run_ids)


def test_init_split_index_as_a_command(repo: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mltrack", "init", "--split-index"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=python_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert git(repo, "config", "--bool", "core.splitIndex").strip() == "true"
    again = subprocess.run(
        [sys.executable, "-m", "mltrack", "init", "--split-index"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=python_env(),
    )
    assert again.returncode == 0 and "already initialised" in again.stdout
