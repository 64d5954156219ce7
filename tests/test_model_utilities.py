"""``mlflow.models.set_signature``, ``mlflow.models.validate_serving_input`` (with
``convert_input_example_to_serving_input``) and ``mlflow.pyfunc.get_model_dependencies``,
written as an MLflow user writes them, with ``import mltrack as mlflow``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from conftest import git


@pytest.fixture
def iris_model():  # type: ignore[no-untyped-def]
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, LogisticRegression(max_iter=1000).fit(X, y)


def _committed(repo: Path) -> None:
    assert git(repo, "status", "--porcelain", "--", ".mltrack") == ""


# ---------------------------------------------------------------------- set_signature


def test_set_signature_on_a_finished_runs_model(repo: Path, iris_model) -> None:  # type: ignore[no-untyped-def]
    import mltrack as mlflow
    from mltrack.models import infer_signature, set_signature

    X, model = iris_model
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(model, name="model")
    model_uri = f"runs:/{run.info.run_id}/model"
    assert mlflow.models.get_model_info(model_uri).signature is None
    commits = int(git(repo, "rev-list", "--count", "HEAD"))

    signature = infer_signature(X, model.predict(X))
    set_signature(model_uri, signature)

    assert mlflow.models.get_model_info(model_uri).signature == signature
    loaded = mlflow.pyfunc.load_model(model_uri)  # the recorded MLmodel hash followed the change
    assert loaded.metadata.get_input_schema() == signature.inputs
    with pytest.raises(mlflow.MlflowException, match="sepal length"):
        loaded.predict(X.drop(columns=["sepal length (cm)"]))  # the new signature is enforced
    _committed(repo)
    assert int(git(repo, "rev-list", "--count", "HEAD")) == commits + 1


def test_set_signature_on_a_logged_model_id_inside_the_run(repo: Path, iris_model) -> None:  # type: ignore[no-untyped-def]
    import mltrack as mlflow

    X, model = iris_model
    signature = mlflow.models.infer_signature(X, model.predict(X))
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model")
        mlflow.models.set_signature(f"models:/{info.model_id}", signature)
    assert mlflow.models.get_model_info(info.model_uri).signature == signature
    assert list(mlflow.pyfunc.load_model(info.model_uri).predict(X.head(2))) == [0, 0]
    _committed(repo)


def test_set_signature_refuses_a_registered_version(repo: Path, iris_model) -> None:  # type: ignore[no-untyped-def]
    import mltrack as mlflow

    X, model = iris_model
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name="iris")
    signature = mlflow.models.infer_signature(X, model.predict(X))
    with pytest.raises(mlflow.MlflowException, match="models:/<name>/<version>"):
        mlflow.models.set_signature("models:/iris/1", signature)
    assert mlflow.models.get_model_info("models:/iris/1").signature is None
    with pytest.raises(mlflow.MlflowException, match="ModelSignature"):
        mlflow.models.set_signature("models:/iris/1", {"inputs": "x"})  # type: ignore[arg-type]


def test_set_signature_on_a_saved_directory(tmp_path: Path, iris_model) -> None:  # type: ignore[no-untyped-def]
    import mltrack as mlflow

    X, model = iris_model
    path = tmp_path / "model"
    mlflow.sklearn.save_model(model, str(path))
    signature = mlflow.models.infer_signature(X, model.predict(X))
    mlflow.models.set_signature(str(path), signature)
    assert mlflow.pyfunc.load_model(str(path)).metadata.signature == signature


def test_set_signature_refuses_a_tampered_model(repo: Path, iris_model) -> None:  # type: ignore[no-untyped-def]
    import mltrack as mlflow

    X, model = iris_model
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(model, name="model")
    directory = mlflow.MlflowClient().repository.runs.artifact_dir(run.info.run_id) / "model"
    mlmodel = directory / "MLmodel"
    mlmodel.write_text(mlmodel.read_text() + "\n# edited by hand\n")
    signature = mlflow.models.infer_signature(X, model.predict(X))
    with pytest.raises(mlflow.MlflowException, match="modified"):
        mlflow.models.set_signature(f"runs:/{run.info.run_id}/model", signature)


# ---------------------------------------------------------------------- validate_serving_input


def test_validate_serving_input_with_the_logged_example(repo: Path, iris_model) -> None:  # type: ignore[no-untyped-def]
    import mltrack as mlflow
    from mltrack.models import validate_serving_input

    X, model = iris_model
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(3))
    # What MLflow tells its users to run before deploying: the logged serving example.
    serving_input = mlflow.artifacts.load_text(
        f"runs:/{run.info.run_id}/model/serving_input_example.json"
    )
    predictions = validate_serving_input(info.model_uri, serving_input)
    assert list(predictions) == list(model.predict(X.head(3)))


def test_validate_serving_input_from_an_input_example(repo: Path, iris_model) -> None:  # type: ignore[no-untyped-def]
    import mltrack as mlflow
    from mltrack.models import convert_input_example_to_serving_input, validate_serving_input

    X, model = iris_model
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(2))
    serving_payload = convert_input_example_to_serving_input(X.tail(2))
    assert json.loads(serving_payload)["dataframe_split"]["columns"] == list(X.columns)
    assert list(validate_serving_input(info.model_uri, serving_payload)) == [2, 2]
    records = {"dataframe_records": X.tail(1).to_dict(orient="records")}
    assert list(validate_serving_input(info.model_uri, records)) == [2]
    assert convert_input_example_to_serving_input(None) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}', "sepal"),
        ('{"instances": [1', "not valid JSON"),
        ('{"rows": []}', "Unknown key"),
    ],
)
def test_validate_serving_input_refuses_what_the_server_refuses(
    repo: Path, iris_model, body: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    import mltrack as mlflow

    X, model = iris_model
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(2))
    with pytest.raises(mlflow.MlflowException, match=message):
        mlflow.models.validate_serving_input(info.model_uri, body)


# ---------------------------------------------------------------------- get_model_dependencies


def test_get_model_dependencies_pip_and_conda(repo: Path, iris_model) -> None:  # type: ignore[no-untyped-def]
    import mltrack as mlflow

    _, model = iris_model
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name="iris")
    for uri in (info.model_uri, "models:/iris/1", f"models:/{info.model_id}"):
        path = Path(mlflow.pyfunc.get_model_dependencies(uri))
        assert path.name == "requirements.txt"
        assert repo not in path.parents  # a copy: the committed file is not handed out
        assert any(line.startswith("scikit-learn") for line in path.read_text().splitlines())
    conda = Path(mlflow.pyfunc.get_model_dependencies(info.model_uri, format="conda"))
    assert conda.name == "conda.yaml" and "dependencies" in conda.read_text()
    with pytest.raises(mlflow.MlflowException, match="Illegal format argument 'poetry'"):
        mlflow.pyfunc.get_model_dependencies(info.model_uri, format="poetry")
    _committed(repo)


def test_get_model_dependencies_of_an_old_model_without_requirements_txt(tmp_path: Path) -> None:
    """MLflow 1 models only have conda.yaml: its pip section becomes a requirements.txt."""
    import mltrack as mlflow

    model = tmp_path / "old-model"
    model.mkdir()
    (model / "MLmodel").write_text(
        "flavors:\n  python_function:\n    env: conda.yaml\n    loader_module: mlflow.sklearn\n"
        "    model_path: model.pkl\n"
    )
    (model / "conda.yaml").write_text(
        "name: mlflow-env\ndependencies:\n- python=3.8\n- pip\n- pip:\n  - mlflow\n"
        "  - scikit-learn==0.23.2\n"
    )
    path = Path(mlflow.pyfunc.get_model_dependencies(str(model)))
    assert path.read_text() == "mlflow\nscikit-learn==0.23.2\n"
    (model / "conda.yaml").write_text("dependencies:\n- python=3.8\n")
    with pytest.raises(mlflow.MlflowException, match="No pip section"):
        mlflow.pyfunc.get_model_dependencies(str(model))


# ---------------------------------------------------------------------- MLflow interop


@pytest.mark.mlflow
def test_the_same_answers_as_mlflow_on_an_mlflow_model(tmp_path: Path, iris_model) -> None:  # type: ignore[no-untyped-def]
    mlflow = pytest.importorskip("mlflow")
    import mltrack

    X, model = iris_model
    path = str(tmp_path / "mlflow-model")
    mlflow.sklearn.save_model(
        model, path, input_example=X.head(2), pip_requirements=["scikit-learn", "pandas"]
    )
    for format in ("pip", "conda"):
        ours = Path(mltrack.pyfunc.get_model_dependencies(path, format=format)).read_text()
        theirs = Path(mlflow.pyfunc.get_model_dependencies(path, format=format)).read_text()
        assert ours == theirs
    serving_input = (Path(path) / "serving_input_example.json").read_text()
    with pytest.warns(FutureWarning, match="deprecated"):  # MLflow's; mltrack keeps it quietly
        theirs = mlflow.models.validate_serving_input(path, serving_input)
    assert list(mltrack.models.validate_serving_input(path, serving_input)) == list(theirs)
    signature = mltrack.models.infer_signature(X, model.predict(X))
    mltrack.models.set_signature(path, signature)
    assert mlflow.models.get_model_info(path).signature.to_dict() == signature.to_dict()
