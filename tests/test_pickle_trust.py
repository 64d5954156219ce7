"""A deployment can refuse pickled models and accept only skops (MLflow's switch, and ours)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from mltrack.pyfunc import PythonModel

X = [[0.0], [1.0], [2.0], [3.0]]
Y = [0, 0, 1, 1]


class Doubler(PythonModel):
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return [2 * value for value in model_input]


def _models(tmp_path: Path) -> dict[str, Path]:
    import mltrack

    estimator = LogisticRegression(max_iter=200).fit(X, Y)
    paths = {}
    for serialization in ("pickle", "cloudpickle", "skops"):
        paths[serialization] = tmp_path / serialization
        mltrack.sklearn.save_model(
            estimator, str(paths[serialization]), serialization_format=serialization
        )
    paths["pythonmodel"] = tmp_path / "pythonmodel"
    mltrack.pyfunc.save_model(str(paths["pythonmodel"]), python_model=Doubler())
    return paths


@pytest.mark.parametrize(
    "switch", ["MLTRACK_ALLOW_PICKLE_DESERIALIZATION", "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"]
)
def test_pickles_are_refused_and_skops_loads_when_a_switch_says_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    import mltrack
    from mltrack.exceptions import InvalidParameterValue

    paths = _models(tmp_path)
    monkeypatch.setenv(switch, "false")
    for kind in ("pickle", "cloudpickle", "pythonmodel"):
        with pytest.raises(InvalidParameterValue, match=f"{switch}=false forbids") as refused:
            mltrack.pyfunc.load_model(str(paths[kind]))
        assert "serialization_format='skops'" in str(refused.value)
    for kind in ("pickle", "cloudpickle"):
        with pytest.raises(InvalidParameterValue, match="forbids"):
            mltrack.sklearn.load_model(str(paths[kind]))
    assert list(mltrack.pyfunc.load_model(str(paths["skops"])).predict([[0.0], [3.0]])) == [0, 1]
    assert mltrack.sklearn.load_model(str(paths["skops"])).predict([[3.0]])[0] == 1


def test_pickles_load_by_default_and_when_the_switch_says_true(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mltrack

    paths = _models(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    assert mltrack.pyfunc.load_model(str(paths["pythonmodel"])).predict([1, 2]) == [2, 4]
    monkeypatch.delenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    assert list(mltrack.pyfunc.load_model(str(paths["pickle"])).predict([[3.0]])) == [1]
