"""End-to-end: the fluent API writes runs that the CLI and git see."""

from __future__ import annotations

from pathlib import Path

from conftest import git, invoke


def test_run_becomes_one_commit(repo: Path, cli) -> None:
    import mltrack

    mltrack.set_experiment("demo")
    with mltrack.start_run(run_name="first") as run:
        mltrack.log_param("alpha", "0.5")
        for step in range(10):
            mltrack.log_metric("loss", 1 / (step + 1), step=step)
    subjects = git(repo, "log", "--format=%s").splitlines()
    assert subjects[0] == "Run first: FINISHED in demo"
    assert git(repo, "status", "--porcelain") == ""
    result = invoke(cli, "runs", "list", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert run.info.run_id in result.stdout
