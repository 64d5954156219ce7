"""XGBoost, LightGBM, PyTorch and Keras flavors: MLflow's layout, checked loading, serving, interop.

Each framework is an optional extra; CI installs all of them (scripts/test), and a
framework that is not installed skips its cases. Keras runs on its PyTorch backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
FRAMEWORKS = ["xgboost", "lightgbm", "pytorch", "keras"]
IMPORT_NAMES = {"xgboost": "xgboost", "lightgbm": "lightgbm", "pytorch": "torch", "keras": "keras"}
NATIVE_FILES = {
    "xgboost": "model.ubj",
    "lightgbm": "model.lgb",
    "pytorch": "data/model.pth",
    "keras": "data/model.keras",
}


@dataclass
class Trained:
    flavor: str
    model: Any
    example: Any  # what log_model gets as input_example (and predict as input)
    predict: Callable[[Any], Any]  # the framework's own prediction, to compare with
    distribution: str  # the framework's distribution in requirements.txt


def _iris() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_iris

    data = load_iris()
    return pd.DataFrame(data.data, columns=COLUMNS), data.target


def _train(flavor: str) -> Trained:
    pytest.importorskip(IMPORT_NAMES[flavor])
    X, y = _iris()
    if flavor == "xgboost":
        import xgboost as xgb

        model = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
        return Trained(flavor, model, X.head(3), model.predict, "xgboost")
    if flavor == "lightgbm":
        import lightgbm as lgb

        booster = lgb.train(
            {"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(X, y), 5
        )
        return Trained(flavor, booster, X.head(3), booster.predict, "lightgbm")
    features = X.to_numpy(dtype=np.float32)
    if flavor == "pytorch":
        import torch

        torch.manual_seed(0)
        module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))

        def forward(rows: Any) -> Any:
            with torch.no_grad():
                return module(torch.tensor(np.asarray(rows, dtype=np.float32))).numpy()

        return Trained(
            flavor, module, pd.DataFrame(features[:3], columns=COLUMNS), forward, "torch"
        )
    import keras

    keras.utils.set_random_seed(0)
    network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    return Trained(
        flavor,
        network,
        features[:3],
        lambda rows: network.predict(np.asarray(rows, dtype=np.float32), verbose=0),
        "keras",
    )


@pytest.fixture(params=FRAMEWORKS)
def trained(request: pytest.FixtureRequest) -> Trained:
    return _train(request.param)


def _flavor_module(flavor: str) -> Any:
    import importlib

    return importlib.import_module(f"mltrack.{flavor}")


def _log(trained: Trained, **kwargs: Any) -> tuple[str, Any]:
    import mltrack

    with mltrack.start_run() as run:
        info = _flavor_module(trained.flavor).log_model(
            trained.model, name="model", input_example=trained.example, **kwargs
        )
    return run.info.run_id, info


def _model_dir(repo: Path, run_id: str) -> Path:
    return repo / f".mltrack/experiments/0/runs/{run_id}/artifacts/model"


def _values(result: Any) -> np.ndarray:
    return np.asarray(result.to_numpy() if hasattr(result, "to_numpy") else result)


def test_log_model_writes_mlflow_layout_and_round_trips(repo: Path, trained: Trained) -> None:
    import mltrack

    run_id, info = _log(trained)
    directory = _model_dir(repo, run_id)
    mlmodel = mltrack.models.Model.load(directory)
    assert mlmodel.flavors["python_function"]["loader_module"] == f"mlflow.{trained.flavor}"
    assert trained.flavor in mlmodel.flavors
    assert (directory / NATIVE_FILES[trained.flavor]).is_file()
    assert NATIVE_FILES[trained.flavor] in mlmodel.files
    assert mlmodel.signature is not None and mlmodel.signature.inputs is not None
    requirements = (directory / "requirements.txt").read_text().splitlines()
    names = {line.split("==")[0] for line in requirements}
    assert names & {trained.distribution, f"{trained.distribution}-cpu"}, requirements
    expected = trained.predict(trained.example)
    native = _flavor_module(trained.flavor).load_model(f"runs:/{run_id}/model")
    assert type(native).__name__ == type(trained.model).__name__
    for uri in (f"runs:/{run_id}/model", info.model_uri):
        predicted = mltrack.pyfunc.load_model(uri).predict(trained.example)
        np.testing.assert_allclose(_values(predicted), expected, rtol=1e-5)


def test_pytorch_and_keras_models_take_arrays_and_frames(repo: Path) -> None:
    import mltrack

    for flavor in ("pytorch", "keras"):
        trained = _train(flavor)
        features = _iris()[0].to_numpy(dtype=np.float32)[:4]
        path = repo / f"{flavor}-array"
        _flavor_module(flavor).save_model(trained.model, path, input_example=features)
        loaded = mltrack.pyfunc.load_model(str(path))
        np.testing.assert_allclose(loaded.predict(features), trained.predict(features), rtol=1e-5)


def test_pytorch_pt2_program_is_the_default_with_an_array_example(repo: Path) -> None:
    import mltrack

    trained = _train("pytorch")
    features = _iris()[0].to_numpy(dtype=np.float32)
    path = repo / "pt2"
    mltrack.pytorch.save_model(trained.model, path, input_example=features[:3])
    assert (path / "data/model.pt2").is_file() and not (path / "data/model.pth").exists()
    # The batch dimension stays dynamic: any number of rows scores.
    loaded = mltrack.pyfunc.load_model(str(path))
    np.testing.assert_allclose(
        loaded.predict(features[:7]), trained.predict(features[:7]), rtol=1e-5
    )


def test_tampered_native_file_is_refused_before_deserializing(repo: Path, trained: Trained) -> None:
    import mltrack
    from mltrack.exceptions import IntegrityError

    run_id, _ = _log(trained)
    native = _model_dir(repo, run_id) / NATIVE_FILES[trained.flavor]
    native.write_bytes(native.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match=NATIVE_FILES[trained.flavor].rsplit("/", 1)[-1]):
        _flavor_module(trained.flavor).load_model(f"runs:/{run_id}/model")
    with pytest.raises(IntegrityError):
        mltrack.pyfunc.load_model(f"runs:/{run_id}/model")


def test_a_deployment_that_forbids_pickles_still_loads_native_formats(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mltrack
    from mltrack.exceptions import InvalidParameterValue

    torch_model = _train("pytorch")
    booster = _train("lightgbm")
    mltrack.pytorch.save_model(torch_model.model, repo / "pickled")
    mltrack.lightgbm.save_model(booster.model, repo / "native", input_example=booster.example)
    monkeypatch.setenv("MLTRACK_ALLOW_PICKLE_DESERIALIZATION", "false")
    with pytest.raises(InvalidParameterValue, match=r"Refusing to unpickle model\.pth"):
        mltrack.pyfunc.load_model(str(repo / "pickled"))
    predicted = mltrack.pyfunc.load_model(str(repo / "native")).predict(booster.example)
    np.testing.assert_allclose(predicted, booster.predict(booster.example))


def test_signature_is_enforced(repo: Path) -> None:
    import mltrack
    from mltrack.exceptions import SchemaEnforcementError

    trained = _train("xgboost")
    run_id, _ = _log(trained)
    model = mltrack.pyfunc.load_model(f"runs:/{run_id}/model")
    with pytest.raises(SchemaEnforcementError, match="petal_width"):
        model.predict(trained.example.drop(columns=["petal_width"]))


def test_wrong_model_type_is_a_clear_error(repo: Path) -> None:
    import mltrack
    from mltrack.exceptions import InvalidParameterValue

    pytest.importorskip("xgboost")
    with pytest.raises(InvalidParameterValue, match=r"xgboost\.Booster or XGBModel"):
        mltrack.xgboost.save_model(object(), repo / "nope")
    assert not (repo / "nope").exists()


def test_log_register_and_serve_every_flavor(repo: Path, tmp_path: Path) -> None:
    """The MLflow user's script with ``import mltrack as mlflow``: log, register, serve, score."""
    import httpx

    import mltrack as mlflow
    from mltrack.serving.app import create_app
    from mltrack.serving.served import ServedModel
    from support import ServerProcess, serve_in_thread

    for flavor in FRAMEWORKS:
        trained = _train(flavor)
        with mlflow.start_run():
            getattr(mlflow, flavor).log_model(
                trained.model,
                name="model",
                input_example=trained.example,
                registered_model_name=f"iris-{flavor}",
            )
        example = trained.example
        inputs = example.to_dict(orient="split") if isinstance(example, pd.DataFrame) else None
        body = (
            {"dataframe_split": {"columns": inputs["columns"], "data": inputs["data"]}}
            if inputs is not None
            else {"inputs": np.asarray(example).tolist()}
        )
        expected = trained.predict(example)
        uri = f"models:/iris-{flavor}/1"
        if flavor == "xgboost":  # once as the real `mltrack models serve` process
            live = ServerProcess(
                "models", "serve", "-m", uri, ready_path="/ping", log_dir=tmp_path, cwd=repo
            )
            try:
                response = httpx.post(f"{live.url}/invocations", json=body, timeout=60)
            finally:
                live.stop()
        else:
            with serve_in_thread(create_app(ServedModel.load(uri))) as url:
                response = httpx.post(f"{url}/invocations", json=body, timeout=60)
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        if predictions and isinstance(predictions[0], dict):
            predictions = [list(row.values()) for row in predictions]
        np.testing.assert_allclose(np.asarray(predictions), expected, rtol=1e-5)


def test_importing_mltrack_imports_no_framework() -> None:
    from conftest import python_env

    code = (
        "import sys, mltrack\n"
        "mltrack.xgboost, mltrack.lightgbm, mltrack.pytorch, mltrack.keras, mltrack.autolog\n"
        "print(sorted(m for m in ('xgboost', 'lightgbm', 'torch', 'keras', 'pyspark', 'sklearn') "
        "if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=python_env(), capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout.replace("'", '"')) == []


# ---------------------------------------------------------------------- MLflow interop


@pytest.mark.mlflow
def test_mltrack_model_loads_in_mlflow(repo: Path, trained: Trained) -> None:
    mlflow = pytest.importorskip("mlflow")
    run_id, _ = _log(trained)
    directory = str(_model_dir(repo, run_id))
    predicted = mlflow.pyfunc.load_model(directory).predict(trained.example)
    np.testing.assert_allclose(_values(predicted), trained.predict(trained.example), rtol=1e-5)
    native = getattr(mlflow, trained.flavor).load_model(directory)
    assert type(native).__name__ == type(trained.model).__name__


def _mlflow_save(mlflow: Any, trained: Trained, path: Path) -> None:
    flavor = getattr(mlflow, trained.flavor)
    path.mkdir()  # mlflow.keras.save_model writes the example before creating the directory
    # Given requirements spare MLflow's ~10 s inference subprocess per save.
    requirements = [trained.distribution]
    if trained.flavor == "pytorch":
        features = np.asarray(trained.example, dtype=np.float32)
        flavor.save_model(  # pt2 by default
            trained.model, str(path), input_example=features, pip_requirements=requirements
        )
    else:
        flavor.save_model(
            trained.model, str(path), input_example=trained.example, pip_requirements=requirements
        )


@pytest.mark.mlflow
def test_mlflow_model_loads_in_mltrack(tmp_path: Path, trained: Trained) -> None:
    mlflow = pytest.importorskip("mlflow")
    import mltrack

    path = tmp_path / "mlflow-model"
    _mlflow_save(mlflow, trained, path)
    example = trained.example
    if trained.flavor == "pytorch":
        example = np.asarray(example, dtype=np.float32)
    predicted = mltrack.pyfunc.load_model(str(path)).predict(example)
    np.testing.assert_allclose(_values(predicted), trained.predict(example), rtol=1e-5)
    native = _flavor_module(trained.flavor).load_model(str(path))
    assert callable(native) or hasattr(native, "predict")


@pytest.mark.mlflow
def test_mlflow_pickled_torch_and_sklearn_api_lightgbm_load_in_mltrack(tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("torch")
    pytest.importorskip("lightgbm")
    import lightgbm as lgb

    import mltrack

    torch_model = _train("pytorch")
    mlflow.pytorch.save_model(
        torch_model.model, str(tmp_path / "t"), serialization_format="pickle", pip_requirements=[]
    )
    features = _iris()[0].to_numpy(dtype=np.float32)[:5]
    np.testing.assert_allclose(
        mltrack.pyfunc.load_model(str(tmp_path / "t")).predict(features),
        torch_model.predict(features),
        rtol=1e-5,
    )
    X, y = _iris()
    classifier = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y)
    for fmt in ("skops", "cloudpickle"):
        path = tmp_path / f"lgb-{fmt}"
        mlflow.lightgbm.save_model(
            classifier, str(path), serialization_format=fmt, pip_requirements=[]
        )
        loaded = mltrack.lightgbm.load_model(str(path))
        assert list(loaded.predict(X.head(5))) == list(classifier.predict(X.head(5)))
