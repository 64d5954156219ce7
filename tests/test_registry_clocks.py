"""When a registered model and its versions were created and last changed, in ms, as MLflow.

MLflow's server tests compare these with the client's clock in ms
(``assert rm.creation_timestamp >= start_time``): a time read from ``git log``, in whole
seconds, is up to a second early. model.yaml records them; a file written without them (by
an earlier mltrack) still reads, from git history.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import git

NAME = "clocked"
YAML = f".mltrack/models/{NAME}/model.yaml"


@pytest.fixture
def registry(repo: Path):  # type: ignore[no-untyped-def]
    from mltrack import MltrackClient

    return MltrackClient().registry


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The registry's clock: ms with a non-zero ms part, one tick per read; ``ticks[-1]`` is
    the last time it gave."""
    import mltrack.store.model_store as model_store

    ticks: list[int] = []
    counter = itertools.count(1_800_000_000_123, 1_001)

    def fake() -> int:
        ticks.append(next(counter))
        return ticks[-1]

    monkeypatch.setattr(model_store, "now_ms", fake)
    yield ticks


def test_a_registered_model_records_its_times_in_ms(repo: Path, registry, clock) -> None:  # type: ignore[no-untyped-def]
    created = registry.create_registered_model(NAME)
    made = clock[-1]
    assert (created.creation_timestamp, created.last_updated_timestamp) == (made, made)
    read = registry.get_registered_model(NAME)
    assert (read.creation_timestamp, read.last_updated_timestamp) == (made, made)
    stored = yaml.safe_load((repo / YAML).read_text())
    assert (stored["creation_timestamp"], stored["last_updated_timestamp"]) == (made, made)

    registry.update_registered_model(NAME, description="new")
    described = clock[-1]
    model = registry.get_registered_model(NAME)
    assert (model.creation_timestamp, model.last_updated_timestamp) == (made, described)

    registry.rename_registered_model(NAME, "renamed")
    renamed = clock[-1]
    model = registry.get_registered_model("renamed")
    assert (model.creation_timestamp, model.last_updated_timestamp) == (made, renamed)


def test_versions_change_the_times_mlflow_changes(repo: Path, registry, clock) -> None:  # type: ignore[no-untyped-def]
    registry.create_registered_model(NAME)
    made = clock[-1]
    first = registry.create_model_version(NAME, "s3://bucket/one")
    registered = clock[-1]
    assert (first.creation_timestamp, first.last_updated_timestamp) == (registered, registered)
    # creating a version changes the model's update time
    assert registry.get_registered_model(NAME).last_updated_timestamp == registered

    # tags and aliases change neither (MLflow's SQL store leaves both alone)
    registry.set_registered_model_tag(NAME, "k", "v")
    registry.set_model_version_tag(NAME, 1, "k", "v")
    registry.set_registered_model_alias(NAME, "champion", 1)
    version = registry.get_model_version(NAME, 1)
    assert version.last_updated_timestamp == registered
    assert registry.get_registered_model(NAME).last_updated_timestamp == registered

    # a version's description changes the version, not the model
    registry.update_model_version(NAME, 1, description="first")
    described = clock[-1]
    assert registry.get_model_version(NAME, 1).last_updated_timestamp == described
    assert registry.get_registered_model(NAME).last_updated_timestamp == registered

    # a stage transition changes both, and the versions it archives
    registry.create_model_version(NAME, "s3://bucket/two")
    registry.transition_model_version_stage(NAME, 1, "Production")
    registry.transition_model_version_stage(NAME, 2, "Production", archive_existing_versions=True)
    promoted = clock[-1]
    assert registry.get_model_version(NAME, 2).last_updated_timestamp == promoted
    assert registry.get_model_version(NAME, 1).last_updated_timestamp == promoted
    assert registry.get_model_version(NAME, 1).creation_timestamp == registered
    model = registry.get_registered_model(NAME)
    assert (model.creation_timestamp, model.last_updated_timestamp) == (made, promoted)

    # deleting a version changes the model
    registry.delete_model_version(NAME, 1)
    assert registry.get_registered_model(NAME).last_updated_timestamp == clock[-1]

    # a rename changes the model and every version
    registry.rename_registered_model(NAME, "renamed")
    renamed = clock[-1]
    assert registry.get_model_version("renamed", 2).last_updated_timestamp == renamed
    assert registry.get_model_version("renamed", 2).creation_timestamp < renamed


def test_a_model_yaml_without_recorded_times_reads_them_from_git(repo: Path, registry) -> None:  # type: ignore[no-untyped-def]
    """What an earlier mltrack wrote: no clock in model.yaml; the commit's time is used."""
    registry.create_registered_model(NAME)
    registry.create_model_version(NAME, "s3://bucket/one")
    registry.update_model_version(NAME, 1, description="first")
    stored = yaml.safe_load((repo / YAML).read_text())
    del stored["creation_timestamp"], stored["last_updated_timestamp"]
    del stored["versions"]["1"]["last_updated_timestamp"]
    (repo / YAML).write_text(yaml.safe_dump(stored))
    git(repo, "add", YAML)
    when = "2030-01-02T03:04:05+00:00"
    env = {**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    import subprocess

    subprocess.run(["git", "commit", "-q", "-m", "older mltrack"], cwd=repo, env=env, check=True)
    seconds = 1893553445
    from mltrack import MltrackClient

    registry = MltrackClient().registry
    model = registry.get_registered_model(NAME)
    assert model.last_updated_timestamp == seconds * 1000
    version = registry.get_model_version(NAME, 1)
    assert version.description == "first"
    assert version.last_updated_timestamp == max(version.creation_timestamp, seconds * 1000)


def test_an_external_version_pins_any_single_line_run_id(repo: Path, registry) -> None:  # type: ignore[no-untyped-def]
    """MLflow accepts any run_id for a source that is not a run here (``run_id: 'run_id'``)."""
    from mltrack.exceptions import InvalidParameterValue

    registry.create_registered_model(NAME)
    registry.create_model_version(NAME, "runs:/run_id/model", run_id="run_id")
    registry.create_model_version(NAME, "s3://bucket/no-run")
    registry.transition_model_version_stage(NAME, 1, "Production")
    registry.transition_model_version_stage(NAME, 2, "Staging")
    registry.set_registered_model_alias(NAME, "champion", 1)
    stored = yaml.safe_load((repo / YAML).read_text())
    assert stored["versions"]["1"]["run_id"] == "run_id"
    assert stored["versions"]["2"]["run_id"] == ""
    assert stored["aliases"]["champion"]["run_id"] == "run_id"
    latest = registry.get_latest_versions(NAME, None)
    assert {v.current_stage: v.version for v in latest} == {"Production": 1, "Staging": 2}
    for bad in ("two\nlines", "tab\there", "x" * 257):
        with pytest.raises(InvalidParameterValue, match="run_id") as refused:
            registry.create_model_version(NAME, "s3://bucket/three", run_id=bad)
        assert "\n" not in str(refused.value)
    assert sorted(v.version for v in registry.search_model_versions(f"name = '{NAME}'")) == [1, 2]


def test_the_merge_driver_keeps_the_earlier_creation_and_the_later_update() -> None:
    from mltrack.store.model_merge import merge_documents

    base = {"name": "m", "creation_timestamp": 5, "last_updated_timestamp": 5, "versions": {}}
    ours = {
        **base,
        "creation_timestamp": 3,
        "last_updated_timestamp": 9,
        "versions": {"1": {"stage": "Staging", "last_updated_timestamp": 9}},
    }
    theirs = {
        **base,
        "creation_timestamp": 4,
        "last_updated_timestamp": 7,
        "versions": {"1": {"description": "d", "last_updated_timestamp": 8}},
    }
    mine, yours, clashes = merge_documents(base, ours, theirs)
    assert clashes == [] and mine == yours
    assert (mine["creation_timestamp"], mine["last_updated_timestamp"]) == (3, 9)
    assert mine["versions"]["1"] == {
        "stage": "Staging",
        "description": "d",
        "last_updated_timestamp": 9,
    }
    # an older mltrack that wrote no clock leaves the other side's
    dropped = {k: v for k, v in base.items() if k != "last_updated_timestamp"}
    mine, _, clashes = merge_documents(base, dropped, {**base, "last_updated_timestamp": 6})
    assert clashes == [] and mine["last_updated_timestamp"] == 6
    # a clock that is no number still clashes
    _, _, clashes = merge_documents(base, {**base, "last_updated_timestamp": "x"}, ours)
    assert clashes == ["last_updated_timestamp"]
