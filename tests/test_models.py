"""Model directories: format, signatures, tamper detection, URIs, autolog, MLflow interop."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from conftest import git

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    data = load_iris()
    return pd.DataFrame(data.data, columns=COLUMNS), pd.Series(data.target)


@pytest.fixture(scope="module")
def forest(iris: tuple[pd.DataFrame, pd.Series]) -> RandomForestClassifier:
    X, y = iris
    return RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)


def _logged(
    forest: RandomForestClassifier, X: pd.DataFrame, **kwargs: object
) -> tuple[str, object]:
    import mltrack

    with mltrack.start_run() as run:
        info = mltrack.sklearn.log_model(forest, name="model", input_example=X.head(3), **kwargs)
    return run.info.run_id, info


def test_save_model_writes_mlflow_layout(tmp_path: Path, forest, iris) -> None:
    from mltrack.models.model import Model

    X, _ = iris
    import mltrack.sklearn

    mltrack.sklearn.save_model(forest, tmp_path / "m", input_example=X.head(2))
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == [
        "MLmodel", "conda.yaml", "input_example.json", "model.pkl", "python_env.yaml",
        "requirements.txt", "serving_input_example.json",
    ]  # fmt: skip
    model = Model.load(tmp_path / "m")
    assert model.flavors["python_function"]["loader_module"] == "mlflow.sklearn"
    assert model.flavors["sklearn"]["serialization_format"] == "cloudpickle"
    assert model.signature is not None
    assert [c.name for c in model.signature.inputs.inputs] == COLUMNS
    assert set(model.files) == set(files) - {"MLmodel"}
    requirements = (tmp_path / "m" / "requirements.txt").read_text()
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in requirements
    example = json.loads((tmp_path / "m" / "input_example.json").read_text())
    assert example["columns"] == COLUMNS and len(example["data"]) == 2
    serving = json.loads((tmp_path / "m" / "serving_input_example.json").read_text())
    assert "dataframe_split" in serving


def test_save_model_refuses_existing_directory(tmp_path: Path, forest) -> None:
    import mltrack.sklearn
    from mltrack.exceptions import InvalidParameterValue

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x").write_text("keep")
    with pytest.raises(InvalidParameterValue, match="already exists"):
        mltrack.sklearn.save_model(forest, tmp_path / "m")
    assert (tmp_path / "m" / "x").read_text() == "keep"


def test_log_model_accepts_name_and_artifact_path(repo: Path, forest, iris) -> None:
    import mltrack

    X, _ = iris
    with mltrack.start_run() as run:
        first = mltrack.sklearn.log_model(forest, name="model")
        second = mltrack.sklearn.log_model(forest, artifact_path="legacy")
    assert first.model_uri.startswith("models:/m-")
    assert first.run_id == run.info.run_id and first.artifact_path == "model"
    assert second.artifact_path == "legacy"
    record = mltrack.MltrackClient().get_run(run.info.run_id)
    assert record.info.status == "FINISHED"
    for uri in (
        f"runs:/{run.info.run_id}/model",
        f"runs:/{run.info.run_id}/legacy",
        first.model_uri,
    ):
        assert list(mltrack.pyfunc.load_model(uri).predict(X.head(2))) == list(
            forest.predict(X.head(2))
        )


def test_every_uri_form_resolves(repo: Path, forest, iris) -> None:
    import mltrack
    from mltrack import MltrackClient

    X, _ = iris
    run_id, info = _logged(forest, X)
    mltrack.register_model(f"runs:/{run_id}/model", "iris model")
    mltrack.register_model(info.model_uri, "iris model")
    registry = MltrackClient().registry
    registry.transition_model_version_stage("iris model", 1, "Staging")
    registry.set_registered_model_alias("iris model", "champion", 2)
    expected = list(forest.predict(X.head(3)))
    model_dir = repo / ".mltrack" / "experiments" / "0" / "runs" / run_id / "artifacts" / "model"
    uris = [
        f"runs:/{run_id}/model",
        info.model_uri,
        "models:/iris model/1",
        "models:/iris model/2",
        "models:/iris model/staging",
        "models:/iris model/latest",
        "models:/iris model@champion",
        str(model_dir),
        model_dir.as_uri(),
    ]
    for uri in uris:
        assert list(mltrack.pyfunc.load_model(uri).predict(X.head(3))) == expected, uri
    assert isinstance(
        mltrack.sklearn.load_model("models:/iris model@champion"), RandomForestClassifier
    )


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("runs:/0123456789abcdef0123456789abcdef/model", "not found"),
        ("runs:/{run}/nope", "has no model at 'nope'"),
        ("models:/no such model/1", "not found"),
        ("models:/iris model/9", "has no version 9"),
        ("models:/iris model/Production", "no version in stage Production"),
        ("models:/iris model@nope", "has no alias 'nope'"),
        ("models:/m-0123456789abcdef0123456789abcdef", "No logged model"),
        ("models:/iris model", "add a version"),
        ("s3://bucket/model", "remote storage"),
        ("/no/such/dir", "no MLmodel"),
    ],
)
def test_each_kind_of_miss_has_a_clear_error(
    repo: Path, forest, iris, uri: str, message: str
) -> None:
    import mltrack
    from mltrack.exceptions import MltrackError

    X, _ = iris
    run_id, _ = _logged(forest, X)
    mltrack.register_model(f"runs:/{run_id}/model", "iris model")
    with pytest.raises(MltrackError, match=message):
        mltrack.pyfunc.load_model(uri.format(run=run_id))


def test_tampered_file_is_refused_by_name(repo: Path, forest, iris) -> None:
    import mltrack
    from mltrack.exceptions import IntegrityError

    X, _ = iris
    run_id, _ = _logged(forest, X)
    pickle_file = repo / f".mltrack/experiments/0/runs/{run_id}/artifacts/model/model.pkl"
    data = bytearray(pickle_file.read_bytes())
    data[-20] ^= 0xFF
    pickle_file.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"model\.pkl"):
        mltrack.pyfunc.load_model(f"runs:/{run_id}/model")


def test_tampering_with_manifest_too_is_caught_by_recorded_mlmodel_hash(
    repo: Path, forest, iris
) -> None:
    import yaml

    import mltrack
    from mltrack.exceptions import IntegrityError
    from mltrack.hashing import sha256_file

    X, _ = iris
    run_id, _ = _logged(forest, X)
    directory = repo / ".mltrack" / "experiments" / "0" / "runs" / run_id / "artifacts" / "model"
    (directory / "model.pkl").write_bytes(b"not a pickle")
    mlmodel = yaml.safe_load((directory / "MLmodel").read_text())
    mlmodel["mltrack"]["files"]["model.pkl"] = sha256_file(directory / "model.pkl")
    (directory / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(IntegrityError, match="MLmodel"):
        mltrack.pyfunc.load_model(f"runs:/{run_id}/model")


def test_registered_version_is_immutable_even_if_branch_files_change(
    repo: Path, forest, iris
) -> None:
    import mltrack

    X, _ = iris
    run_id, _ = _logged(forest, X)
    mltrack.register_model(f"runs:/{run_id}/model", "iris model")
    pickle_file = repo / f".mltrack/experiments/0/runs/{run_id}/artifacts/model/model.pkl"
    pickle_file.write_bytes(b"garbage")
    # The version loads from its tag's snapshot, not from the working tree.
    assert len(mltrack.pyfunc.load_model("models:/iris model/1").predict(X.head(1))) == 1


def test_signature_enforcement(repo: Path, forest, iris) -> None:
    import mltrack
    from mltrack.exceptions import SchemaEnforcementError

    X, _ = iris
    run_id, _ = _logged(forest, X)
    model = mltrack.pyfunc.load_model(f"runs:/{run_id}/model")
    with pytest.raises(SchemaEnforcementError, match="petal_width"):
        model.predict(X.drop(columns=["petal_width"]))
    with pytest.raises(SchemaEnforcementError, match="extra"):
        model.predict(X.assign(extra=1.0))
    with pytest.raises(SchemaEnforcementError, match="sepal_length"):
        model.predict(X.assign(sepal_length="abc"))
    as_ints = X.round().astype("int64")
    assert len(model.predict(as_ints)) == len(X)  # exact integers convert to double
    assert len(model.predict(X.astype("float32"))) == len(X)
    reordered = X[list(reversed(COLUMNS))]
    assert list(model.predict(reordered)) == list(forest.predict(X))
    records = X.head(2).to_dict(orient="records")
    assert len(model.predict(records)) == 2


def test_pythonmodel_round_trip(repo: Path, tmp_path: Path) -> None:
    import mltrack

    lookup = tmp_path / "offset.json"
    lookup.write_text(json.dumps({"offset": 10}))

    class AddOffset(mltrack.pyfunc.PythonModel):
        def load_context(self, context):  # type: ignore[no-untyped-def]
            self.offset = json.loads(Path(context.artifacts["offset"]).read_text())["offset"]

        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return (model_input["x"] + self.offset * (params or {}).get("scale", 1)).tolist()

    with mltrack.start_run() as run:
        mltrack.pyfunc.log_model(
            name="adder",
            python_model=AddOffset(),
            artifacts={"offset": str(lookup)},
            input_example=pd.DataFrame({"x": [1.0, 2.0]}),
        )
    model = mltrack.pyfunc.load_model(f"runs:/{run.info.run_id}/adder")
    assert model.predict(pd.DataFrame({"x": [1.0, 5.0]})) == [11.0, 15.0]


class _Wrapped:
    """A PythonModel that predicts with the sklearn model given as its "inner" artifact."""

    @staticmethod
    def model_class():  # type: ignore[no-untyped-def]
        import mltrack

        class Wrapped(mltrack.pyfunc.PythonModel):
            def load_context(self, context):  # type: ignore[no-untyped-def]
                self.inner = mltrack.sklearn.load_model(context.artifacts["inner"])
                self.labels = Path(context.artifacts["labels"]).read_text().split()

            def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
                return [self.labels[i] for i in self.inner.predict(model_input)]

        return Wrapped


def test_pyfunc_artifacts_may_be_model_and_run_uris(repo: Path, forest, iris) -> None:
    import mltrack

    X, _ = iris
    with mltrack.start_run() as run:
        info = mltrack.sklearn.log_model(forest, name="forest")
        mltrack.log_text("setosa versicolor virginica", "labels.txt")
    mltrack.register_model(info.model_uri, "forest")
    labels = f"runs:/{run.info.run_id}/labels.txt"
    expected = [["setosa", "versicolor", "virginica"][i] for i in forest.predict(X.head(3))]
    for inner in (info.model_uri, f"runs:/{run.info.run_id}/forest", "models:/forest/1"):
        with mltrack.start_run() as outer:
            wrapped = mltrack.pyfunc.log_model(
                name="wrapped",
                python_model=_Wrapped.model_class()(),
                artifacts={"inner": inner, "labels": labels},
            )
        model = mltrack.pyfunc.load_model(wrapped.model_uri)
        assert model.predict(X.head(3)) == expected, inner
        copied = mltrack.MlflowClient().list_artifacts(outer.info.run_id, "wrapped/artifacts")
        assert len(copied) == 2  # the model is copied in, not referenced
    saved = repo / "saved"
    mltrack.pyfunc.save_model(
        saved,
        python_model=_Wrapped.model_class()(),
        artifacts={"inner": info.model_uri, "labels": labels},
    )
    assert (saved / "artifacts" / "forest" / "MLmodel").is_file()
    assert (saved / "artifacts" / "labels.txt").read_text().startswith("setosa")


def test_pyfunc_artifact_uri_that_names_nothing_is_a_clear_error(repo: Path) -> None:
    import mltrack

    with mltrack.start_run() as run:
        mltrack.log_text("x", "present.txt")
    for uri, message in [
        (f"runs:/{run.info.run_id}/absent.txt", "has no artifact at 'absent.txt'"),
        ("models:/m-0123456789abcdef0123456789abcdef", "No logged model"),
        ("s3://bucket/model", "remote storage"),
    ]:
        with pytest.raises(mltrack.MltrackError, match=message):
            mltrack.pyfunc.save_model(
                repo / "never", python_model=_Wrapped.model_class()(), artifacts={"inner": uri}
            )
        assert not (repo / "never").exists()


def test_autolog_logs_params_metrics_and_model(repo: Path, iris) -> None:
    import mltrack

    X, y = iris
    mltrack.sklearn.autolog()
    try:
        LogisticRegression(max_iter=300).fit(X, y)  # no active run: one is started and ended
        with mltrack.start_run() as outer:
            Pipeline([("scale", StandardScaler()), ("lr", LinearRegression())]).fit(X, y)
    finally:
        mltrack.sklearn.autolog(disable=True)
    runs = mltrack.search_runs(output_format="list", order_by=["attributes.start_time ASC"])
    assert len(runs) == 2
    first, second = runs
    assert first.data.params["max_iter"] == "300"
    assert first.data.metrics["training_accuracy_score"] > 0.9
    assert "training_log_loss" in first.data.metrics
    assert first.data.tags["estimator_name"] == "LogisticRegression"
    assert first.info.status == "FINISHED"
    assert second.info.run_id == outer.info.run_id
    assert "training_r2_score" in second.data.metrics
    assert "lr__fit_intercept" in second.data.params
    assert (
        len(mltrack.pyfunc.load_model(f"runs:/{first.info.run_id}/model").predict(X.head(2))) == 2
    )
    assert [d.dataset.name for d in first.inputs.dataset_inputs] == ["train"]


def test_logging_a_model_leaves_only_committed_files(repo: Path, forest, iris) -> None:
    X, _ = iris
    _logged(forest, X)
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.mlflow
def test_mltrack_model_loads_in_mlflow(repo: Path, forest, iris) -> None:
    mlflow = pytest.importorskip("mlflow")
    X, _ = iris
    run_id, _ = _logged(forest, X)
    path = repo / ".mltrack" / "experiments" / "0" / "runs" / run_id / "artifacts" / "model"
    model = mlflow.pyfunc.load_model(str(path))
    assert list(model.predict(X.head(3))) == list(forest.predict(X.head(3)))
    assert type(mlflow.sklearn.load_model(str(path))).__name__ == "RandomForestClassifier"


@pytest.mark.mlflow
@pytest.mark.parametrize("serialization_format", ["skops", "pickle", "cloudpickle"])
def test_mlflow_model_loads_in_mltrack(
    tmp_path: Path, forest, iris, serialization_format: str
) -> None:
    mlflow = pytest.importorskip("mlflow")
    import mltrack

    X, _ = iris
    path = tmp_path / "mlflow-model"
    mlflow.sklearn.save_model(
        forest,
        str(path),
        serialization_format=serialization_format,
        input_example=X.head(2),
        skops_trusted_types=["sklearn.tree._tree.Tree"]
        if serialization_format == "skops"
        else None,
    )
    model = mltrack.pyfunc.load_model(str(path))
    assert list(model.predict(X.head(3))) == list(forest.predict(X.head(3)))


@pytest.mark.mlflow
def test_mlflow_pythonmodel_loads_in_mltrack(tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    import mltrack

    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return (model_input["x"] * 2).tolist()

    path = tmp_path / "pyfunc"
    mlflow.pyfunc.save_model(str(path), python_model=Doubler())
    assert mltrack.pyfunc.load_model(str(path)).predict(pd.DataFrame({"x": [1.0, 2.0]})) == [
        2.0,
        4.0,
    ]
