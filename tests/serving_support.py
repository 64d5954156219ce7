"""Helpers for the scoring-server and batch-prediction tests: an iris model in a repository.

Servers, ports and waits are ``support``'s."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import git

SRC = Path(__file__).resolve().parents[1] / "src"
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SEED_REQUEST = {"columns": COLUMNS, "data": [[5.1, 3.5, 1.4, 0.2]]}
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]  # a setosa (0) and a virginica (2)


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """The same isolation as conftest's ``isolated_git``, for fixtures wider than one test."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in list(os.environ):
        if name.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_", "MLFLOW_", "MLTRACK_")):
            monkeypatch.delenv(name, raising=False)


def iris_frame() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    features = iris.data
    features.columns = COLUMNS
    return features, iris.target


@dataclass
class IrisRepo:
    path: Path
    run_id: str
    model_id: str
    estimator: Any
    features: Any

    def expected(self, rows: list[list[float]]) -> list[int]:
        import pandas as pd

        return self.estimator.predict(pd.DataFrame(rows, columns=COLUMNS)).tolist()


def make_iris_repo(path: Path, n_estimators: int = 10) -> IrisRepo:
    """A git repo with a logged iris RandomForest registered as 'iris' v1, in Production and
    aliased @production; ``path`` becomes the working directory."""
    from sklearn.ensemble import RandomForestClassifier

    import mltrack
    from mltrack import MltrackClient

    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    (path / "train.py").write_text("print('training')\n")
    git(path, "add", "train.py")
    git(path, "commit", "-q", "-m", "Add training script")
    os.chdir(path)
    features, target = iris_frame()
    estimator = RandomForestClassifier(n_estimators=n_estimators, random_state=0)
    estimator.fit(features, target)
    mltrack.set_experiment("iris")
    with mltrack.start_run() as run:
        info = mltrack.sklearn.log_model(estimator, name="model", input_example=features.head(3))
    mltrack.register_model(info.model_uri, "iris")
    registry = MltrackClient().registry
    registry.transition_model_version_stage("iris", 1, "Production")
    registry.set_registered_model_alias("iris", "production", 1)
    assert info.model_id is not None
    return IrisRepo(path, run.info.run_id, info.model_id, estimator, features)
