"""A team on one remote: a bare repository on disk, clones with their own identities.

Every clone is driven as its user would drive it: ``mltrack`` and training scripts
run as separate processes in the clone, git is the real git.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from conftest import git, python_env, run_python
from mltrack.store.model_merge import merge_documents, merge_texts

MODEL = "churn"
YAML = f".mltrack/models/{MODEL}/model.yaml"

# Logs a tiny sklearn model and registers it: prints {"run_id", "version"}.
REGISTER = """
import json, sys
import numpy as np
from sklearn.dummy import DummyClassifier
import mltrack

name, label = sys.argv[1], sys.argv[2]
X, y = np.arange(8.0).reshape(4, 2), [0, 1, 0, 1]
with mltrack.start_run(run_name=label) as run:
    model = DummyClassifier(strategy="most_frequent").fit(X, y)
    mltrack.log_param("who", label)
    mltrack.sklearn.log_model(model, name="model")
version = mltrack.register_model(f"runs:/{run.info.run_id}/model", name)
print(json.dumps({"run_id": run.info.run_id, "version": int(version.version)}))
"""


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


def mltrack(where: Path, *args: str) -> Done:
    """``python -m mltrack ARGS`` in ``where``: a separate process, as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "mltrack", *args],
        cwd=where,
        capture_output=True,
        text=True,
        env=python_env(),
        check=False,
        timeout=120,
    )
    return Done(proc.returncode, proc.stdout, proc.stderr)


def ok(done: Done) -> Done:
    assert done.code == 0, done.err
    return done


def register(where: Path, label: str) -> dict[str, object]:
    out = run_python(REGISTER, where, MODEL, label).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def clone(remote: Path, path: Path, who: str) -> Path:
    git(remote.parent, "clone", "-q", str(remote), str(path))
    git(path, "config", "user.name", who.title())
    git(path, "config", "user.email", f"{who}@example.com")
    return path


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(path))
    return path


@pytest.fixture
def alice(remote: Path, tmp_path: Path) -> Path:
    """Alice's clone, which initialised the store and pushed it."""
    path = clone(remote, tmp_path / "alice", "alice")
    ok(mltrack(path, "init"))
    git(path, "push", "-q", "origin", "main")
    return path


def stored(where: Path) -> dict[str, object]:
    return dict(yaml.safe_load((where / YAML).read_text()))


# ---------------------------------------------------------------- init knows the remote


def test_init_in_a_clone_of_an_initialised_remote_refuses_and_names_the_command(
    remote: Path, tmp_path: Path
) -> None:
    bob = clone(remote, tmp_path / "bob", "bob")  # cloned while the remote was empty
    alice = clone(remote, tmp_path / "alice", "alice")
    ok(mltrack(alice, "init"))
    git(alice, "push", "-q", "origin", "main")

    refused = mltrack(bob, "init")
    assert refused.code == 1
    assert refused.err.strip().splitlines() == [
        "Error: origin/main already has an mltrack store; this branch lacks it. Run "
        "`git pull origin main` instead of `mltrack init` (a second init would start an "
        "unrelated history)."
    ]
    assert not (bob / ".mltrack").exists()
    git(bob, "pull", "-q", "origin", "main")
    assert "already initialised" in ok(mltrack(bob, "init")).out
    assert (
        git(bob, "rev-list", "--max-parents=0", "HEAD").split()
        == git(alice, "rev-list", "--max-parents=0", "HEAD").split()
    )


# ---------------------------------------------------------------- merge-safe model.yaml


def test_two_clones_registering_the_same_model_offline_merge_without_conflict(
    remote: Path, alice: Path, tmp_path: Path
) -> None:
    bob = clone(remote, tmp_path / "bob", "bob")
    register(alice, "alice")
    register(bob, "bob")
    git(alice, "push", "-q", "origin", "main")
    # model.yaml holds no clock: both clones wrote the same bytes.
    assert (alice / YAML).read_bytes() == (bob / YAML).read_bytes()
    git(bob, "pull", "-q", "--no-rebase", "origin", "main")
    assert git(bob, "status", "--porcelain") == ""
    assert "creation_timestamp" not in (bob / YAML).read_text()


def test_different_aliases_and_stages_on_two_branches_merge_the_same_alias_conflicts(
    alice: Path,
) -> None:
    first, second = register(alice, "first"), register(alice, "second")
    ok(mltrack(alice, "models", "alias", MODEL, "champion", "1", "--branch", "champion"))
    ok(mltrack(alice, "models", "promote", MODEL, "2", "Staging", "--branch", "staging"))
    ok(mltrack(alice, "models", "alias", MODEL, "challenger", "2", "--branch", "challenger"))
    for branch in ("champion", "staging", "challenger"):
        git(alice, "merge", "-q", "--no-edit", branch)
    assert git(alice, "status", "--porcelain") == ""
    document = stored(alice)
    aliases = document["aliases"]
    assert {a: (v["version"], v["run_id"]) for a, v in aliases.items()} == {  # type: ignore[attr-defined]
        "champion": (1, first["run_id"]),
        "challenger": (2, second["run_id"]),
    }
    assert document["versions"]["2"]["stage"] == "Staging"  # type: ignore[index]
    assert ok(mltrack(alice, "fsck")).code == 0

    # The same alias pointed at two versions on two branches: a readable conflict.
    ok(mltrack(alice, "models", "alias", MODEL, "prod", "1", "--branch", "prod-1"))
    ok(mltrack(alice, "models", "alias", MODEL, "prod", "2", "--branch", "prod-2"))
    git(alice, "merge", "-q", "--no-edit", "prod-1")
    clash = subprocess.run(
        ["git", "merge", "--no-edit", "prod-2"], cwd=alice, capture_output=True, text=True
    )
    assert clash.returncode == 1 and "CONFLICT" in clash.stdout
    text = (alice / YAML).read_text()
    assert text.count("<<<<<<<") == 1
    conflict = text[text.index("<<<<<<<") : text.index(">>>>>>>")]
    assert "version: 1" in conflict and "version: 2" in conflict
    assert "champion" not in conflict and "challenger" not in conflict
    # fsck names the file and the conflict, not a YAML parse error.
    found = mltrack(alice, "fsck")
    assert found.code == 1
    assert f"{YAML}: unresolved merge conflict (line " in found.out


def test_promotion_records_run_model_hash_and_the_version_replaced(alice: Path) -> None:
    first, second = register(alice, "first"), register(alice, "second")
    ok(mltrack(alice, "models", "promote", MODEL, "1", "Production"))
    ok(mltrack(alice, "models", "promote", MODEL, "2", "Production"))
    message = git(alice, "log", "-1", "--format=%B")
    assert "(replacing version 1)" in message
    assert f"Mltrack-Version-Run: {second['run_id']}" in message
    assert "Mltrack-Replaces: 1" in message
    pinned = stored(alice)["versions"]["2"]  # type: ignore[index]
    assert pinned["run_id"] == second["run_id"] and len(pinned["model_hash"]) == 64
    assert f"Mltrack-Model-Hash: {pinned['model_hash']}" in message
    assert first["run_id"] != second["run_id"]


# ---------------------------------------------------------------- pins and collisions


def test_a_version_number_collision_never_changes_what_production_means(
    remote: Path, alice: Path, tmp_path: Path
) -> None:
    bob = clone(remote, tmp_path / "bob", "bob")
    register(bob, "bob")  # Bob's own v1, offline
    register(alice, "alice")  # Alice's v1: the same number, another model
    ok(mltrack(alice, "models", "promote", MODEL, "1", "Production"))
    git(alice, "push", "-q", "origin", "main", "refs/tags/mltrack/*")

    git(bob, "pull", "-q", "--rebase", "origin", "main")
    versions = json.loads(ok(mltrack(bob, "models", "versions", MODEL, "--format", "json")).out)
    assert [(v["version"], v["current_stage"]) for v in versions] == [(1, "None")]
    load = run_python(
        f"import mltrack.pyfunc as p; p.load_model('models:/{MODEL}/Production')", bob, check=False
    )
    assert load.returncode != 0 and "no version in stage Production" in load.stderr

    fsck = mltrack(bob, "fsck")
    assert fsck.code == 1
    assert f"{YAML}: field 'versions.1': pins run " in fsck.out
    assert "collision" in fsck.out
    verify = mltrack(bob, "models", "verify")
    assert verify.code == 1 and "field 'versions.1'" in verify.out + verify.err


# ---------------------------------------------------------------- CI: verify without tags


def test_verify_in_a_clone_without_tags_fails_then_passes_with_fetch(
    remote: Path, alice: Path, tmp_path: Path
) -> None:
    register(alice, "alice")
    ok(mltrack(alice, "models", "alias", MODEL, "champion", "1"))
    git(alice, "push", "-q", "origin", "main", "refs/tags/mltrack/*")
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", "--no-tags", str(remote), str(ci))
    assert git(ci, "tag") == ""

    missing = mltrack(ci, "models", "verify")
    assert missing.code == 1
    lines = missing.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: 1 version(s) to verify have no tag")
    assert "mltrack models verify --fetch" in lines[0]

    fetched = ok(mltrack(ci, "models", "verify", "--fetch"))
    assert "mltrack/churn/v1" in git(ci, "tag")
    assert ok(mltrack(ci, "fsck")).code == 0
    assert fetched.code == 0


def test_fsck_names_the_field_of_a_model_yaml_that_names_a_missing_version(alice: Path) -> None:
    register(alice, "alice")
    document = stored(alice)
    document["aliases"] = {"champion": 7}
    (alice / YAML).write_text(yaml.safe_dump(document))
    found = mltrack(alice, "fsck")
    assert found.code == 1
    assert f"{YAML}: field 'aliases.champion': version 7 has no tag mltrack/{MODEL}/v7" in found.out
    document["aliases"] = {"champion": "seven"}
    (alice / YAML).write_text(yaml.safe_dump(document))
    found = mltrack(alice, "fsck")
    assert found.code == 1 and f"{YAML}: field 'aliases.champion'" in found.out


# ---------------------------------------------------------------- the merge driver itself

keys = st.sampled_from(["a", "b", "c"])
leaves = st.integers(0, 3) | st.text("xy", max_size=2)
documents = st.recursive(
    st.dictionaries(keys, leaves, max_size=3),
    lambda inner: st.dictionaries(keys, inner | leaves, max_size=3),
    max_leaves=8,
)


@given(documents, documents)
def test_a_change_on_one_side_only_is_taken_as_is(base: dict, changed: dict) -> None:  # type: ignore[type-arg]
    for ours, theirs in ((base, changed), (changed, base)):
        mine, yours, clashes = merge_documents(base, ours, theirs)
        assert mine == yours == changed and clashes == []


@given(documents, documents, documents)
def test_a_merge_takes_both_sides_when_they_do_not_clash(
    base: dict, ours: dict, theirs: dict
) -> None:  # type: ignore[type-arg]
    mine, yours, clashes = merge_documents(base, ours, theirs)
    if not clashes:
        assert mine == yours
        merged_text, conflicted = merge_texts(
            yaml.safe_dump(base).encode(),
            yaml.safe_dump(ours).encode(),
            yaml.safe_dump(theirs).encode(),
        )
        assert not conflicted and yaml.safe_load(merged_text) == mine
