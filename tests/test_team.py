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
    # model.yaml differs only in its clocks, which the merge driver merges: the earlier
    # creation, the later update.
    before = {who: stored(where) for who, where in (("alice", alice), ("bob", bob))}
    times = {
        k: [d[k] for d in before.values()] for k in ("creation_timestamp", "last_updated_timestamp")
    }
    for document in before.values():
        del document["creation_timestamp"], document["last_updated_timestamp"]
    assert before["alice"] == before["bob"]
    git(bob, "pull", "-q", "--no-rebase", "origin", "main")
    assert git(bob, "status", "--porcelain") == ""
    merged = stored(bob)
    assert merged["creation_timestamp"] == min(times["creation_timestamp"])
    assert merged["last_updated_timestamp"] == max(times["last_updated_timestamp"])


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
    # model.yaml records the version replaced too, pinned, so a renumbering cannot change it.
    was = stored(alice)["versions"]["1"]  # type: ignore[index]
    assert pinned["replaces"] == {
        "version": 1,
        "run_id": first["run_id"],
        "model_hash": was["model_hash"],
    }
    ok(mltrack(alice, "models", "alias", MODEL, "champion", "1"))
    ok(mltrack(alice, "models", "alias", MODEL, "champion", "2"))
    champion = stored(alice)["aliases"]["champion"]  # type: ignore[index]
    assert champion["version"] == 2 and champion["replaces"]["version"] == 1
    assert champion["replaces"]["run_id"] == first["run_id"]
    assert ok(mltrack(alice, "fsck")).code == 0
    ok(mltrack(alice, "models", "delete", MODEL, "1"))  # what was replaced may go later
    assert ok(mltrack(alice, "fsck")).code == 0


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


# ---------------------------------------------------------------- mltrack sync

LOG_RUN = """
import sys
import mltrack
with mltrack.start_run(run_name=sys.argv[1]):
    mltrack.log_metric("score", 1.0)
"""


def runs_of(where: Path) -> list[str]:
    listed = json.loads(ok(mltrack(where, "runs", "list", "--format", "json")).out)
    return sorted(r["info"]["run_id"] for r in listed)


def tags_of(where: Path) -> dict[str, str]:
    out = git(where, "for-each-ref", "--format=%(refname) %(objectname)", "refs/tags/mltrack/")
    return dict(line.split() for line in out.splitlines())


def assert_settled(where: Path) -> None:
    """`git status` clean, fsck and verify pass, every version's commit is on the branch."""
    assert git(where, "status", "--porcelain") == ""
    ok(mltrack(where, "fsck"))
    ok(mltrack(where, "models", "verify"))
    for tag in tags_of(where):
        git(where, "merge-base", "--is-ancestor", f"{tag}^{{commit}}", "HEAD")


@pytest.mark.parametrize("how", ["rebase", "merge"])
def test_sync_renumbers_an_unpublished_collision_and_its_records_follow(
    remote: Path, alice: Path, tmp_path: Path, how: str
) -> None:
    bob = clone(remote, tmp_path / "bob", "bob")
    bobs = register(bob, "bob")  # offline: Bob's v1 ...
    ok(mltrack(bob, "models", "promote", MODEL, "1", "Staging"))
    ok(mltrack(bob, "models", "alias", MODEL, "champion", "1"))
    alices = register(alice, "alice")  # ... and Alice's v1, another model
    ok(mltrack(alice, "models", "promote", MODEL, "1", "Production"))
    first = ok(mltrack(alice, "sync"))
    assert "published mltrack/churn/v1" in first.out

    synced = ok(mltrack(bob, "sync", *(["--merge"] if how == "merge" else [])))
    assert "renumbered churn v1 -> v2" in synced.out
    assert "published mltrack/churn/v2" in synced.out
    ok(mltrack(alice, "sync"))

    for where in (alice, bob):
        assert_settled(where)
        versions = json.loads(
            ok(mltrack(where, "models", "versions", MODEL, "--format", "json")).out
        )
        assert [
            (v["version"], v["run_id"], v["current_stage"], v["aliases"]) for v in versions
        ] == [
            (1, alices["run_id"], "Production", []),
            (2, bobs["run_id"], "Staging", ["champion"]),
        ]
        assert runs_of(where) == sorted([alices["run_id"], bobs["run_id"]])
        assert "Versions not published: 0" in ok(mltrack(where, "status")).out
    assert tags_of(alice) == tags_of(bob) == tags_of(remote)
    assert git(alice, "rev-parse", "HEAD") == git(bob, "rev-parse", "HEAD")

    # A CI checkout without tags: verify refuses, then checks everything with --fetch.
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", "--no-tags", str(remote), str(ci))
    assert mltrack(ci, "models", "verify").code == 1
    ok(mltrack(ci, "models", "verify", "--fetch"))


def test_the_version_a_promotion_replaced_follows_a_renumbering(
    remote: Path, alice: Path, tmp_path: Path
) -> None:
    bob = clone(remote, tmp_path / "bob", "bob")
    old, new = register(bob, "old"), register(bob, "new")  # offline: Bob's v1 and v2 ...
    ok(mltrack(bob, "models", "promote", MODEL, "1", "Production"))
    ok(mltrack(bob, "models", "promote", MODEL, "2", "Production"))
    ok(mltrack(bob, "models", "alias", MODEL, "champion", "1"))
    ok(mltrack(bob, "models", "alias", MODEL, "champion", "2"))
    register(alice, "alice")  # ... and Alice's v1, published first
    ok(mltrack(alice, "sync"))

    synced = ok(mltrack(bob, "sync"))
    assert "renumbered churn v1 -> v3" in synced.out  # Bob's v2 collides with nothing
    record = stored(bob)
    promoted = record["versions"]["2"]  # type: ignore[index]
    assert promoted["run_id"] == new["run_id"]
    assert promoted["replaces"]["version"] == 3  # Bob's old v1, now v3: not Alice's v1
    assert promoted["replaces"]["run_id"] == old["run_id"]
    champion = record["aliases"]["champion"]  # type: ignore[index]
    assert (champion["version"], champion["replaces"]["version"]) == (2, 3)
    assert_settled(bob)


def test_a_sync_conflict_stops_where_git_status_explains_it_and_loses_nothing(
    remote: Path, alice: Path, tmp_path: Path
) -> None:
    register(alice, "first")
    register(alice, "second")
    ok(mltrack(alice, "sync"))
    bob = clone(remote, tmp_path / "bob", "bob")
    ok(mltrack(bob, "models", "verify", "--fetch"))
    ok(mltrack(bob, "models", "alias", MODEL, "champion", "1"))  # the same alias, two targets
    ok(mltrack(alice, "models", "alias", MODEL, "champion", "2"))
    ok(mltrack(alice, "sync"))
    mine = git(bob, "rev-parse", "HEAD").strip()

    stopped = mltrack(bob, "sync")
    assert stopped.code == 1
    lines = stopped.err.strip().splitlines()
    assert len(lines) == 1 and f"conflicts in {YAML}" in lines[0], lines
    assert "git rebase --continue" in lines[0] and "nothing was pushed or lost" in lines[0]
    status = git(bob, "status")
    assert "rebasing" in status and f"both modified:   {YAML}" in status
    assert git(remote, "rev-parse", "main").strip() == git(alice, "rev-parse", "HEAD").strip()
    git(bob, "rebase", "--abort")
    assert git(bob, "rev-parse", "HEAD").strip() == mine  # Bob's alias commit is intact
    assert stored(bob)["aliases"]["champion"]["version"] == 1  # type: ignore[index]


def test_status_imports_neither_the_registry_nor_the_tracking_client(alice: Path) -> None:
    """`mltrack status` answers from refs: the CLI loads neither the registry nor the tracking
    client for it (importing them was most of its time at 10,000 runs)."""
    code = (
        "import sys\n"
        "from mltrack.cli import main\n"
        "sys.argv = ['mltrack', 'status']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('mltrack.registry', 'mltrack.tracking.client', 'mltrack.store.model')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = run_python(code, alice).stdout
    assert out.strip().splitlines()[-1] == "[]", out


def test_status_shows_what_is_not_pushed(remote: Path, alice: Path) -> None:
    run_python(LOG_RUN, alice, "offline")
    register(alice, "alice")
    shown = ok(mltrack(alice, "status")).out
    assert "ahead, 0 behind origin/main" in shown
    assert "Runs not pushed: 2" in shown
    ok(mltrack(alice, "sync"))
    shown = ok(mltrack(alice, "status")).out
    assert "0 commit(s) ahead, 0 behind origin/main" in shown
    assert "Runs not pushed: 0" in shown and "Versions not published: 0" in shown


def test_two_syncs_racing_for_the_remote_both_land(
    remote: Path, alice: Path, tmp_path: Path
) -> None:
    bob = clone(remote, tmp_path / "bob", "bob")
    # A slow remote: each push waits, so the two syncs overlap and one must retry.
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\ncat >/dev/null\nsleep 1\n")
    hook.chmod(0o755)
    run_python(LOG_RUN, alice, "alice")
    run_python(LOG_RUN, bob, "bob")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mltrack", "sync"],
            cwd=where,
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for where in (alice, bob)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    ok(mltrack(alice, "sync"))
    ok(mltrack(bob, "sync"))
    assert runs_of(alice) == runs_of(bob) and len(runs_of(alice)) == 2
    assert git(alice, "rev-parse", "HEAD") == git(bob, "rev-parse", "HEAD")
    assert git(remote, "rev-parse", "main") == git(alice, "rev-parse", "HEAD")


def test_two_clones_initialised_offline_sync_into_one_history(remote: Path, tmp_path: Path) -> None:
    alice = clone(remote, tmp_path / "alice", "alice")
    bob = clone(remote, tmp_path / "bob", "bob")
    away = remote.rename(tmp_path / "away.git")  # both offline
    ok(mltrack(alice, "init"))
    ok(mltrack(bob, "init"))
    run_python(LOG_RUN, alice, "alice")
    run_python(LOG_RUN, bob, "bob")
    away.rename(remote)
    ok(mltrack(alice, "sync"))
    ok(mltrack(bob, "sync"))
    ok(mltrack(alice, "sync"))
    for where in (alice, bob):
        assert len(git(where, "rev-list", "--max-parents=0", "HEAD").split()) == 1
        assert len(runs_of(where)) == 2
        assert_settled(where)


# ---------------------------------------------------------------- history across merges

LOG_RUNS = """
import sys
import mltrack
for name in sys.argv[1:]:
    with mltrack.start_run(run_name=name) as run:
        mltrack.log_metric("score", 1.0)
    print(run.info.run_id)
"""


def logged(where: Path) -> list[str]:
    return [e["run_id"] for e in json.loads(ok(mltrack(where, "log", "--format", "json")).out)]


def test_log_shows_every_run_after_a_squash_merge_and_a_rebase(alice: Path) -> None:
    git(alice, "checkout", "-q", "-b", "review")
    one, two, three = run_python(LOG_RUNS, alice, "one", "two", "three").stdout.split()
    git(alice, "checkout", "-q", "-b", "topic", "main")
    (four,) = run_python(LOG_RUNS, alice, "four").stdout.split()
    git(alice, "checkout", "-q", "main")
    git(alice, "merge", "-q", "--squash", "review")
    git(alice, "commit", "-q", "-m", "Review: three runs")  # their run commits are gone
    assert logged(alice) == [three, two, one]
    git(alice, "checkout", "-q", "topic")
    git(alice, "rebase", "-q", "main")
    assert logged(alice) == [four, three, two, one]
