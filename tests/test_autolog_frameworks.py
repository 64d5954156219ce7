"""Autologging for XGBoost, LightGBM and Keras, and ``mltrack.autolog()`` for every library."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _iris() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_iris

    data = load_iris()
    return pd.DataFrame(data.data, columns=COLUMNS), data.target


@pytest.fixture
def autologging(request: pytest.FixtureRequest) -> Iterator[None]:
    """Leaves every framework unpatched after the test."""
    yield
    import mltrack

    for flavor in ("xgboost", "lightgbm", "keras"):
        if flavor in sys.modules:
            getattr(mltrack, flavor).autolog(disable=True)


def _only_run() -> object:
    import mltrack

    runs = mltrack.search_runs(output_format="list")
    assert len(runs) == 1
    return runs[0]


def test_xgboost_train_and_fit_are_logged(repo: Path, autologging: None) -> None:
    xgb = pytest.importorskip("xgboost")
    import mltrack

    X, y = _iris()
    mltrack.xgboost.autolog()
    dtrain = xgb.DMatrix(X, y)
    xgb.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 2},
        dtrain,
        num_boost_round=4,
        evals=[(dtrain, "train")],
        verbose_eval=False,
    )
    run = _only_run()
    assert run.data.params["max_depth"] == "2"
    assert run.data.params["num_boost_round"] == "4"
    assert run.data.tags["mlflow.autologging"] == "xgboost"
    history = mltrack.MltrackClient().get_metric_history(run.info.run_id, "train-mlogloss")
    assert [m.step for m in history] == [0, 1, 2, 3]
    booster = mltrack.xgboost.load_model(f"runs:/{run.info.run_id}/model")
    assert type(booster).__name__ == "Booster"

    with mltrack.start_run() as outer:
        xgb.XGBClassifier(n_estimators=3).fit(X, y, eval_set=[(X, y)], verbose=False)
    logged = mltrack.get_run(outer.info.run_id)
    assert logged.data.params["n_estimators"] == "3"
    assert "validation_0-mlogloss" in logged.data.metrics
    model = mltrack.pyfunc.load_model(f"runs:/{outer.info.run_id}/model")
    assert model.metadata.signature is not None
    assert list(model.predict(X.head(3))) == [0, 0, 0]


def test_lightgbm_train_and_fit_are_logged(repo: Path, autologging: None) -> None:
    lgb = pytest.importorskip("lightgbm")
    import mltrack

    X, y = _iris()
    mltrack.lightgbm.autolog()
    train_set = lgb.Dataset(X, y)
    lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1},
        train_set,
        num_boost_round=3,
        valid_sets=[train_set],
        valid_names=["train"],
    )
    run = _only_run()
    assert run.data.params["objective"] == "multiclass"
    history = mltrack.MltrackClient().get_metric_history(run.info.run_id, "train-multi_logloss")
    assert [m.step for m in history] == [0, 1, 2]
    assert type(mltrack.lightgbm.load_model(f"runs:/{run.info.run_id}/model")).__name__ == "Booster"

    with mltrack.start_run() as outer:
        lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y, eval_X=(X,), eval_y=(y,))
    logged = mltrack.get_run(outer.info.run_id)
    assert logged.data.params["n_estimators"] == "3"
    assert "valid_0-multi_logloss" in logged.data.metrics
    loaded = mltrack.lightgbm.load_model(f"runs:/{outer.info.run_id}/model")
    assert type(loaded).__name__ == "LGBMClassifier"


def test_keras_fit_logs_params_every_epoch_and_the_model(repo: Path, autologging: None) -> None:
    keras = pytest.importorskip("keras")
    import mltrack

    X, y = _iris()
    features = X.to_numpy(dtype=np.float32)
    mltrack.keras.autolog()
    keras.utils.set_random_seed(0)
    network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    network.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    network.fit(features, y, epochs=3, batch_size=50, validation_split=0.2, verbose=0)
    run = _only_run()
    assert run.data.params["epochs"] == "3"
    assert run.data.params["batch_size"] == "50"
    assert run.data.params["optimizer_name"] == "Adam"
    client = mltrack.MltrackClient()
    for key in ("loss", "accuracy", "val_loss"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [0, 1, 2]
    loaded = mltrack.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(
        loaded.predict(features[:4]), network.predict(features[:4], verbose=0), rtol=1e-5
    )

    mltrack.keras.autolog(disable=True)
    network.fit(features, y, epochs=1, verbose=0)
    assert len(mltrack.search_runs(output_format="list")) == 1


def test_failed_training_ends_its_run_failed(repo: Path, autologging: None) -> None:
    xgb = pytest.importorskip("xgboost")
    import mltrack

    mltrack.xgboost.autolog()
    with pytest.raises(xgb.core.XGBoostError):
        xgb.train({"objective": "no-such-objective"}, xgb.DMatrix(np.ones((4, 2)), [0, 1, 0, 1]))
    assert _only_run().info.status == "FAILED"


def test_mltrack_autolog_patches_each_library_on_its_first_import(repo: Path) -> None:
    """In a fresh interpreter: autolog() imports nothing; importing xgboost afterwards patches it."""
    pytest.importorskip("xgboost")
    from conftest import python_env

    code = """
import sys
import mltrack
mltrack.autolog(exclude_flavors=["sklearn"])  # xgboost imports sklearn; spare its patching
assert not {"xgboost", "lightgbm", "keras", "torch", "sklearn"} & set(sys.modules), sys.modules
import numpy as np
import xgboost as xgb
xgb.train({"max_depth": 2}, xgb.DMatrix(np.ones((4, 2)), [0.0, 1.0, 0.0, 1.0]), 2)
run = mltrack.search_runs(output_format="list")[0]
print(run.data.tags["mlflow.autologging"], run.data.params["max_depth"])
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=repo,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["xgboost", "2"]


def test_lightning_fit_logs_params_every_epoch_and_the_model(repo: Path) -> None:
    pl = pytest.importorskip("lightning.pytorch")
    import torch

    import mltrack

    class IrisModule(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(x)

        def training_step(self, batch: tuple[torch.Tensor, ...], index: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self(x), y)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    X, y = _iris()
    data = torch.utils.data.TensorDataset(
        torch.tensor(X.to_numpy(dtype=np.float32)), torch.tensor(y)
    )
    loader = torch.utils.data.DataLoader(data, batch_size=50)
    mltrack.pytorch.autolog()
    try:
        trainer = pl.Trainer(
            max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
        )  # fmt: skip
        module = IrisModule()
        trainer.fit(module, loader)
    finally:
        mltrack.pytorch.autolog(disable=True)
    run = _only_run()
    assert run.data.tags["mlflow.autologging"] == "pytorch"
    assert run.data.params["epochs"] == "3"
    assert run.data.params["optimizer_name"] == "SGD"
    assert run.data.params["lr"] == "0.1"
    history = mltrack.MltrackClient().get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == [0, 1, 2]
    loaded = mltrack.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    features = X.to_numpy(dtype=np.float32)[:4]
    with torch.no_grad():
        expected = module(torch.tensor(features)).numpy()
    np.testing.assert_allclose(loaded.predict(features), expected, rtol=1e-5)
