"""Reviewing a promotion branch: `mltrack diff` shows what it changes in the registry.

A bare remote, Alice's clone registering versions, Bob's clone promoting on a branch and a CI
clone without tags: each driven as separate processes, with the real git.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import git, run_python
from test_team import MODEL, clone, mltrack, ok

# Logs a run with metric acc and registers its model: prints the version.
REGISTER = """
import sys
import numpy as np
from sklearn.dummy import DummyClassifier
import mltrack

label, acc = sys.argv[1], float(sys.argv[2])
with mltrack.start_run(run_name=label) as run:
    mltrack.log_metric("acc", acc)
    mltrack.log_param("who", label)
    model = DummyClassifier().fit(np.arange(8.0).reshape(4, 2), [0, 1, 0, 1])
    mltrack.sklearn.log_model(model, name="model")
print(mltrack.register_model(f"runs:/{run.info.run_id}/model", "churn").version)
"""


@pytest.fixture
def ci(tmp_path: Path) -> Path:
    """Alice registers v1 (acc 0.5, Production) and v2 (acc 0.75) on main; Bob promotes v2 and
    points @champion at it on branch `promote`; CI clones without tags and fetches them."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    alice = clone(remote, tmp_path / "alice", "alice")
    ok(mltrack(alice, "init"))
    run_python(REGISTER, alice, "first", "0.5")
    ok(mltrack(alice, "models", "promote", MODEL, "1", "Production"))
    run_python(REGISTER, alice, "second", "0.75")
    ok(mltrack(alice, "sync"))

    bob = clone(remote, tmp_path / "bob", "bob")
    git(bob, "switch", "-q", "-c", "promote")
    ok(mltrack(bob, "models", "promote", MODEL, "2", "Production"))
    ok(mltrack(bob, "models", "alias", MODEL, "champion", "2"))
    git(bob, "push", "-q", "origin", "promote")

    path = tmp_path / "ci"
    git(tmp_path, "clone", "-q", "--no-tags", str(remote), str(path))
    ok(mltrack(path, "models", "verify", "--fetch"))
    return path


def test_diff_shows_registrations_and_promotions_with_their_metrics(ci: Path) -> None:
    table = ok(mltrack(ci, "diff", "origin/main", "origin/promote", "--format", "table")).out
    assert "No run changes." not in table
    stage = next(line for line in table.splitlines() if " stage " in line)
    assert "None -> Production (replacing version 1)" in stage
    assert "acc: 0.5 -> 0.75 (+0.25)" in stage
    assert any(
        " alias " in line and "@champion -> version 2" in line for line in table.splitlines()
    )

    markdown = ok(mltrack(ci, "diff", "origin/main", "origin/promote", "--format", "markdown")).out
    assert "#### Registry: 2 change(s)" in markdown
    assert (
        "| churn | stage | v2 | None -> Production (replacing version 1) "
        "| acc: 0.5 -> 0.75 (+0.25) |" in markdown
    )
    assert "| **metrics.acc** | 0.5 | 0.75 | +0.25 |" in markdown
    assert "No run changes." not in markdown

    data = json.loads(
        ok(mltrack(ci, "diff", "origin/main", "origin/promote", "--format", "json")).out
    )
    assert data["added"] == []
    moves = {(c["change"], c["version"]): c for c in data["registry"]}
    stage_move = moves[("stage", 2)]
    assert stage_move["replaced"] == 1 and stage_move["detail"] == "None -> Production"
    assert [(m["key"], m["a"], m["b"]) for m in stage_move["metrics"]] == [("acc", 0.5, 0.75)]
    assert len(stage_move["model_hash"]) == 64 and len(stage_move["run_id"]) == 32
    assert moves[("alias", 2)]["detail"] == "@champion -> version 2"

    # The versions a range registers, each with its run's metrics.
    base = git(ci, "rev-list", "--max-parents=0", "origin/main").strip()
    data = json.loads(ok(mltrack(ci, "diff", base, "origin/main", "--format", "json")).out)
    registered = [
        (c["version"], c["detail"]) for c in data["registry"] if c["change"] == "registered"
    ]
    assert [number for number, _ in registered] == [1, 2]
    first = next(c for c in data["registry"] if c["change"] == "registered" and c["version"] == 1)
    assert [(m["key"], m["b"]) for m in first["metrics"]] == [("acc", 0.5)]
    assert ("stage", 1) in {(c["change"], c["version"]) for c in data["registry"]}
