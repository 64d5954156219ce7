"""The per-clone read cache (``.git/mltrack/cache/``) never serves stale runs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from conftest import git, invoke, reset_mltrack, run_python
from mltrack import MltrackClient
from mltrack.exceptions import ResourceDoesNotExist


def one_run(name: str, optimizer: str = "adam", score: float = 1.0) -> str:
    import mltrack

    with mltrack.start_run(run_name=name) as run:
        mltrack.log_param("optimizer", optimizer)
        mltrack.log_metric("score", score)
    return run.info.run_id


def optimizers(*, cold: bool, filter_string: str = "", rev: str | None = None) -> dict[str, str]:
    """run_id → params.optimizer as a search sees it; ``cold`` reloads the cache from disk."""
    if cold:
        reset_mltrack()  # closes the repository, which saves the cache; the next read loads it
    records = MltrackClient().search_run_records(None, filter_string, rev=rev)
    return {r.run_id: r.params["optimizer"] for r in records}


def run_yaml_path(root: Path, run_id: str) -> Path:
    [path] = root.glob(f".mltrack/experiments/*/runs/{run_id}/run.yaml")
    return path


def age(*paths: Path, seconds: int = 60) -> None:
    """Make files look long untouched, so their cache entries are fully trusted."""
    past = time.time() - seconds
    for path in paths:
        os.utime(path, (past, past))


def all_run_files(root: Path) -> list[Path]:
    return list(root.glob(".mltrack/experiments/*/runs/*/run.yaml"))


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_a_new_run_is_found_at_once(repo: Path, cold: bool) -> None:
    first = one_run("first")
    age(*all_run_files(repo))
    assert optimizers(cold=cold) == {first: "adam"}

    second = one_run("second", "sgd")
    by_other_process = run_python(
        "import mltrack\n"
        "with mltrack.start_run() as run:\n"
        "    mltrack.log_param('optimizer', 'lbfgs')\n"
        "print(run.info.run_id)\n",
        repo,
    ).stdout.strip()

    assert optimizers(cold=cold) == {first: "adam", second: "sgd", by_other_process: "lbfgs"}
    assert list(optimizers(cold=cold, filter_string="params.optimizer = 'sgd'")) == [second]


def test_a_running_run_is_searchable_before_any_flush(repo: Path) -> None:
    import mltrack

    optimizers(cold=False)
    with mltrack.start_run() as run:
        mltrack.log_param("optimizer", "adam")
        mltrack.log_metric("score", 0.5)
        found = MltrackClient().search_run_records(None, "metrics.score = 0.5")
        assert [r.run_id for r in found] == [run.info.run_id]


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_checkout_of_an_older_commit_hides_later_runs_and_back(repo: Path, cold: bool) -> None:
    first = one_run("first")
    older = git(repo, "rev-parse", "HEAD").strip()
    second = one_run("second", "sgd")
    age(*all_run_files(repo))
    assert optimizers(cold=cold) == {first: "adam", second: "sgd"}

    git(repo, "checkout", "-q", older)
    assert optimizers(cold=cold) == {first: "adam"}
    assert optimizers(cold=cold, filter_string="params.optimizer = 'sgd'") == {}
    with pytest.raises(ResourceDoesNotExist):
        MltrackClient().get_run(second)

    git(repo, "checkout", "-q", "main")
    assert optimizers(cold=cold) == {first: "adam", second: "sgd"}
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_checkout_of_a_commit_where_a_run_had_other_values(repo: Path, cold: bool) -> None:
    """Same run, same file size, different content at two commits."""
    run_id = one_run("r", "adam")
    path = run_yaml_path(repo, run_id)
    path.write_text(path.read_text().replace("optimizer: adam", "optimizer: sgdm"))
    git(repo, "commit", "-q", "-am", "Correct the optimizer")
    age(path)
    assert optimizers(cold=cold) == {run_id: "sgdm"}

    git(repo, "checkout", "-q", "HEAD~1")
    age(path)  # even with an old mtime (as `git checkout` of an old file may look)

    assert optimizers(cold=cold) == {run_id: "adam"}


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_a_merge_brings_its_runs_into_search(repo: Path, cold: bool) -> None:
    on_main = one_run("main-run")
    git(repo, "checkout", "-q", "-b", "feature", "HEAD~1")
    reset_mltrack()
    on_feature = one_run("feature-run", "sgd")
    git(repo, "checkout", "-q", "main")
    reset_mltrack()
    age(*all_run_files(repo))
    assert optimizers(cold=cold) == {on_main: "adam"}

    git(repo, "merge", "-q", "--no-edit", "feature")

    assert optimizers(cold=cold) == {on_main: "adam", on_feature: "sgd"}
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
@pytest.mark.parametrize(
    ("new_value", "keep_mtime"),
    [("sgdm", False), ("rmsprop", False), ("sgdm", True)],
    ids=["same-length", "other-length", "same-length-mtime-restored"],
)
def test_a_hand_edit_of_run_yaml_is_seen(
    repo: Path, cold: bool, new_value: str, keep_mtime: bool
) -> None:
    run_id = one_run("edited", "adam")
    path = run_yaml_path(repo, run_id)
    age(path)
    assert optimizers(cold=cold) == {run_id: "adam"}
    before = os.stat(path)

    with open(path, "r+", encoding="utf-8") as handle:  # in place: same inode
        text = handle.read().replace("optimizer: adam", f"optimizer: {new_value}")
        handle.seek(0)
        handle.write(text)
        handle.truncate()
    if keep_mtime:  # as `touch -r`, `cp -p` or an editor that preserves times would
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_ino == before.st_ino

    assert optimizers(cold=cold) == {run_id: new_value}
    assert optimizers(cold=cold, filter_string=f"params.optimizer = '{new_value}'") == {
        run_id: new_value
    }
    assert MltrackClient().get_run(run_id).data.params == {"optimizer": new_value}


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["mtime-moved", "mtime-restored"])
def test_an_edit_in_the_first_second_after_a_read_is_seen(repo: Path, keep_mtime: bool) -> None:
    # No ageing: the entries are as fresh as a just-cloned repository's, so only the bytes
    # can tell an unchanged file from a same-size edit in the same clock tick.
    run_id = one_run("fresh", "adam")
    path = run_yaml_path(repo, run_id)
    assert optimizers(cold=True) == {run_id: "adam"}
    before = os.stat(path)
    with open(path, "r+", encoding="utf-8") as handle:
        text = handle.read().replace("optimizer: adam", "optimizer: sgdm")
        handle.seek(0)
        handle.write(text)
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert optimizers(cold=True) == {run_id: "sgdm"}
    assert optimizers(cold=False) == {run_id: "sgdm"}


def test_files_read_in_their_first_second_are_not_parsed_again(repo: Path, tmp_path: Path) -> None:
    # A fresh clone: every run.yaml was written a moment ago. Its first listing parses them;
    # a second read (get_experiment_by_name then search_runs, in one script) must not.
    from mltrack.store.repository import Repository

    for number in range(3):
        one_run(f"r{number}")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    opened = Repository.open(clone)
    try:
        first = opened.runs.index.records(None)
        second = opened.runs.index.records(None)
    finally:
        opened.close()
    assert len(first) == 3
    assert all(a is b for a, b in zip(first, second, strict=True))


def test_the_cache_lives_in_git_dir_and_is_never_committed(repo: Path, cli) -> None:
    for number in range(3):
        one_run(f"r{number}")
    optimizers(cold=True)
    assert invoke(cli, "runs", "list", "--rev", "HEAD~1").exit_code == 0
    reset_mltrack()

    cache = repo / ".git" / "mltrack" / "cache"
    assert {p.name for p in cache.iterdir()} >= {"runs-v3.pickle", "blobs-v1.pickle"}
    tracked = git(repo, "ls-files") + git(repo, "ls-tree", "-r", "--name-only", "HEAD")
    assert "cache" not in tracked and "pickle" not in tracked
    assert all(
        name.startswith((".mltrack/experiments/", ".mltrack/mltrack.yaml", ".mltrack/.git"))
        or not name.startswith(".mltrack")
        for name in tracked.splitlines()
    )
    assert git(repo, "status", "--porcelain", "--ignored") == ""


def test_a_damaged_cache_is_a_cold_cache(repo: Path) -> None:
    run_id = one_run("r")
    optimizers(cold=True)
    for cached in (repo / ".git" / "mltrack" / "cache").iterdir():
        cached.write_bytes(b"not a pickle")

    assert optimizers(cold=True) == {run_id: "adam"}


def test_reads_at_any_revision(repo: Path, cli) -> None:
    first = one_run("first", "adam", 1.0)
    second = one_run("second", "sgd", 2.0)
    git(repo, "tag", "with-two")
    third = one_run("third", "lbfgs", 3.0)
    path = run_yaml_path(repo, first)
    path.write_text(path.read_text().replace("optimizer: adam", "optimizer: edit"))

    assert optimizers(cold=False, rev="HEAD~1") == {first: "adam", second: "sgd"}
    assert optimizers(cold=True, rev="HEAD~1") == {first: "adam", second: "sgd"}
    assert optimizers(cold=False, rev="HEAD~2") == {first: "adam"}
    assert optimizers(cold=False, rev="with-two", filter_string="metrics.score > 1") == {
        second: "sgd"
    }
    assert optimizers(cold=False, rev="HEAD") == {first: "adam", second: "sgd", third: "lbfgs"}
    assert optimizers(cold=False) == {first: "edit", second: "sgd", third: "lbfgs"}  # the files
    client = MltrackClient()
    found = client.search_run_records(None, rev="HEAD~1", order_by=["metrics.score DESC"])
    assert [r.run_id for r in found] == [second, first]

    result = invoke(cli, "runs", "list", "--rev", "HEAD~1", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert {r["info"]["run_id"] for r in json.loads(result.stdout)} == {first, second}
    shown = invoke(cli, "runs", "show", first[:8], "--rev", "HEAD~2", "--format", "json")
    assert json.loads(shown.stdout)["data"]["params"] == {"optimizer": "adam"}
    missing = invoke(cli, "runs", "list", "--rev", "no-such-rev")
    assert missing.exit_code == 1 and "unknown revision 'no-such-rev'" in missing.stderr
