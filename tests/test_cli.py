"""Every CLI command through the real entry point: stdout, stderr and exit codes apart."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import git, invoke, reset_mltrack
from mltrack.store import yamlio

SRC = Path(__file__).resolve().parents[1] / "src"


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def fails(result: Result, code: int = 1) -> str:
    """The one-line error of a failed command (checked: right code, nothing on stdout)."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    if code == 1:
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("Error: ")
        return lines[0]
    return result.stderr


def strict_json(text: str) -> object:
    """Parse JSON, refusing bare NaN/Infinity (not JSON, and not parseable everywhere)."""

    def refuse(constant: str) -> object:
        raise AssertionError(f"bare {constant} in JSON output")

    return json.loads(text, parse_constant=refuse)


def canonical(text: str) -> str:
    data = strict_json(text)
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass
class Store:
    root: Path
    experiment_id: str
    first: str  # run "first": lr=0.1, acc 0.5 → 0.7, loss
    second: str  # run "second": lr=0.2, acc 0.9
    code_commit: str


@pytest.fixture
def store(repo: Path) -> Store:
    """Two finished runs in experiment ``demo``, each its own commit."""
    import mltrack

    code_commit = git(repo, "rev-parse", "HEAD").strip()
    experiment = mltrack.set_experiment("demo")
    with mltrack.start_run(run_name="first") as first:
        mltrack.log_param("lr", "0.1")
        mltrack.log_metric("acc", 0.5, step=1)
        mltrack.log_metric("acc", 0.7, step=2)
        mltrack.log_metric("loss", 0.3, step=2)
    with mltrack.start_run(run_name="second") as second:
        mltrack.log_param("lr", "0.2")
        mltrack.log_metric("acc", 0.9, step=1)
    return Store(repo, experiment.experiment_id, first.info.run_id, second.info.run_id, code_commit)


def commit_count(root: Path) -> int:
    return int(git(root, "rev-list", "--count", "HEAD").strip())


def run_yaml(store: Store, run_id: str) -> Path:
    return store.root / f".mltrack/experiments/{store.experiment_id}/runs/{run_id}/run.yaml"


# ---------------------------------------------------------------------- init


def test_init_creates_and_commits_the_store(repo: Path, cli: CliRunner) -> None:
    result = ok(invoke(cli, "init"))
    assert result.stdout.startswith("Initialised mltrack store in ")
    assert result.stderr == ""
    assert (repo / ".mltrack/mltrack.yaml").is_file()
    assert yamlio.load((repo / ".mltrack/mltrack.yaml").read_bytes())["format_version"] == 1
    assert "*.arrow" in (repo / ".mltrack/.gitattributes").read_text()
    assert git(repo, "log", "-1", "--format=%s") == "Initialise mltrack store\n"
    assert git(repo, "status", "--porcelain") == ""


def test_init_twice_is_harmless_and_says_so(repo: Path, cli: CliRunner) -> None:
    ok(invoke(cli, "init"))
    head = git(repo, "rev-parse", "HEAD")
    again = ok(invoke(cli, "init"))
    assert git(repo, "rev-parse", "HEAD") == head
    assert again.stdout.startswith("mltrack store already initialised in ")


def test_init_in_a_repo_without_commits(empty_repo: Path, cli: CliRunner) -> None:
    ok(invoke(cli, "init"))
    assert git(empty_repo, "log", "--format=%s") == "Initialise mltrack store\n"


def test_init_outside_git_says_git_init(
    tmp_path: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    try:
        error = fails(invoke(cli, "init"))
        assert "git init" in error
        assert not (plain / ".mltrack").exists()
        assert not (plain / ".git").exists()
        ok(invoke(cli, "init", "--init-git"))
        assert (plain / ".git").is_dir()
        assert git(plain, "log", "--format=%s") == "Initialise mltrack store\n"
    finally:
        reset_mltrack()


def test_repo_option_points_at_another_repository(
    store: Store, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = ok(invoke(cli, "--repo", str(store.root), "runs", "list", "--format", "json"))
    assert {r["info"]["run_id"] for r in strict_json(result.stdout)} == {store.first, store.second}


# ---------------------------------------------------------------------- experiments


def test_experiments_lifecycle_by_name_and_id(repo: Path, cli: CliRunner) -> None:
    created = ok(invoke(cli, "experiments", "create", "sweep"))
    assert created.stdout.startswith("Created experiment 'sweep' with id ")
    experiment_id = created.stdout.rsplit(" ", 1)[1].rstrip(".\n")
    assert experiment_id.isdigit()

    listed = strict_json(ok(invoke(cli, "experiments", "list", "--format", "json")).stdout)
    assert {(e["experiment_id"], e["name"]) for e in listed} == {
        ("0", "Default"),
        (experiment_id, "sweep"),
    }

    ok(invoke(cli, "experiments", "rename", "sweep", "sweep-2"))
    table = ok(invoke(cli, "experiments", "list")).stdout
    assert "sweep-2" in table and " sweep " not in table
    assert table.splitlines()[0].split() == [
        "experiment_id",
        "name",
        "lifecycle_stage",
        "runs",
        "created",
    ]

    deleted = ok(invoke(cli, "experiments", "delete", experiment_id))
    assert "restore" in deleted.stdout
    assert "sweep-2" not in ok(invoke(cli, "experiments", "list")).stdout
    assert "sweep-2" in ok(invoke(cli, "experiments", "list", "--view", "deleted")).stdout
    ok(invoke(cli, "experiments", "restore", "sweep-2"))
    assert "sweep-2" in ok(invoke(cli, "experiments", "list")).stdout
    assert git(repo, "status", "--porcelain") == ""
    subjects = git(repo, "log", "--format=%s").splitlines()
    assert subjects[:4] == [
        "Restore experiment sweep-2",
        "Delete experiment sweep-2",
        "Rename experiment sweep to sweep-2",
        "Create experiment sweep",
    ]


def test_experiments_errors(repo: Path, cli: CliRunner) -> None:
    ok(invoke(cli, "experiments", "create", "sweep"))
    assert "already exists" in fails(invoke(cli, "experiments", "create", "sweep"))
    assert "mltrack experiments list" in fails(invoke(cli, "experiments", "delete", "nope"))
    assert "Default" in fails(invoke(cli, "experiments", "delete", "0"))
    assert "experiment name" in fails(invoke(cli, "experiments", "create", ""))
    fails(invoke(cli, "experiments", "create"), code=2)
    fails(invoke(cli, "experiments", "list", "--view", "gone"), code=2)


def test_experiments_list_counts_runs(store: Store, cli: CliRunner) -> None:
    listed = strict_json(ok(invoke(cli, "experiments", "list", "--format", "json")).stdout)
    counts = {e["name"]: e["runs"] for e in listed}
    assert counts == {"Default": 0, "demo": 2}


# ---------------------------------------------------------------------- runs list


def names_in(result: Result) -> list[str]:
    return [run["info"]["run_name"] for run in strict_json(result.stdout)]


def test_runs_list_table(store: Store, cli: CliRunner) -> None:
    result = ok(invoke(cli, "runs", "list"))
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "run_id",
        "run_name",
        "experiment",
        "status",
        "start_time",
        "metrics",
    ]
    assert [line.split()[1] for line in lines[1:]] == ["second", "first"]  # newest first
    assert "acc=0.7, loss=0.3" in lines[2]
    assert result.stderr == ""


def test_runs_list_json_is_complete_and_stable(store: Store, cli: CliRunner) -> None:
    result = ok(invoke(cli, "runs", "list", "--format", "json"))
    assert result.stdout == canonical(result.stdout)
    assert ok(invoke(cli, "runs", "list", "--format", "json")).stdout == result.stdout
    runs = {run["info"]["run_name"]: run for run in strict_json(result.stdout)}
    assert runs["first"]["data"]["params"] == {"lr": "0.1"}
    assert runs["first"]["data"]["metrics"] == {"acc": 0.7, "loss": 0.3}
    assert runs["first"]["info"]["status"] == "FINISHED"
    assert runs["first"]["code"]["commit"] == store.code_commit


def test_runs_list_csv(store: Store, cli: CliRunner) -> None:
    result = ok(invoke(cli, "runs", "list", "--format", "csv"))
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["run_name"] for r in rows] == ["second", "first"]
    assert rows[1]["metrics.acc"] == "0.7" and rows[1]["params.lr"] == "0.1"
    assert rows[0]["metrics.loss"] == ""
    assert rows[0]["start_time"].isdigit()


def test_runs_list_selection_options(store: Store, cli: CliRunner) -> None:
    def names(*args: str) -> list[str]:
        return names_in(ok(invoke(cli, "runs", "list", "--format", "json", *args)))

    assert names("--experiment", "demo") == ["second", "first"]
    assert names("--experiment", store.experiment_id) == ["second", "first"]
    assert names("--experiment", "Default") == []
    assert names("--filter", "metrics.acc > 0.8") == ["second"]
    assert names("--filter", "params.lr = '0.1' and metrics.loss < 1") == ["first"]
    assert names("--order-by", "metrics.acc ASC") == ["first", "second"]
    assert names("--order-by", "params.lr DESC") == ["second", "first"]
    assert names("--max-results", "1") == ["second"]
    assert names("-n", "1", "-o", "metrics.acc ASC") == ["first"]


def test_runs_list_at_a_revision(store: Store, cli: CliRunner) -> None:
    result = ok(invoke(cli, "runs", "list", "--rev", "HEAD~1", "--format", "json"))
    assert names_in(result) == ["first"]
    assert result.stdout == canonical(result.stdout)
    table = ok(invoke(cli, "runs", "list", "--rev", "HEAD~1")).stdout
    assert "first" in table and "second" not in table
    error = fails(invoke(cli, "runs", "list", "--rev", "no-such-branch"))
    assert error.startswith("Error: unknown revision 'no-such-branch'")


def test_runs_list_views(store: Store, cli: CliRunner) -> None:
    ok(invoke(cli, "runs", "delete", store.first[:8]))
    assert names_in(ok(invoke(cli, "runs", "list", "--format", "json"))) == ["second"]
    deleted = ok(invoke(cli, "runs", "list", "--view", "deleted", "--format", "json"))
    assert names_in(deleted) == ["first"]
    assert len(names_in(ok(invoke(cli, "runs", "list", "--view", "all", "--format", "json")))) == 2


def test_runs_list_errors(store: Store, cli: CliRunner) -> None:
    error = fails(invoke(cli, "runs", "list", "--filter", "metrics.acc >"))
    assert "position" in error
    assert "no-such" in fails(invoke(cli, "runs", "list", "--experiment", "no-such"))
    fails(invoke(cli, "runs", "list", "--format", "xml"), code=2)
    fails(invoke(cli, "runs", "list", "--max-results", "0"), code=2)
    fails(invoke(cli, "runs", "list", "--bogus"), code=2)


FILTER_WORDS = [
    "metrics.acc", "params.lr", "tags.`a b`", 'tags."x"', "attributes.status", "datasets.name",
    "run_id", "start_time", "=", "!=", "<", ">=", "LIKE", "ILIKE", "IS", "NOT", "NULL", "IN",
    "(", ")", ",", "'a'", '"b"', "0.5", "1e3", "-1", "AND", "OR", "`", "'", ".", "%", "nan",
    "DESC", "ASC", "metrics.", "\\", "é",
]  # fmt: skip


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    words=st.lists(st.sampled_from(FILTER_WORDS), max_size=7).map(" ".join) | st.text(max_size=15),
    option=st.sampled_from(["--filter", "--order-by"]),
)
def test_any_filter_or_order_is_a_result_or_one_line_error(
    store: Store, cli: CliRunner, words: str, option: str
) -> None:
    result = invoke(cli, "runs", "list", "--format", "json", option, words)
    if result.exit_code == 0:
        strict_json(result.stdout)
    else:
        error = fails(result)
        assert "unexpected" not in error


def test_runs_list_non_finite_metrics_stay_valid_json(repo: Path, cli: CliRunner) -> None:
    import mltrack

    with mltrack.start_run(run_name="odd"):
        mltrack.log_metric("nan", float("nan"))
        mltrack.log_metric("inf", float("-inf"))
    run = strict_json(ok(invoke(cli, "runs", "list", "--format", "json")).stdout)[0]
    assert run["data"]["metrics"] == {"nan": "NaN", "inf": "-Infinity"}


# ---------------------------------------------------------------------- runs show / diff / delete / restore


def test_runs_show(store: Store, cli: CliRunner) -> None:
    result = ok(invoke(cli, "runs", "show", store.first[:6]))
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines()[1:] if " " in line)
    assert fields["run_id"] == store.first
    assert fields["run_name"] == "first"
    assert fields["params.lr"] == "0.1"
    assert fields["metrics.acc"] == "0.7"
    assert f"commit={store.code_commit}" in fields["code"]

    full = ok(invoke(cli, "runs", "show", store.first, "--format", "json"))
    assert full.stdout == canonical(full.stdout)
    details = strict_json(full.stdout)
    assert details["info"]["run_id"] == store.first
    assert details["data"]["tags"]["mlflow.runName"] == "first"

    old = strict_json(
        ok(
            invoke(cli, "runs", "show", store.first[:8], "--rev", "HEAD~1", "--format", "json")
        ).stdout
    )
    assert old["info"]["run_id"] == store.first


def test_run_id_prefix_errors(store: Store, cli: CliRunner) -> None:
    assert "too short" in fails(invoke(cli, "runs", "show", store.first[:3]))
    assert "No run id starts with 'zzzz'" in fails(invoke(cli, "runs", "show", "zzzz"))
    # A second run whose id shares the first one's 8-character prefix (copied by hand).
    twin = store.first[:8] + ("0" * 24 if store.first[8:] != "0" * 24 else "1" * 24)
    twin_dir = run_yaml(store, store.first).parent.with_name(twin)
    shutil.copytree(run_yaml(store, store.first).parent, twin_dir)
    document = yamlio.load((twin_dir / "run.yaml").read_bytes())
    document["run_id"] = twin
    (twin_dir / "run.yaml").write_bytes(yamlio.dump(document))
    error = fails(invoke(cli, "runs", "show", store.first[:8]))
    assert "ambiguous" in error and store.first[:12] in error and twin[:12] in error
    unique = next(i for i in range(8, 32) if store.first[i] != twin[i]) + 1
    shown = ok(invoke(cli, "runs", "show", store.first[:unique])).stdout
    assert shown.splitlines()[1].split() == ["run_id", store.first]


def test_runs_diff(store: Store, cli: CliRunner) -> None:
    table = ok(invoke(cli, "runs", "diff", store.first[:8], store.second[:8]))
    lines = table.stdout.splitlines()
    assert lines[0] == "first vs second"
    assert lines[1].split() == [
        "kind",
        "key",
        f"a:{store.first[:8]}",
        f"b:{store.second[:8]}",
        "delta",
        "changed",
    ]
    rows = {tuple(line.split()[:2]): line.split() for line in lines[2:]}
    assert rows[("param", "lr")][2:] == ["0.1", "0.2", "*"]
    assert rows[("metric", "acc")][2:5] == ["0.7", "0.9", "0.2"]

    result = ok(invoke(cli, "runs", "diff", store.first, store.second, "--format", "json"))
    assert result.stdout == canonical(result.stdout)
    data = strict_json(result.stdout)
    assert data["a"]["run_id"] == store.first and data["b"]["run_id"] == store.second
    acc = next(m for m in data["metrics"] if m["key"] == "acc")
    assert acc["changed"] is True and acc["delta"] == pytest.approx(0.2)
    loss = next(m for m in data["metrics"] if m["key"] == "loss")
    assert loss == {"key": "loss", "a": 0.3, "b": None, "delta": None, "changed": True}


def test_runs_delete_and_restore_commit(store: Store, cli: CliRunner) -> None:
    before = commit_count(store.root)
    deleted = ok(invoke(cli, "runs", "delete", store.first[:8]))
    assert deleted.stdout == (
        f"Deleted run {store.first} (restore with `mltrack runs restore {store.first[:8]}`).\n"
    )
    assert commit_count(store.root) == before + 1
    assert yamlio.load(run_yaml(store, store.first).read_bytes())["lifecycle_stage"] == "deleted"
    # A deleted run can still be named by prefix, to restore it.
    ok(invoke(cli, "runs", "restore", store.first[:8]))
    assert yamlio.load(run_yaml(store, store.first).read_bytes())["lifecycle_stage"] == "active"
    assert commit_count(store.root) == before + 2
    assert git(store.root, "status", "--porcelain") == ""
    # The commits say what happened; `mltrack log` shows them as such.
    assert git(store.root, "log", "-2", "--format=%s").splitlines() == [
        "Restore run first in demo",
        "Delete run first in demo",
    ]
    timeline = ok(invoke(cli, "log", "-n", "2")).stdout
    assert "Restore run first in demo" in timeline and "Delete run first in demo" in timeline
    assert "zzzz" in fails(invoke(cli, "runs", "delete", "zzzz"))


# ---------------------------------------------------------------------- metrics


def test_metrics_history(store: Store, cli: CliRunner) -> None:
    table = ok(invoke(cli, "metrics", store.first[:8], "acc")).stdout.splitlines()
    assert table[0].split() == ["step", "value", "timestamp"]
    assert [line.split()[:2] for line in table[1:]] == [["1", "0.5"], ["2", "0.7"]]
    result = ok(invoke(cli, "metrics", store.first, "acc", "--format", "json"))
    assert result.stdout == canonical(result.stdout)
    points = strict_json(result.stdout)
    assert [(p["step"], p["value"]) for p in points] == [(1, 0.5), (2, 0.7)]
    assert all(isinstance(p["timestamp"], int) for p in points)
    rows = list(
        csv.DictReader(
            io.StringIO(ok(invoke(cli, "metrics", store.first, "acc", "--format", "csv")).stdout)
        )
    )
    assert [r["value"] for r in rows] == ["0.5", "0.7"]


def test_metrics_plot_writes_a_png(store: Store, cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "acc.png"
    result = ok(invoke(cli, "metrics", store.first[:8], "acc", "--plot", str(target)))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.stderr == f"Plot written to {target}\n"
    assert "0.7" in result.stdout


def test_metrics_plot_into_a_missing_directory(
    store: Store, cli: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "missing" / "acc.png"
    error = fails(invoke(cli, "metrics", store.first[:8], "acc", "--plot", str(target)))
    assert error == f"Error: Cannot write the plot to {target}: No such file or directory."


def test_metrics_unknown_key_lists_the_known_ones(
    store: Store, cli: CliRunner, tmp_path: Path
) -> None:
    error = fails(
        invoke(cli, "metrics", store.first[:8], "accuracy", "--plot", str(tmp_path / "x.png"))
    )
    assert "'accuracy'" in error and "acc, loss" in error
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------------- log and diff


def test_log_rebuilds_the_timeline_from_commits(store: Store, cli: CliRunner) -> None:
    lines = ok(invoke(cli, "log")).stdout.splitlines()
    heads = [line for line in lines if not line.startswith("    ")]
    assert len(heads) == 2
    assert "Run second: FINISHED in demo" in heads[0] and f"[run {store.second[:8]}" in heads[0]
    assert f"code {store.code_commit[:10]}]" in heads[1]
    assert "    metrics: acc=0.7, loss=0.3; params: lr=0.1" in lines

    result = ok(invoke(cli, "log", "--format", "json"))
    assert result.stdout == canonical(result.stdout)
    entries = strict_json(result.stdout)
    assert [e["run_id"] for e in entries] == [store.second, store.first]
    assert {e["code_commit"] for e in entries} == {store.code_commit}
    assert entries[0]["commit"] == git(store.root, "rev-parse", "HEAD").strip()
    assert [
        e["run_id"]
        for e in strict_json(ok(invoke(cli, "log", "-n", "1", "--format", "json")).stdout)
    ] == [store.second]
    rows = list(csv.DictReader(io.StringIO(ok(invoke(cli, "log", "--format", "csv")).stdout)))
    assert [r["status"] for r in rows] == ["FINISHED", "FINISHED"]


def test_log_shows_new_code_commits(store: Store, cli: CliRunner) -> None:
    import mltrack

    (store.root / "train.py").write_text("print('training v2')\n")
    git(store.root, "commit", "-qam", "Tune training")
    new_code = git(store.root, "rev-parse", "HEAD").strip()
    with mltrack.start_run(run_name="third"):
        mltrack.log_metric("acc", 0.95)
    entries = strict_json(ok(invoke(cli, "log", "--format", "json")).stdout)
    assert [e["code_commit"] for e in entries] == [new_code, store.code_commit, store.code_commit]


def test_log_in_an_empty_repository(empty_repo: Path, cli: CliRunner) -> None:
    assert ok(invoke(cli, "log")).stdout == "No runs committed yet.\n"


def test_diff_between_revisions(store: Store, cli: CliRunner) -> None:
    table = ok(invoke(cli, "diff", "HEAD~1", "HEAD")).stdout
    assert "experiment demo" in table
    assert "added" in table and store.second in table

    result = ok(invoke(cli, "diff", "HEAD~1", "HEAD", "--format", "json"))
    assert result.stdout == canonical(result.stdout)
    data = strict_json(result.stdout)
    assert data["a"] == {
        "label": "HEAD~1",
        "commit": git(store.root, "rev-parse", "HEAD~1").strip(),
    }
    assert [r["run_id"] for r in data["added"]] == [store.second]
    (comparison,) = data["experiments"]
    assert comparison["a"]["run_id"] == store.first and comparison["b"]["run_id"] == store.second

    # REV_B defaults to the working tree.
    worktree = strict_json(ok(invoke(cli, "diff", "HEAD~1", "--format", "json")).stdout)
    assert worktree["b"] == {"label": "working tree", "commit": None}
    assert worktree["added"] == data["added"]

    assert ok(invoke(cli, "diff", "HEAD", "HEAD")).stdout == "No run changes.\n"
    same = ok(invoke(cli, "diff", "HEAD", "HEAD", "--format", "markdown")).stdout
    assert same == "### mltrack: `HEAD` → `HEAD`\n\nNo run changes.\n"


def test_diff_markdown_for_a_pull_request(store: Store, cli: CliRunner) -> None:
    text = ok(invoke(cli, "diff", "HEAD~1", "HEAD", "--format", "markdown")).stdout
    assert text.startswith("### mltrack: `HEAD~1` → `HEAD`\n")
    assert "| **metrics.acc** | 0.7 | 0.9 | +0.2 |" in text
    assert "| **params.lr** | 0.1 | 0.2 | |" in text
    assert f"| second (`{store.second[:8]}`) | FINISHED | acc=0.9 |" in text


def test_diff_markdown_escapes_pipes(repo: Path, cli: CliRunner) -> None:
    import mltrack

    with mltrack.start_run(run_name="a"):
        mltrack.log_param("layers", "conv|pool")
    with mltrack.start_run(run_name="b|c") as run:
        mltrack.log_param("layers", "conv|pool|fc")
    text = ok(invoke(cli, "diff", "HEAD~1", "HEAD", "--format", "markdown")).stdout
    row = next(line for line in text.splitlines() if "params.layers" in line)
    assert row == r"| **params.layers** | conv\|pool | conv\|pool\|fc | |"
    assert r"| | `HEAD~1`: a | `HEAD`: b\|c | Δ |" in text
    assert f"| b\\|c (`{run.info.run_id[:8]}`) | FINISHED |  |" in text
    # Every table row has exactly its columns once escaped pipes are ignored.
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.replace(r"\|", "").count("|") in (4, 5), line


def test_diff_unknown_revision(store: Store, cli: CliRunner) -> None:
    error = fails(invoke(cli, "diff", "no-such-branch"))
    assert "no-such-branch" in error


# ---------------------------------------------------------------------- commit


def test_commit_with_auto_commit_off(repo: Path, cli: CliRunner) -> None:
    import mltrack

    ok(invoke(cli, "init"))
    settings = repo / ".mltrack/mltrack.yaml"
    settings.write_bytes(yamlio.dump({**yamlio.load(settings.read_bytes()), "auto_commit": False}))
    before = commit_count(repo)
    mltrack.set_experiment("offline")
    ids = []
    for name in ("one", "two"):
        with mltrack.start_run(run_name=name) as run:
            mltrack.log_metric("m", 1.0)
        ids.append(run.info.run_id)
    assert commit_count(repo) == before
    assert ".mltrack/" in git(repo, "status", "--porcelain")

    result = ok(invoke(cli, "commit"))
    # One commit per run (the first also carries the new experiment), then one for the
    # edited settings: a run's commit never sweeps up a settings change.
    assert result.stdout == "Committed 2 run(s) and other store changes.\n"
    assert commit_count(repo) == before + 3
    assert git(repo, "log", "-1", "--format=%s").strip() == "Update mltrack store"
    assert git(repo, "status", "--porcelain") == ""
    trailers = git(repo, "log", "-3", "--format=%(trailers:key=Mltrack-Run,valueonly)%x00")
    assert sorted(t.strip() for t in trailers.split("\0") if t.strip()) == sorted(ids)
    # Nothing left to do: a second commit is a no-op.
    assert ok(invoke(cli, "commit")).stdout == "Committed 0 run(s).\n"
    assert commit_count(repo) == before + 3


def test_user_changes_survive_run_commits(repo: Path, cli: CliRunner) -> None:
    """Staged, unstaged and untracked files of the user are left exactly as they were."""
    import mltrack

    (repo / "train.py").write_text("print('staged')\n")
    git(repo, "add", "train.py")
    (repo / "train.py").write_text("print('unstaged')\n")
    (repo / "notes.txt").write_text("untracked\n")
    status, staged = git(repo, "status", "--porcelain"), git(repo, "diff", "--cached")
    with mltrack.start_run(run_name="dirty") as run:
        mltrack.log_metric("m", 1.0)
    ok(invoke(cli, "runs", "delete", run.info.run_id[:8]))
    ok(invoke(cli, "gc"))
    assert git(repo, "status", "--porcelain") == status
    assert git(repo, "diff", "--cached") == staged
    assert (repo / "train.py").read_text() == "print('unstaged')\n"
    changed = git(repo, "log", "--format=", "--name-only", "-3").split()
    assert changed and all(path.startswith(".mltrack/") for path in changed)


def test_commit_records_a_killed_process(repo: Path, cli: CliRunner) -> None:
    script = (
        "import os, mltrack\n"
        "from mltrack.store.runs import flush_all_live_runs\n"
        "run = mltrack.start_run(run_name='crashed')\n"
        "mltrack.log_metric('loss', 1.0)\n"
        "flush_all_live_runs()\n"
        "print(run.info.run_id)\n"
        "os._exit(1)  # no atexit: like kill -9\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, env=env, capture_output=True, text=True
    )
    run_id = done.stdout.strip()
    assert len(run_id) == 32, done.stderr
    listed = strict_json(ok(invoke(cli, "runs", "list", "--format", "json")).stdout)
    assert [(r["info"]["run_id"], r["info"]["status"]) for r in listed] == [(run_id, "KILLED")]

    result = ok(invoke(cli, "commit"))
    assert result.stdout == (
        f"Run {run_id}: its process is gone; recorded as KILLED.\nCommitted 1 run(s).\n"
    )
    assert git(repo, "log", "-1", "--format=%s") == "Run crashed: KILLED in Default\n"
    assert git(repo, "status", "--porcelain") == ""
    stored = yamlio.load(
        next(repo.glob(f".mltrack/experiments/0/runs/{run_id}/run.yaml")).read_bytes()
    )
    assert stored["status"] == "KILLED" and stored["end_time"] >= stored["start_time"]
    assert stored["metrics"]["loss"]["value"] == 1.0


# ---------------------------------------------------------------------- fsck and gc


def test_fsck_clean(store: Store, cli: CliRunner) -> None:
    result = ok(invoke(cli, "fsck"))
    assert result.stdout == "No problems found.\n"
    assert strict_json(ok(invoke(cli, "fsck", "--format", "json")).stdout) == []


def test_fsck_reports_file_and_field(store: Store, cli: CliRunner) -> None:
    path = run_yaml(store, store.first)
    document = yamlio.load(path.read_bytes())
    document["status"] = "DONE"
    path.write_bytes(yamlio.dump(document))
    result = invoke(cli, "fsck")
    assert result.exit_code == 1
    assert "Traceback" not in result.stdout + result.stderr
    relative = path.relative_to(store.root).as_posix()
    assert f"{relative}: field 'status'" in result.stdout
    assert result.stdout.endswith("1 problem(s) found.\n")
    problems = strict_json(invoke(cli, "fsck", "--format", "json").stdout)
    assert [p["path"] for p in problems] == [relative]
    assert "field 'status'" in problems[0]["problem"]


def test_fsck_reports_unparseable_yaml_and_leftover_temp_files(
    store: Store, cli: CliRunner
) -> None:
    path = run_yaml(store, store.second)
    path.write_text("run_id: [unclosed\n")
    (path.parent / ".run.yaml.tmp-1-2").write_text("half")
    result = invoke(cli, "fsck")
    assert result.exit_code == 1
    assert "not valid YAML" in result.stdout
    assert "temporary file left by an interrupted write" in result.stdout
    assert "2 problem(s) found." in result.stdout


def test_fsck_checks_again_what_changed_since_it_last_passed(store: Store, cli: CliRunner) -> None:
    # fsck remembers the files it found sound (by inode, size, mtime and ctime) and reads only
    # the others again; a file changed since is checked again, a broken one reported.
    assert ok(invoke(cli, "fsck")).stdout == "No problems found.\n"
    time.sleep(1.1)  # past the stamp's racy window, so the first fsck's verdicts are kept
    assert ok(invoke(cli, "fsck")).stdout == "No problems found.\n"
    arrow = run_yaml(store, store.first).with_name("metrics.arrow")
    arrow.write_bytes(b"ARROW1 but not really")
    path = run_yaml(store, store.second)
    path.write_text(path.read_text().replace("status: FINISHED", "status: DONE"))
    result = invoke(cli, "fsck")
    assert result.exit_code == 1
    assert f"{arrow.relative_to(store.root).as_posix()}: not a readable Arrow IPC file" in (
        result.stdout
    )
    assert "field 'status'" in result.stdout
    assert result.stdout.endswith("2 problem(s) found.\n")


def test_gc_dry_run_then_for_real(store: Store, cli: CliRunner) -> None:
    ok(invoke(cli, "runs", "delete", store.first[:8]))
    run_dir = run_yaml(store, store.first).parent
    head = git(store.root, "rev-parse", "HEAD")
    dry = ok(invoke(cli, "gc", "--dry-run"))
    assert (
        dry.stdout
        == f"Would remove run {store.first}\nWould remove 1 run(s) and 0 experiment(s).\n"
    )
    assert run_dir.is_dir() and git(store.root, "rev-parse", "HEAD") == head

    result = ok(invoke(cli, "gc"))
    assert result.stdout.startswith(
        f"Removed run {store.first}\nRemoved 1 run(s) and 0 experiment(s) (commit "
    )
    assert not run_dir.exists()
    assert git(store.root, "rev-list", "--count", f"{head.strip()}..HEAD") == "1\n"
    assert git(store.root, "status", "--porcelain") == ""
    # History keeps the run.
    relative = run_yaml(store, store.first).relative_to(store.root).as_posix()
    assert store.first in git(store.root, "show", f"HEAD~1:{relative}")
    assert names_in(ok(invoke(cli, "runs", "list", "--view", "all", "--format", "json"))) == [
        "second"
    ]
    assert ok(invoke(cli, "gc")).stdout == "Removed 0 run(s) and 0 experiment(s).\n"


def test_gc_removes_deleted_experiments(store: Store, cli: CliRunner) -> None:
    ok(invoke(cli, "experiments", "delete", "demo"))
    result = ok(invoke(cli, "gc"))
    assert "Removed 2 run(s) and 1 experiment(s)" in result.stdout
    assert not (store.root / f".mltrack/experiments/{store.experiment_id}").exists()
    fails(invoke(cli, "gc", "--older-than", "soon"), code=2)


# ---------------------------------------------------------------------- version, help, usage


def test_version(cli: CliRunner) -> None:
    import mltrack

    result = ok(invoke(cli, "--version"))
    assert result.stdout == f"mltrack, version {mltrack.__version__}\n"


def command_paths() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    from mltrack.cli import cli as root

    def walk(
        command: click.Command, path: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
        yield path, command
        if isinstance(command, click.Group):
            for name, sub in sorted(command.commands.items()):
                yield from walk(sub, (*path, name))

    yield from walk(root, ())


@pytest.mark.parametrize(
    ("path", "command"),
    list(command_paths()),
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_every_command_has_help(
    path: tuple[str, ...], command: click.Command, cli: CliRunner
) -> None:
    assert (command.help or "").strip(), f"`mltrack {' '.join(path)}` has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), (
                f"`mltrack {' '.join(path)}` option {param.opts} has no help"
            )
    result = ok(invoke(cli, *path, "--help"))
    assert result.stdout.startswith(f"Usage: mltrack {' '.join(path)}".rstrip())
    assert (
        command.help.split(".")[0].split() == result.stdout.split("\n\n")[1].split(".")[0].split()
    )
    assert result.stderr == ""


def test_every_registered_command_is_listed_in_the_top_level_help(cli: CliRunner) -> None:
    from mltrack.cli import cli as root

    text = ok(invoke(cli, "--help")).stdout
    for name, command in root.commands.items():
        assert (f"  {name} " in text) != command.hidden, name


@pytest.mark.parametrize(
    "args",
    [
        ("no-such-command",),
        ("runs",),
        ("runs", "show"),
        ("runs", "diff", "abcd"),
        ("metrics", "abcd"),
        ("experiments", "rename", "x"),
        ("runs", "list", "--view", "sometimes"),
        ("--no-such-flag",),
    ],
)
def test_usage_errors_exit_2(repo: Path, cli: CliRunner, args: tuple[str, ...]) -> None:
    result = invoke(cli, *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Usage: mltrack" in result.stderr
    assert "Traceback" not in result.stderr


def test_traceback_flag_is_hidden_but_works(store: Store, cli: CliRunner) -> None:
    from mltrack.exceptions import ResourceDoesNotExist

    assert "--traceback" not in ok(invoke(cli, "--help")).stdout
    with pytest.raises(ResourceDoesNotExist):
        invoke(cli, "--traceback", "runs", "show", "zzzz")


def test_corrupt_run_is_one_warning_and_the_others_still_list(store: Store, cli: CliRunner) -> None:
    run_yaml(store, store.first).write_text("status: [\n")
    for _ in range(3):  # repeated in-process invocations must not stack up handlers
        result = ok(invoke(cli, "runs", "list", "--format", "json"))
        assert names_in(result) == ["second"]
        warnings = result.stderr.splitlines()
        assert len(warnings) == 1, result.stderr
        assert warnings[0].startswith("Warning: skipping unreadable run: ")
        assert "mltrack fsck" in warnings[0]


# ---------------------------------------------------------------------- a real process


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run(
        [sys.executable, "-m", "mltrack", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_subprocess_runs_list_json(store: Store) -> None:
    done = run_cli(store.root, "runs", "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == canonical(done.stdout)
    assert {r["info"]["run_id"] for r in strict_json(done.stdout)} == {store.first, store.second}
    # Piped, the table is plain text without terminal escapes.
    table = run_cli(store.root, "runs", "list")
    assert table.returncode == 0 and "\x1b[" not in table.stdout


def test_subprocess_exit_codes(store: Store, tmp_path: Path) -> None:
    missing = run_cli(store.root, "runs", "show", "zzzz")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr.startswith("Error: No run id starts with 'zzzz'")
    usage = run_cli(store.root, "runs", "list", "--bogus")
    assert usage.returncode == 2 and "No such option" in usage.stderr
    outside = run_cli(tmp_path, "runs", "list")
    assert outside.returncode == 1 and "git init" in outside.stderr
    assert "Traceback" not in missing.stderr + usage.stderr + outside.stderr
    path = run_yaml(store, store.first)
    path.write_text(path.read_text().replace("status: FINISHED", "status: DONE"))
    fsck = run_cli(store.root, "fsck")
    assert fsck.returncode == 1 and "field 'status'" in fsck.stdout


def test_textconv_prints_metrics_as_text(store: Store) -> None:
    arrow = run_yaml(store, store.first).with_name("metrics.arrow")
    relative = arrow.relative_to(store.root).as_posix()
    shown = git(store.root, "show", "--textconv", f"HEAD:{relative}")
    lines = shown.splitlines()
    assert lines[0] == "key\tstep\ttimestamp\tvalue"
    assert [line.split("\t")[:2] for line in lines[1:]] == [
        ["acc", "1"],
        ["acc", "2"],
        ["loss", "2"],
    ]
