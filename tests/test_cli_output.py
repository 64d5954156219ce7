"""What the CLI prints for people and for scripts: exact values, names, marked changes."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import git, invoke, python_env, reset_mltrack, run_python


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def _run(metrics: dict[str, float], params: dict[str, str] | None = None, **kw: str) -> str:
    import mltrack

    with mltrack.start_run(**kw) as run:
        for key, value in metrics.items():
            mltrack.log_metric(key, value)
        mltrack.log_params(params or {})
    return run.info.run_id


EXACT = [0.1234567891234, 1e-12, 123456789.125, 1 / 3, -2.5e300, 5.0]


def test_csv_carries_exact_values(repo: Path, cli: CliRunner) -> None:
    run_id = _run({f"m{i}": v for i, v in enumerate(EXACT)})
    listed = pd.read_csv(io.StringIO(ok(invoke(cli, "runs", "list", "--format", "csv")).stdout))
    assert [listed[f"metrics.m{i}"][0] for i in range(len(EXACT))] == EXACT
    history = ok(invoke(cli, "metrics", run_id[:8], "m0", "--format", "csv")).stdout
    assert next(csv.DictReader(io.StringIO(history)))["value"] == repr(EXACT[0])
    shown = ok(invoke(cli, "runs", "show", run_id[:8], "--format", "csv")).stdout
    assert f"metrics.m2,{EXACT[2]!r}" in shown.splitlines()


def test_runs_list_csv_writes_non_finite_values_and_gaps_as_the_other_commands(
    repo: Path, cli: CliRunner
) -> None:
    _run({"nan": math.nan, "up": math.inf, "down": -math.inf}, {"p": "a,b"})
    _run({"only": 1.0}, {"p": "1"})
    rows = list(
        csv.DictReader(io.StringIO(ok(invoke(cli, "runs", "list", "--format", "csv")).stdout))
    )
    by_param = {row["params.p"]: row for row in rows}
    first, second = by_param["a,b"], by_param["1"]
    assert (first["metrics.nan"], first["metrics.up"], first["metrics.down"]) == (
        "NaN",
        "Infinity",
        "-Infinity",
    )
    assert first["metrics.only"] == "" and second["metrics.nan"] == ""
    assert second["metrics.only"] == "1.0" and int(second["start_time"]) > 0


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_csv_and_json_metric_values_round_trip(repo: Path, cli: CliRunner, value: float) -> None:
    run_id = _run({"loss": value})
    try:
        text = ok(invoke(cli, "metrics", run_id, "loss", "--format", "csv")).stdout
        cell = next(csv.DictReader(io.StringIO(text)))["value"]
        read_back = json.loads(
            ok(invoke(cli, "metrics", run_id, "loss", "--format", "json")).stdout
        )
    finally:
        reset_mltrack()
    stored = read_back[0]["value"]
    if math.isnan(value):
        assert (cell, stored) == ("NaN", "NaN")
    else:
        assert float(cell) == value
        assert (float(stored) if isinstance(stored, str) else stored) == value


def test_restoring_a_run_that_is_not_deleted_says_so(repo: Path, cli: CliRunner) -> None:
    run_id = _run({"loss": 0.5})
    head = git(repo, "rev-parse", "HEAD")
    result = ok(invoke(cli, "runs", "restore", run_id[:8]))
    assert result.stdout == f"Run {run_id} is not deleted: nothing to restore.\n"
    assert git(repo, "rev-parse", "HEAD") == head
    ok(invoke(cli, "runs", "delete", run_id[:8]))
    assert ok(invoke(cli, "runs", "restore", run_id[:8])).stdout == f"Restored run {run_id}.\n"


def test_runs_list_names_experiments(repo: Path, cli: CliRunner) -> None:
    import mltrack

    experiment_id = mltrack.create_experiment("sweep")
    run_id = _run({"loss": 0.5}, experiment_id=experiment_id)
    table = ok(invoke(cli, "runs", "list")).stdout.splitlines()
    assert table[0].split()[2] == "experiment"
    assert table[1].split()[2] == "sweep"
    rows = list(
        csv.DictReader(io.StringIO(ok(invoke(cli, "runs", "list", "--format", "csv")).stdout))
    )
    assert (rows[0]["experiment"], rows[0]["experiment_id"]) == ("sweep", experiment_id)
    listed = json.loads(ok(invoke(cli, "runs", "list", "--format", "json")).stdout)
    assert listed[0]["info"]["experiment_id"] == experiment_id
    at_head = ok(invoke(cli, "runs", "list", "--rev", "HEAD")).stdout.splitlines()
    assert at_head[1].split()[:3] == [run_id, at_head[1].split()[1], "sweep"]


def test_diff_markdown_says_no_differences_instead_of_an_empty_table(
    repo: Path, cli: CliRunner
) -> None:
    import mltrack

    for _ in range(2):  # the same training twice: a new latest run, nothing different
        with mltrack.start_run():
            mltrack.log_param("lr", "0.1")
    text = ok(invoke(cli, "diff", "HEAD~1", "HEAD", "--format", "markdown")).stdout
    assert "No differences in params or metrics between" in text
    assert "| |" not in text.split("new run(s)")[0]


def test_plot_without_matplotlib_names_the_extra(repo: Path) -> None:
    run_id = _run({"accuracy": 0.9})
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"  # as if it were not installed
        "from mltrack.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = run_python(code, repo, "metrics", run_id[:8], "accuracy", "--plot", "a.png", check=False)
    assert proc.returncode == 1
    assert proc.stderr == (
        "Error: --plot needs matplotlib: pip install 'mltrack[plot]' (or pip install matplotlib).\n"
    )


def test_completion_scripts_for_each_shell(cli: CliRunner) -> None:
    for shell, marker in (
        ("bash", "complete -o"),
        ("zsh", "#compdef mltrack"),
        ("fish", "complete"),
    ):
        script = ok(invoke(cli, "completion", shell)).stdout
        assert "_MLTRACK_COMPLETE" in script and marker in script
    assert invoke(cli, "completion", "powershell").exit_code == 2


def test_the_completion_script_completes_commands(repo: Path) -> None:
    """What the bash script asks the console script, as a subprocess."""
    completed = subprocess.run(
        [sys.executable, "-m", "mltrack"],
        env=python_env(_MLTRACK_COMPLETE="bash_complete", COMP_WORDS="mltrack art", COMP_CWORD="1"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.stdout.split() == ["plain,artifacts"]
