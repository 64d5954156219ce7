"""Two clones log runs offline, then pull from each other: git merges them without conflicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import git, invoke, reset_mltrack
from mltrack import MltrackClient


@pytest.fixture
def origin(repo: Path, cli) -> Path:
    """The team's repository, with the store initialised and committed."""
    assert invoke(cli, "init").exit_code == 0
    return repo


def clone(source: Path, path: Path) -> Path:
    git(source.parent, "clone", "-q", str(source), str(path))
    return path


def log_runs(
    where: Path, monkeypatch: pytest.MonkeyPatch, experiment: str | None, names: list[str]
) -> list[str]:
    """Log one run per name in ``where`` with the fluent API (as a training script would)."""
    import mltrack

    reset_mltrack()
    monkeypatch.chdir(where)
    if experiment is not None:
        mltrack.set_experiment(experiment)
    run_ids = []
    for number, name in enumerate(names):
        with mltrack.start_run(run_name=name) as run:
            mltrack.log_param("clone", where.name)
            mltrack.log_metric("score", float(number), step=number)
        run_ids.append(run.info.run_id)
    reset_mltrack()
    return run_ids


def pull(into: Path, source: Path, *options: str) -> None:
    git(into, "pull", "-q", *options, str(source), "main")
    assert "onflict" not in git(into, "status")
    assert git(into, "status", "--porcelain") == ""


def listed_runs(cli, where: Path) -> dict[str, str]:
    """run_id → experiment_id, as ``mltrack runs list`` shows them."""
    result = invoke(cli, "-C", str(where), "runs", "list", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return {r["info"]["run_id"]: r["info"]["experiment_id"] for r in json.loads(result.stdout)}


def listed_experiments(cli, where: Path) -> list[str]:
    result = invoke(cli, "-C", str(where), "experiments", "list", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return sorted(e["name"] for e in json.loads(result.stdout))


def sound(where: Path) -> None:
    assert git(where, "fsck", "--strict", "--no-progress", "--no-dangling").strip() == ""


@pytest.mark.parametrize("how", ["--no-rebase", "--rebase"])
def test_same_experiment_in_two_clones_merges_without_conflict(
    origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli, how: str
) -> None:
    a = clone(origin, tmp_path / "a")
    b = clone(origin, tmp_path / "b")
    runs_a = log_runs(a, monkeypatch, "shared", ["a1", "a2"])
    runs_b = log_runs(b, monkeypatch, "shared", ["b1", "b2", "b3"])

    pull(a, b, how)
    pull(b, a, how)

    everything = set(runs_a + runs_b)
    for where in (a, b):
        listed = listed_runs(cli, where)
        assert set(listed) == everything
        assert len(set(listed.values())) == 1  # one experiment id for "shared"
        assert listed_experiments(cli, where) == ["Default", "shared"]
        client = MltrackClient(str(where))
        experiment = client.get_experiment_by_name("shared")
        found = client.search_runs([experiment.experiment_id], "params.clone = 'b'")
        assert {r.info.run_id for r in found} == set(runs_b)
        assert len(client.get_metric_history(runs_a[1], "score")) == 1
        sound(where)
    assert git(a, "rev-parse", "HEAD") == git(b, "rev-parse", "HEAD")
    log = invoke(cli, "-C", str(a), "log", "--format", "json")
    assert {e["run_id"] for e in json.loads(log.stdout)} == everything


def test_different_experiments_in_two_clones_both_survive(
    origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    a = clone(origin, tmp_path / "a")
    b = clone(origin, tmp_path / "b")
    runs_a = log_runs(a, monkeypatch, "alpha", ["a1"])
    runs_b = log_runs(b, monkeypatch, "beta", ["b1"])

    pull(a, b, "--no-rebase")
    pull(b, a, "--no-rebase")

    for where in (a, b):
        listed = listed_runs(cli, where)
        assert set(listed) == set(runs_a + runs_b)
        assert listed[runs_a[0]] != listed[runs_b[0]]
        assert listed_experiments(cli, where) == ["Default", "alpha", "beta"]
        sound(where)


def test_default_experiment_runs_merge(
    origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    a = clone(origin, tmp_path / "a")
    b = clone(origin, tmp_path / "b")
    runs_a = log_runs(a, monkeypatch, None, ["a1", "a2"])
    runs_b = log_runs(b, monkeypatch, None, ["b1"])

    pull(b, a, "--no-rebase")
    pull(a, b, "--no-rebase")

    for where in (a, b):
        listed = listed_runs(cli, where)
        assert listed == dict.fromkeys(runs_a + runs_b, "0")
        assert listed_experiments(cli, where) == ["Default"]
        sound(where)


def test_clones_of_a_repository_without_a_store_merge_their_new_stores(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    """Nobody ran ``mltrack init``: both clones create .mltrack/ with identical files."""
    a = clone(repo, tmp_path / "a")
    b = clone(repo, tmp_path / "b")
    runs_a = log_runs(a, monkeypatch, "shared", ["a1"])
    runs_b = log_runs(b, monkeypatch, None, ["b1"])

    pull(a, b, "--no-rebase")
    pull(b, a, "--no-rebase")

    for where in (a, b):
        assert set(listed_runs(cli, where)) == set(runs_a + runs_b)
        assert listed_experiments(cli, where) == ["Default", "shared"]
        sound(where)


@pytest.mark.parametrize("how", ["--no-rebase", "--rebase"])
def test_the_same_experiment_made_in_two_clones_keeps_the_earlier_creation_time(
    origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """experiment.yaml records when it was made: the two files differ in that one key, and
    mltrack's merge driver (declared by ``mltrack init``) keeps the earlier time."""
    import mltrack.store.repository as repository

    a = clone(origin, tmp_path / "a")
    b = clone(origin, tmp_path / "b")
    made = {}
    for where, created in ((a, 5000), (b, 4000)):
        with monkeypatch.context() as clock:
            clock.setattr(repository, "now_ms", lambda created=created: created)
            made[where] = MltrackClient(str(where)).create_experiment("shared", tags={"k": "v"})
        reset_mltrack()
    assert made[a] == made[b]

    pull(a, b, how)

    experiment = MltrackClient(str(a)).get_experiment(made[a])
    assert experiment.creation_time == 4000 and experiment.tags == {"k": "v"}
    sound(a)


def test_init_declares_the_experiment_merge_driver_in_an_older_store(origin: Path, cli) -> None:
    attributes = origin / ".mltrack" / ".gitattributes"
    older = "".join(
        line for line in attributes.read_text().splitlines(True) if "experiment" not in line
    )
    attributes.write_text(older)
    assert invoke(cli, "init").exit_code == 0
    assert "experiments/*/experiment.yaml merge=mltrack-model" in attributes.read_text()
