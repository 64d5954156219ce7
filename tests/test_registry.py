"""The registry: versions as tags, mutable state as reviewable commits, history, cleanup."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from conftest import git, invoke

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
NAME = "New Registered Model"


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    data = load_iris()
    return pd.DataFrame(data.data, columns=COLUMNS), pd.Series(data.target)


def _train(iris: tuple[pd.DataFrame, pd.Series], trees: int = 5) -> str:
    import mltrack

    X, y = iris
    with mltrack.start_run() as run:
        model = RandomForestClassifier(n_estimators=trees, random_state=0).fit(X, y)
        mltrack.log_param("n_estimators", trees)
        mltrack.log_metric("accuracy", model.score(X, y))
        mltrack.sklearn.log_model(model, name="model", input_example=X.head(2))
    return run.info.run_id


@pytest.fixture
def registry(repo: Path):  # type: ignore[no-untyped-def]
    from mltrack import MltrackClient

    return MltrackClient().registry


# ---------------------------------------------------------------- tag grammar


@given(
    st.text(min_size=1, max_size=40).filter(
        lambda s: not any(ord(c) < 32 or ord(c) == 127 for c in s)
    )
)
def test_tag_names_round_trip_and_are_valid_refs(name: str) -> None:
    import re

    from mltrack.registry import encode_name, parse_version_tag, version_tag

    tag = version_tag(name, 7)
    assert parse_version_tag(tag) == (name, 7)
    component = encode_name(name)
    # git's ref-name rules for one component
    assert not re.search(r"[\x00-\x20\x7f~^:?*\[\\]", component)
    assert ".." not in component and "@{" not in component
    assert not component.startswith(".") and not component.endswith((".", ".lock"))


def test_tag_is_a_valid_git_ref(repo: Path, iris) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    run_id = _train(iris)
    version = mltrack.register_model(f"runs:/{run_id}/model", "weird name: ~^ ..lock")
    assert git(repo, "check-ref-format", f"refs/tags/{version.tag}") == ""
    assert version.tag in git(repo, "tag", "--list")


# ---------------------------------------------------------------- versions


def test_register_creates_annotated_tags_numbered_by_integer(repo: Path, registry, iris) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    run_id = _train(iris)
    first = mltrack.register_model(f"runs:/{run_id}/model", NAME)
    second = mltrack.register_model(f"runs:/{run_id}/model", NAME)
    assert (first.version, second.version) == (1, 2)
    assert git(repo, "cat-file", "-t", first.tag).strip() == "tag"
    message = git(repo, "tag", "-l", "--format=%(contents)", first.tag)
    assert f'"run_id": "{run_id}"' not in message  # values are JSON after "key: "
    assert f'run_id: "{run_id}"' in message and "file " in message
    assert git(repo, "rev-parse", f"{first.tag}^{{commit}}").strip() == first.commit
    assert first.source.startswith("models:/m-")
    assert git(repo, "status", "--porcelain") == ""


def test_numbering_and_loading_by_version_survive_packed_tags(repo: Path, iris) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    run_id = _train(iris)
    for _ in range(10):
        mltrack.register_model(f"runs:/{run_id}/model", NAME)
    mltrack.register_model(f"runs:/{run_id}/model", NAME + "s")  # a name that shares a prefix
    git(repo, "gc", "-q")  # tags go to packed-refs, tag objects into a pack
    assert mltrack.register_model(f"runs:/{run_id}/model", NAME).version == 11  # not 2 (v10 > v9)
    client = mltrack.MltrackClient()
    assert client.get_model_version(NAME, 10).tag == "mltrack/New%20Registered%20Model/v10"
    assert client.get_model_version(NAME + "s", 1).version == 1
    assert [v.version for v in client.search_model_versions(f"name = '{NAME}'")] == list(
        range(11, 0, -1)
    )
    X, _ = iris
    assert len(mltrack.pyfunc.load_model(f"models:/{NAME}/10").predict(X.head(2))) == 2


def test_register_commits_uncommitted_run_files_first(repo: Path, iris) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    X, y = iris
    with mltrack.start_run() as run:
        model = RandomForestClassifier(n_estimators=3).fit(X, y)
        # registered while the run is still active: its files are committed first
        info = mltrack.sklearn.log_model(model, name="model", registered_model_name=NAME)
        assert info.registered_model_version == 1
    version = mltrack.MltrackClient().get_model_version(NAME, 1)
    assert version.run_id == run.info.run_id
    assert (
        git(repo, "ls-tree", "-r", "--name-only", version.commit).count("/artifacts/model/MLmodel")
        == 1
    )


def test_deleted_numbers_are_never_reused(repo: Path, registry, iris) -> None:  # type: ignore[no-untyped-def]
    import mltrack
    from mltrack.exceptions import ResourceDoesNotExist

    run_id = _train(iris)
    for _ in range(2):
        mltrack.register_model(f"runs:/{run_id}/model", NAME)
    registry.delete_model_version(NAME, 2)
    with pytest.raises(ResourceDoesNotExist, match="deleted"):
        registry.get_model_version(NAME, 2)
    assert mltrack.register_model(f"runs:/{run_id}/model", NAME).version == 3
    assert "mltrack/New%20Registered%20Model/v2" in git(repo, "tag", "--list")  # the tag stays
    assert [v.version for v in registry.list_versions(NAME)] == [1, 3]


def test_registry_methods_follow_mlflow(repo: Path, registry, iris) -> None:  # type: ignore[no-untyped-def]
    import mltrack
    from mltrack.exceptions import (
        InvalidParameterValue,
        ResourceAlreadyExists,
        ResourceDoesNotExist,
    )

    run_id = _train(iris)
    registry.create_registered_model(NAME, tags={"team": "vision"}, description="iris")
    with pytest.raises(ResourceAlreadyExists):
        registry.create_registered_model(NAME)
    v1 = registry.create_model_version(
        NAME, f"runs:/{run_id}/model", description="first", tags={"k": "v"}
    )
    registry.create_model_version(NAME, f"runs:/{run_id}/model")
    assert v1.description == "first" and v1.tags == {"k": "v"}
    registry.update_model_version(NAME, 2, description="second")
    registry.set_model_version_tag(NAME, 2, "validated", "yes")
    registry.delete_model_version_tag(NAME, 1, "k")
    registry.set_registered_model_tag(NAME, "owner", "ana")
    registry.delete_registered_model_tag(NAME, "team")
    registry.update_registered_model(NAME, "iris classifier")
    model = registry.get_registered_model(NAME)
    assert model.description == "iris classifier" and model.tags == {"owner": "ana"}
    registry.transition_model_version_stage(NAME, 1, "production")
    registry.transition_model_version_stage(NAME, 2, "Production", archive_existing_versions=True)
    assert registry.get_model_version(NAME, 1).current_stage == "Archived"
    assert [v.version for v in registry.get_latest_versions(NAME, ["Production"])] == [2]
    with pytest.raises(InvalidParameterValue):
        registry.transition_model_version_stage(NAME, 1, "Archived", archive_existing_versions=True)
    with pytest.raises(InvalidParameterValue, match="Invalid stage"):
        registry.transition_model_version_stage(NAME, 1, "Prod")
    registry.set_registered_model_alias(NAME, "champion", 1)
    registry.set_registered_model_alias(NAME, "champion", 2)
    assert registry.get_model_version_by_alias(NAME, "champion").version == 2
    assert registry.get_model_version(NAME, 2).aliases == ["champion"]
    with pytest.raises(InvalidParameterValue, match="reserved"):
        registry.set_registered_model_alias(NAME, "v3", 1)
    registry.delete_registered_model_alias(NAME, "champion")
    with pytest.raises(ResourceDoesNotExist):
        registry.get_model_version_by_alias(NAME, "champion")
    found = registry.search_model_versions(f"name = '{NAME}' and version_number > 1")
    assert [v.version for v in found] == [2]
    assert [m.name for m in registry.search_registered_models("name LIKE 'New%'")] == [NAME]
    assert registry.get_model_version_download_uri(NAME, 1).startswith("file://")
    registry.rename_registered_model(NAME, "iris")
    assert [v.version for v in registry.list_versions("iris")] == [1, 2]
    assert len(mltrack.pyfunc.load_model("models:/iris/2").predict(iris[0].head(1))) == 1
    registry.delete_registered_model("iris")
    with pytest.raises(ResourceDoesNotExist):
        registry.get_registered_model("iris")


def test_client_has_mlflow_registry_method_names(repo: Path) -> None:
    import mltrack

    client = mltrack.MltrackClient()
    for name in (
        "create_registered_model", "get_registered_model", "search_registered_models", "rename_registered_model",
        "update_registered_model", "delete_registered_model", "set_registered_model_tag", "delete_registered_model_tag",
        "create_model_version", "get_model_version", "search_model_versions", "update_model_version",
        "delete_model_version", "set_model_version_tag", "delete_model_version_tag", "get_model_version_download_uri",
        "transition_model_version_stage", "set_registered_model_alias", "delete_registered_model_alias",
        "get_model_version_by_alias", "get_latest_versions",
    ):  # fmt: skip
        assert callable(getattr(client, name)), name


# ---------------------------------------------------------------- review workflow


def test_promote_on_a_branch_leaves_the_working_tree_alone(repo: Path, registry, iris, cli) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    run_id = _train(iris, 5)
    mltrack.register_model(f"runs:/{run_id}/model", NAME)
    better = _train(iris, 20)
    mltrack.register_model(f"runs:/{better}/model", NAME)
    registry.transition_model_version_stage(NAME, 1, "Production")
    (repo / "train.py").write_text("print('edited, not staged')\n")
    head = git(repo, "rev-parse", "HEAD").strip()
    status = git(repo, "status", "--porcelain")
    result = invoke(
        cli,
        "models",
        "promote",
        NAME,
        "2",
        "Production",
        "--archive-existing",
        "--branch",
        "promote-v2",
    )
    assert result.exit_code == 0, result.stderr
    assert git(repo, "rev-parse", "HEAD").strip() == head
    assert git(repo, "status", "--porcelain") == status
    assert registry.get_model_version(NAME, 2).current_stage == "None"  # not on this branch
    message = git(repo, "log", "-1", "--format=%B", "promote-v2")
    assert "Promote 'New Registered Model' version 2 to Production (replacing version 1)" in message
    assert "metrics.accuracy" in message and "params.n_estimators: 5 -> 20" in message
    diff = git(repo, "diff", "HEAD", "promote-v2")
    assert "stage: Production" in diff and "stage: Archived" in diff
    result = invoke(cli, "models", "promote", NAME, "2", "Production", "--branch", "promote-v2")
    assert result.exit_code == 1 and "already exists" in result.stderr


def test_alias_on_current_branch_is_one_commit(repo: Path, registry, iris, cli) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    run_id = _train(iris)
    mltrack.register_model(f"runs:/{run_id}/model", NAME)
    before = int(git(repo, "rev-list", "--count", "HEAD"))
    result = invoke(cli, "models", "alias", NAME, "champion", "1")
    assert result.exit_code == 0, result.stderr
    assert int(git(repo, "rev-list", "--count", "HEAD")) == before + 1
    stored = yaml.safe_load(
        (repo / ".mltrack/models/New%20Registered%20Model/model.yaml").read_text()
    )
    # The alias pins the model it means, not only a number another clone may also use.
    assert stored["aliases"]["champion"]["version"] == 1
    assert stored["aliases"]["champion"]["run_id"] == run_id
    assert len(stored["aliases"]["champion"]["model_hash"]) == 64


def test_compare_and_history(repo: Path, registry, iris, cli) -> None:  # type: ignore[no-untyped-def]
    import json

    import mltrack

    for trees in (5, 20):
        mltrack.register_model(f"runs:/{_train(iris, trees)}/model", NAME)
    registry.transition_model_version_stage(NAME, 1, "Staging")
    registry.set_registered_model_alias(NAME, "champion", 2)
    registry.delete_model_version(NAME, 1)
    result = invoke(cli, "models", "compare", NAME, "1", "2", "--format", "json")
    assert result.exit_code == 1  # version 1 was deleted
    mltrack.register_model(f"runs:/{_train(iris, 7)}/model", NAME)
    result = invoke(cli, "models", "compare", NAME, "2", "3", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    assert "n_estimators" in result.stdout and "sepal_length:double" in result.stdout
    result = invoke(cli, "models", "history", NAME, "--format", "json")
    events = [(e["event"], e["version"]) for e in json.loads(result.stdout)]
    assert events == [
        ("created", None), ("registered", 1), ("registered", 2), ("stage", 1),
        ("alias", 2), ("deleted", 1), ("registered", 3),
    ]  # fmt: skip


def test_verify_detects_modified_registered_files(repo: Path, iris, cli) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    run_id = _train(iris)
    mltrack.register_model(f"runs:/{run_id}/model", NAME)
    result = invoke(cli, "models", "verify")
    assert result.exit_code == 0 and "match" in result.stdout
    model_file = repo / f".mltrack/experiments/0/runs/{run_id}/artifacts/model/model.pkl"
    model_file.write_bytes(b"tampered")
    result = invoke(cli, "models", "verify", "--format", "json")
    assert result.exit_code == 1 and "model.pkl" in result.stdout


# ---------------------------------------------------------------- survives cleanup


def test_version_loads_after_run_removed_and_gc(repo: Path, iris, cli) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    X, _ = iris
    run_id = _train(iris)
    mltrack.register_model(f"runs:/{run_id}/model", NAME)
    mltrack.delete_run(run_id)
    result = invoke(cli, "gc")
    assert result.exit_code == 0, result.stderr
    assert not (repo / ".mltrack" / "experiments" / "0" / "runs" / run_id).exists()
    assert run_id not in git(repo, "ls-tree", "-r", "--name-only", "HEAD")
    model = mltrack.pyfunc.load_model(f"models:/{NAME}/1")
    assert len(model.predict(X.head(2))) == 2


def test_version_loads_after_git_rm_of_the_run(repo: Path, iris) -> None:  # type: ignore[no-untyped-def]
    import mltrack
    from mltrack.tracking.context import close_all

    X, _ = iris
    run_id = _train(iris)
    mltrack.register_model(f"runs:/{run_id}/model", NAME)
    git(repo, "rm", "-r", "-q", f".mltrack/experiments/0/runs/{run_id}")
    git(repo, "commit", "-q", "-m", "Remove the run")
    close_all()  # a fresh process: nothing cached in memory
    assert len(mltrack.pyfunc.load_model(f"models:/{NAME}/latest").predict(X.head(1))) == 1


def test_models_cli_json_everywhere(repo: Path, iris, cli) -> None:  # type: ignore[no-untyped-def]
    import json

    run_id = _train(iris)
    result = invoke(
        cli, "models", "register", f"runs:/{run_id}/model", NAME, "--tag", "k=v", "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["version"] == 1
    for args in (["list"], ["show", NAME], ["versions", NAME], ["history", NAME], ["verify"]):
        result = invoke(cli, "models", *args, "--format", "json")
        assert result.exit_code == 0, (args, result.stderr)
        json.loads(result.stdout)
    result = invoke(cli, "models", "show", "nope")
    assert result.exit_code == 1 and result.stderr.startswith(
        "Error: Registered Model with name=nope not found"
    )
    assert "Traceback" not in result.stderr
