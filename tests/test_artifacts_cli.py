"""``mltrack artifacts list|get`` and ``runs show`` naming artifacts, now and at any revision."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from conftest import git, invoke, python_env


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def _run_with_artifacts(tmp_path: Path) -> str:
    import mltrack

    script = tmp_path / "prepare.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    with mltrack.start_run() as run:
        mltrack.log_text("first version", "notes.txt")
        mltrack.log_dict({"accuracy": 0.9}, "eval/summary.json")
        mltrack.log_artifact(str(script), "eval")
    return run.info.run_id


def test_list_and_get_in_the_working_tree(repo: Path, tmp_path: Path, cli: CliRunner) -> None:
    run_id = _run_with_artifacts(tmp_path)
    listed = ok(invoke(cli, "artifacts", "list", run_id[:8], "--format", "json")).stdout
    assert [(e["path"], e["is_dir"]) for e in json.loads(listed)] == [
        ("eval", True),
        ("notes.txt", False),
    ]
    inner = json.loads(
        ok(invoke(cli, "artifacts", "list", run_id[:8], "eval", "--format", "json")).stdout
    )
    assert {e["path"]: e["file_size"] for e in inner}["eval/summary.json"] > 0
    table = ok(invoke(cli, "artifacts", "list", run_id[:8])).stdout
    assert "notes.txt" in table and "eval" in table

    out = tmp_path / "out"
    out.mkdir()
    ok(invoke(cli, "artifacts", "get", run_id[:8], "eval", "-o", str(out)))
    assert json.loads((out / "eval" / "summary.json").read_text()) == {"accuracy": 0.9}
    assert (out / "eval" / "prepare.sh").read_text() == "#!/bin/sh\necho hi\n"
    ok(invoke(cli, "artifacts", "get", run_id[:8], "notes.txt", "-o", str(out / "copy.txt")))
    assert (out / "copy.txt").read_text() == "first version"
    streamed = ok(invoke(cli, "artifacts", "get", run_id[:8], "notes.txt", "-o", "-")).stdout
    assert streamed == "first version"


def test_list_and_get_at_a_revision(repo: Path, tmp_path: Path, cli: CliRunner) -> None:
    import mltrack

    run_id = _run_with_artifacts(tmp_path)
    first = git(repo, "rev-parse", "HEAD").strip()
    # The run's files change after the commit, then its directory leaves the branch.
    mltrack.MltrackClient().log_text(run_id, "second version", "notes.txt")
    git(repo, "rm", "-rqf", ".mltrack/experiments")
    git(repo, "commit", "-qm", "Drop runs")

    listed = json.loads(
        ok(invoke(cli, "artifacts", "list", run_id[:8], "--rev", first, "--format", "json")).stdout
    )
    assert [e["path"] for e in listed] == ["eval", "notes.txt"]
    assert listed[1]["file_size"] == len("first version")
    out = tmp_path / "at-rev"
    ok(invoke(cli, "artifacts", "get", run_id[:8], "eval", "--rev", first, "-o", str(out)))
    assert json.loads((out / "summary.json").read_text()) == {"accuracy": 0.9}
    assert (out / "prepare.sh").is_file()
    streamed = invoke(cli, "artifacts", "get", run_id[:8], "notes.txt", "--rev", first, "-o", "-")
    assert ok(streamed).stdout == "first version"
    shown = ok(invoke(cli, "runs", "show", run_id[:8], "--rev", first)).stdout
    assert "eval/, notes.txt" in shown


def test_runs_show_names_the_artifacts(repo: Path, tmp_path: Path, cli: CliRunner) -> None:
    run_id = _run_with_artifacts(tmp_path)
    shown = ok(invoke(cli, "runs", "show", run_id[:8], "--format", "csv")).stdout
    assert 'artifacts,"eval/, notes.txt"' in shown.splitlines()


def test_missing_artifacts_get_one_line_errors(repo: Path, tmp_path: Path, cli: CliRunner) -> None:
    run_id = _run_with_artifacts(tmp_path)
    for args in (
        ("list", run_id[:8], "nope"),
        ("get", run_id[:8], "nope"),
        ("get", run_id[:8], "eval", "-o", "-"),
        ("get", run_id[:8], "../../../etc/passwd"),
        ("list", run_id[:8], "--rev", "no-such-branch"),
    ):
        result = invoke(cli, "artifacts", *args)
        assert result.exit_code == 1, (args, result.stdout, result.stderr)
        assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
    assert (
        f"mltrack artifacts list {run_id[:8]}"
        in invoke(cli, "artifacts", "get", run_id[:8], "nope").stderr
    )


def test_artifacts_get_as_a_subprocess(repo: Path, tmp_path: Path) -> None:
    run_id = _run_with_artifacts(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "mltrack", "artifacts", "get", run_id[:8], "notes.txt", "-o", "-"],
        cwd=repo,
        capture_output=True,
        env=python_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"first version"
