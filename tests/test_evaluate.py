"""``mlflow.evaluate`` / ``mlflow.models.evaluate`` with ``import mltrack as mlflow``: MLflow's
default evaluator for classifiers and regressors, as an MLflow user calls it."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

from conftest import git, python_env, run_python

BINARY_METRICS = {
    "true_negatives",
    "false_positives",
    "false_negatives",
    "true_positives",
    "example_count",
    "accuracy_score",
    "recall_score",
    "precision_score",
    "f1_score",
    "log_loss",
    "roc_auc",
    "precision_recall_auc",
    "score",  # an sklearn model's own score, as MLflow logs it
}
MULTICLASS_METRICS = {
    "example_count",
    "accuracy_score",
    "recall_score",
    "precision_score",
    "f1_score",
    "log_loss",
    "roc_auc",
    "score",
}
REGRESSOR_METRICS = {
    "example_count",
    "mean_absolute_error",
    "mean_squared_error",
    "root_mean_squared_error",
    "sum_on_target",
    "mean_on_target",
    "r2_score",
    "max_error",
    "mean_absolute_percentage_error",
}


def _frame(loader):  # type: ignore[no-untyped-def]
    X, y = loader(return_X_y=True, as_frame=True)
    return X, y


def _committed(repo: Path) -> None:
    assert git(repo, "status", "--porcelain", "--", ".mltrack") == ""


def test_binary_classifier_from_a_runs_uri(repo: Path) -> None:
    import mltrack as mlflow

    X, y = _frame(load_breast_cancer)
    model = LogisticRegression(max_iter=5000).fit(X, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model")
        result = mlflow.evaluate(
            info.model_uri,
            X.assign(label=y),
            targets="label",
            model_type="classifier",
            evaluators="default",
        )
    assert set(result.metrics) == BINARY_METRICS
    assert result.run_id == run.info.run_id
    logged = mlflow.get_run(run.info.run_id).data.metrics
    assert logged == pytest.approx({k: float(v) for k, v in result.metrics.items()})
    assert result.metrics["example_count"] == len(X)
    assert result.metrics["accuracy_score"] == pytest.approx(model.score(X, y))
    counts = [result.metrics[k] for k in ("true_negatives", "false_positives")]
    assert sum(counts) == (y == 0).sum()
    plots = {
        "roc_curve_plot",
        "precision_recall_curve_plot",
        "lift_curve_plot",
        "calibration_curve_plot",
        "confusion_matrix",
    }
    assert set(result.artifacts) == plots
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {f"{name}.png" for name in plots} <= artifacts
    image = result.artifacts["roc_curve_plot"]
    assert image.uri.endswith("/roc_curve_plot.png")
    assert image.content.size[0] > 100  # a PIL image, as MLflow's ImageEvaluationArtifact
    assert result.tables == {}  # as MLflow: the default evaluator logs no eval table
    _committed(repo)
    (dataset,) = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert dataset.dataset.name == "dataset"


def test_multiclass_classifier_from_a_registered_version(repo: Path) -> None:
    import mltrack as mlflow

    X, y = _frame(load_iris)
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            LogisticRegression(max_iter=1000).fit(X, y),
            name="model",
            registered_model_name="iris",
        )
    with mlflow.start_run() as run:
        result = mlflow.models.evaluate(
            "models:/iris/1", X.assign(species=y), targets="species", model_type="classifier"
        )
    assert set(result.metrics) == MULTICLASS_METRICS
    assert set(result.artifacts) == {
        "calibration_curve_plot",
        "roc_curve_plot",
        "precision_recall_curve_plot",
        "per_class_metrics",
        "confusion_matrix",
    }
    table = result.artifacts["per_class_metrics"].content
    assert list(table["positive_class"]) == [0, 1, 2]
    assert list(table.columns) == [
        "positive_class",
        "true_negatives",
        "false_positives",
        "false_negatives",
        "true_positives",
        "example_count",
        "accuracy_score",
        "recall_score",
        "precision_score",
        "f1_score",
        "roc_auc",
        "precision_recall_auc",
    ]
    stored = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/per_class_metrics.csv")
    assert stored.splitlines()[0].startswith("positive_class,true_negatives")
    _committed(repo)


def test_regressor_as_a_function_on_a_numpy_array_starts_and_ends_its_own_run(repo: Path) -> None:
    import mltrack as mlflow

    X, y = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(X, y)
    result = mlflow.evaluate(
        lambda frame: model.predict(frame.to_numpy()),  # MLflow hands a function a DataFrame
        X,
        targets=y,
        model_type="regressor",
        evaluators=["default"],
    )
    assert set(result.metrics) == REGRESSOR_METRICS  # a plain function has no sklearn score
    assert mlflow.active_run() is None
    run = mlflow.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert result.metrics["root_mean_squared_error"] == pytest.approx(
        math.sqrt(result.metrics["mean_squared_error"])
    )
    assert result.metrics["sum_on_target"] == pytest.approx(y.sum())
    assert result.metrics["mean_on_target"] == pytest.approx(y.mean())
    assert result.artifacts == {}
    _committed(repo)


def test_feature_names_name_the_columns_a_function_sees(repo: Path) -> None:
    import mltrack as mlflow

    seen = []

    def predict(frame: pd.DataFrame) -> np.ndarray:
        seen.append(list(frame.columns))
        return frame["b"].to_numpy() * 2

    X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])
    with mlflow.start_run():
        result = mlflow.evaluate(
            predict, X, targets=[4.0, 6.0, 9.0], model_type="regressor", feature_names=["a", "b"]
        )
        mlflow.evaluate(lambda f: f.iloc[:, 0], X, targets=[1.0, 2.0, 3.0], model_type="regressor")
    assert seen == [["a", "b"]]
    assert result.metrics["max_error"] == 1.0
    assert result.metrics["mean_absolute_error"] == pytest.approx(1 / 3)


def test_static_predictions_without_a_model(repo: Path) -> None:
    import mltrack as mlflow

    data = pd.DataFrame(
        {"x": [1, 2, 3, 4], "label": [0, 1, 1, 0], "pred": [0, 1, 0, 0]},
    )
    with mlflow.start_run():
        result = mlflow.evaluate(
            data=data, targets="label", predictions="pred", model_type="classifier"
        )
    assert result.metrics["true_positives"] == 1
    assert result.metrics["false_negatives"] == 1
    assert result.metrics["accuracy_score"] == 0.75
    assert "log_loss" not in result.metrics  # no probabilities without a model
    assert set(result.artifacts) == {"confusion_matrix"}


def test_an_mlflow_dataset_names_its_targets_and_predictions(repo: Path) -> None:
    import mltrack as mlflow

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0], "p": [1.0, 2.0, 5.0]})
    dataset = mlflow.data.from_pandas(frame, targets="y", predictions="p", name="holdout")
    with mlflow.start_run() as run:
        result = mlflow.evaluate(data=dataset, model_type="regressor")
    assert result.metrics["max_error"] == 2.0
    (logged,) = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert logged.dataset.name == "holdout"
    with pytest.raises(mlflow.MlflowException, match="top-level targets"):
        mlflow.evaluate(data=dataset, targets="y", model_type="regressor")


def test_a_result_saved_and_loaded_again(repo: Path, tmp_path: Path) -> None:
    import mltrack as mlflow
    from mltrack.models import EvaluationResult

    data = pd.DataFrame({"x": [1, 2, 3, 4], "label": [0, 1, 2, 2], "pred": [0, 1, 2, 1]})
    with mlflow.start_run():
        result = mlflow.evaluate(
            data=data, targets="label", predictions="pred", model_type="classifier"
        )
    result.save(tmp_path / "saved")
    loaded = EvaluationResult.load(tmp_path / "saved")
    assert loaded.metrics == pytest.approx(result.metrics)
    assert set(loaded.artifacts) == {"per_class_metrics", "confusion_matrix"}
    table = loaded.artifacts["per_class_metrics"]
    assert type(table).__name__ == "CsvEvaluationArtifact"
    assert table.content.equals(result.artifacts["per_class_metrics"].content)
    assert loaded.artifacts["confusion_matrix"].content.size == (
        result.artifacts["confusion_matrix"].content.size
    )


def test_pos_label_and_a_loaded_pyfunc_model(repo: Path, caplog: pytest.LogCaptureFixture) -> None:
    import mltrack as mlflow

    X, y = _frame(load_breast_cancer)
    model = LogisticRegression(max_iter=5000).fit(X, y)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model")
        loaded = mlflow.pyfunc.load_model(info.model_uri)
        default = mlflow.evaluate(loaded, X.assign(y=y), targets="y", model_type="classifier")
        flipped = mlflow.evaluate(
            loaded,
            X.assign(y=y),
            targets="y",
            model_type="classifier",
            evaluator_config={"pos_label": 0, "log_model_explainability": False},
        )
        assert "SHAP" not in caplog.text  # explanations turned off: nothing to say
        mlflow.evaluate(
            loaded,
            X.assign(y=y),
            targets="y",
            model_type="classifier",
            evaluator_config={"explainability_nsamples": 100},
        )
    assert "SHAP explanations are not offered" in caplog.text
    assert flipped.metrics["true_positives"] == default.metrics["true_negatives"]
    assert flipped.metrics["recall_score"] != default.metrics["recall_score"]
    assert flipped.metrics["accuracy_score"] == default.metrics["accuracy_score"]


def test_metric_prefix_names_metrics_and_plots(repo: Path) -> None:
    import mltrack as mlflow

    X, y = _frame(load_iris)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(LogisticRegression(max_iter=1000).fit(X, y), name="m")
        result = mlflow.evaluate(
            info.model_uri,
            X.assign(y=y),
            targets="y",
            model_type="classifier",
            evaluator_config={"default": {"metric_prefix": "val_"}},
        )
    assert set(result.metrics) == {f"val_{m}" for m in MULTICLASS_METRICS}
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert "val_confusion_matrix.png" in files
    (dataset,) = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert dataset.context == "val_"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_type": "question-answering"}, "GenAI"),
        ({"model_type": None}, "'classifier' or 'regressor'"),
        ({"extra_metrics": ["x"]}, "these are not metrics"),
        ({"extra_metrics": print}, "extra_metrics must be a list"),
        ({"custom_artifacts": print}, "custom_artifacts must be a list"),
        ({"evaluators": "shap"}, "default evaluator only"),
        ({"env_manager": "virtualenv"}, "current environment"),
        ({"targets": None}, "targets argument must be specified"),
        ({"targets": "nope"}, "'nope' is not in the data"),
        ({"model": "endpoints:/my-chat"}, "Deployments endpoint"),
        ({"model": 42}, "model argument must be"),
        ({"data": np.ones((2, 1)), "targets": "y"}, "targets must hold the labels"),
        ({"data": np.ones((2, 1)), "targets": [1]}, "1 labels for 2 rows"),
    ],
)
def test_what_is_not_offered_is_a_clear_error(repo: Path, kwargs, message: str) -> None:  # type: ignore[no-untyped-def]
    import mltrack as mlflow

    data = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    arguments = {
        "model": lambda f: f.iloc[:, 0] > 1,
        "data": data,
        "model_type": "classifier",
        "targets": "y",
        **kwargs,
    }
    with pytest.raises(mlflow.MlflowException, match=message):
        mlflow.evaluate(**arguments)
    assert mlflow.active_run() is None
    assert mlflow.search_runs(output_format="list") == []  # nothing was started


def test_extra_metrics_made_with_make_metric(repo: Path) -> None:
    import mltrack as mlflow
    from mltrack.metrics import MetricValue
    from mltrack.models import make_metric

    def squared_diff_plus_one(predictions, targets, metrics):  # type: ignore[no-untyped-def]
        return np.sum(np.abs(predictions - targets + 1) ** 2)

    def sum_on_target_divided_by_two(predictions, targets, metrics):  # type: ignore[no-untyped-def]
        return metrics["sum_on_target"].aggregate_results["sum_on_target"] / 2

    def per_row_error(predictions, targets):  # type: ignore[no-untyped-def]
        return MetricValue(scores=list((predictions - targets).abs()))

    def uses_another(predictions, per_row_error, x):  # type: ignore[no-untyped-def]
        return max(per_row_error.scores) + x.sum() * 0

    def legacy(eval_df, builtin_metrics):  # type: ignore[no-untyped-def]
        return builtin_metrics["example_count"] * 10

    data = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 5.0]})
    with mlflow.start_run() as run:
        result = mlflow.evaluate(
            lambda f: f["x"],
            data,
            targets="y",
            model_type="regressor",
            extra_metrics=[
                make_metric(eval_fn=uses_another, greater_is_better=False),  # needs per_row_error
                make_metric(eval_fn=squared_diff_plus_one, greater_is_better=False),
                make_metric(eval_fn=sum_on_target_divided_by_two, greater_is_better=True),
                make_metric(eval_fn=per_row_error, greater_is_better=False, version="v1"),
                make_metric(eval_fn=legacy, greater_is_better=True, name="ten_times"),
            ],
        )
    assert result.metrics["squared_diff_plus_one"] == 1 + 1 + 1  # (0+1)², (0+1)², (-2+1)²
    assert result.metrics["sum_on_target_divided_by_two"] == 4.0
    assert result.metrics["per_row_error/v1/mean"] == pytest.approx(2 / 3)
    assert result.metrics["per_row_error/v1/p90"] == pytest.approx(1.6)
    assert result.metrics["uses_another"] == 2.0
    assert result.metrics["ten_times"] == 30
    logged = mlflow.get_run(run.info.run_id).data.metrics
    assert logged["per_row_error/v1/variance"] == pytest.approx(
        result.metrics["per_row_error/v1/variance"]
    )
    table = result.tables["eval_results_table"]
    assert list(table.columns) == ["x", "y", "outputs", "per_row_error/v1/score"]
    assert table["per_row_error/v1/score"].tolist() == [0.0, 0.0, 2.0]
    _committed(repo)

    with pytest.raises(mlflow.MlflowException, match="lambda"):
        make_metric(eval_fn=lambda predictions: 1.0, greater_is_better=True)
    with pytest.raises(mlflow.MlflowException, match="requires \\['nope'\\]"):
        mlflow.evaluate(
            lambda f: f["x"],
            data,
            targets="y",
            model_type="regressor",
            extra_metrics=[make_metric(eval_fn=lambda nope: 1.0, greater_is_better=True, name="n")],
        )


def test_custom_artifacts_as_mlflow_calls_them(repo: Path) -> None:
    import os

    import matplotlib.pyplot as plt

    import mltrack as mlflow

    def scatter_plot(eval_df, builtin_metrics, artifacts_dir):  # type: ignore[no-untyped-def]
        plt.scatter(eval_df["prediction"], eval_df["target"])
        plt.savefig(os.path.join(artifacts_dir, "example.png"))
        plt.close()
        return {"pred_target_scatter": os.path.join(artifacts_dir, "example.png")}

    def summaries(eval_df, builtin_metrics, _artifacts_dir):  # type: ignore[no-untyped-def]
        figure = plt.figure()
        plt.close(figure)
        return {
            "pred_sample": eval_df.head(2),
            "errors": (eval_df["prediction"] - eval_df["target"]).to_numpy(),
            "summary": {"mae": builtin_metrics["mean_absolute_error"]},
            "note": '{"a": 1}',
            "figure": figure,
        }

    data = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 4.0]})
    with mlflow.start_run() as run:
        result = mlflow.evaluate(
            lambda f: f["x"],
            data,
            targets="y",
            model_type="regressor",
            custom_artifacts=[scatter_plot, summaries],
        )
    assert set(result.artifacts) == {
        "pred_target_scatter", "pred_sample", "errors", "summary", "note", "figure"
    }  # fmt: skip
    assert list(result.artifacts["pred_sample"].content.columns) == ["prediction", "target"]
    assert result.artifacts["errors"].content.tolist() == [0.0, 0.0, -1.0]
    assert result.artifacts["summary"].content == {"mae": pytest.approx(1 / 3)}
    assert result.artifacts["note"].content == {"a": 1}
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"pred_target_scatter.png", "pred_sample.csv", "errors.npy", "figure.png"} <= files
    _committed(repo)

    with pytest.raises(mlflow.MlflowException, match="neither a valid path"):
        mlflow.evaluate(
            lambda f: f["x"],
            data,
            targets="y",
            model_type="regressor",
            custom_artifacts=[lambda df, m, d: {"bad": "not json"}],
        )


def test_data_a_metric_is_undefined_for(repo: Path, tmp_path: Path) -> None:
    import mltrack as mlflow

    train = pd.DataFrame({"x": [0.1, 0.2, 0.8, 0.9]})
    path = tmp_path / "model"
    mlflow.sklearn.save_model(LogisticRegression().fit(train, [0, 0, 1, 1]), str(path))
    data = pd.DataFrame({"x": [0.0, 0.5, 1.0], "y": [1, 1, 1]})  # one class: no ROC AUC
    import warnings

    with mlflow.start_run() as run, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = mlflow.evaluate(str(path), data, targets="y", model_type="classifier")
    assert any("ROC AUC score is not defined" in str(w.message) for w in caught)
    assert math.isnan(result.metrics["roc_auc"])  # as MLflow: scikit-learn's NaN, logged
    assert math.isnan(mlflow.get_run(run.info.run_id).data.metrics["roc_auc"])
    continuous = pd.DataFrame({"x": [0.1, 0.5, 0.9], "y": [0.15, 0.55, 0.95]})
    with pytest.raises(mlflow.MlflowException, match="Cannot compute the classifier metrics"):
        mlflow.evaluate(lambda f: f["x"], continuous, targets="y", model_type="classifier")
    with pytest.raises(mlflow.MlflowException, match="at least two unique labels"):
        mlflow.evaluate(lambda f: f["x"] * 0 + 1, data, targets="y", model_type="classifier")


def test_without_matplotlib_metrics_are_logged_and_one_warning_says_why(repo: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import warnings
        sys.modules["matplotlib"] = None  # as if the plot extra were not installed
        import pandas as pd
        import mltrack as mlflow

        data = pd.DataFrame({"x": [1, 2, 3, 4], "y": [0, 1, 1, 0], "p": [0, 1, 0, 0]})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                result = mlflow.evaluate(
                    data=data, targets="y", predictions="p", model_type="classifier"
                )
        print(sorted(result.metrics)[0], len(result.artifacts))
        print(len([w for w in caught if "matplotlib" in str(w.message)]))
        """
    )
    out = run_python(script, repo).stdout.split("\n")
    assert out[0] == "accuracy_score 0"
    assert out[1] == "1"
    _committed(repo)


# ---------------------------------------------------------------------- MLflow interop


def _mlflow_child(script: str, directory: Path) -> str:
    """Run ``script`` with MLflow in its own process (MLflow's tracking URI stays out of this
    one); importing MLflow and evaluating takes minutes on a loaded machine."""
    proc = subprocess.run(
        [sys.executable, "-c", script, str(directory)],
        cwd=directory,
        capture_output=True,
        text=True,
        env=python_env(MLFLOW_DISABLE_TELEMETRY="true"),
        check=False,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


MLFLOW_SIDE = """
import json, sys, warnings
warnings.simplefilter("ignore")
import mlflow
import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

root = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
out = {}
for name, loader, estimator, model_type, config in CASES:
    X, y = loader(return_X_y=True, as_frame=True)
    path = f"{root}/{name}"
    mlflow.sklearn.save_model(estimator.fit(X, y), path, pip_requirements=["scikit-learn"])
    with mlflow.start_run():
        result = mlflow.evaluate(
            path, X.assign(label=y), targets="label", model_type=model_type,
            evaluators="default", evaluator_config=config,
        )
    table = result.artifacts.get("per_class_metrics")
    out[name] = {
        "metrics": {k: float(v) for k, v in result.metrics.items()},
        "artifacts": sorted(result.artifacts),
        "table": None if table is None else table.content.to_dict(orient="list"),
    }
print(json.dumps(out))
"""

CASES = """
WEIGHTS = list(np.linspace(0.5, 2.0, 442))
CASES = [
    ("binary", load_breast_cancer, LogisticRegression(max_iter=5000), "classifier", {}),
    ("binary_pos0", load_breast_cancer, LogisticRegression(max_iter=5000), "classifier",
     {"pos_label": 0}),
    ("multiclass", load_iris, LogisticRegression(max_iter=1000), "classifier", {}),
    ("multiclass_macro", load_iris, LogisticRegression(max_iter=1000), "classifier",
     {"average": "macro"}),
    ("regressor", load_diabetes, LinearRegression(), "regressor", {}),
    ("regressor_weighted", load_diabetes, LinearRegression(), "regressor",
     {"sample_weights": WEIGHTS}),
]
"""


@pytest.mark.mlflow
@pytest.mark.slow
def test_metrics_equal_mlflows_on_the_same_models_and_data(repo: Path, tmp_path: Path) -> None:
    """MLflow 3.17.2 evaluates its saved models; mltrack evaluates the same directories."""
    import json

    pytest.importorskip("mlflow")
    import mltrack as mlflow

    side = tmp_path / "mlflow-side"
    side.mkdir()
    script = MLFLOW_SIDE.replace("for name, loader", CASES + "\nfor name, loader")
    expected = json.loads(_mlflow_child(script, side))
    namespace: dict[str, object] = {}
    exec(  # the same cases, evaluated here
        "import numpy as np\nfrom sklearn.datasets import load_breast_cancer, load_diabetes, "
        "load_iris\nfrom sklearn.linear_model import LinearRegression, LogisticRegression\n"
        + CASES,
        namespace,
    )
    for name, loader, _, model_type, config in namespace["CASES"]:  # type: ignore[attr-defined]
        X, y = loader(return_X_y=True, as_frame=True)
        with mlflow.start_run():
            result = mlflow.evaluate(
                str(side / name),
                X.assign(label=y),
                targets="label",
                model_type=model_type,
                evaluators="default",
                evaluator_config=config,
            )
        want = expected[name]
        assert sorted(result.artifacts) == want["artifacts"], name
        got = {k: float(v) for k, v in result.metrics.items()}
        assert got == pytest.approx(want["metrics"], rel=1e-9, abs=1e-12), name
        if want["table"] is not None:
            table = result.artifacts["per_class_metrics"].content.to_dict(orient="list")
            assert list(table) == list(want["table"]), name
            for column, values in want["table"].items():
                assert table[column] == pytest.approx(values, rel=1e-9), (name, column)


EXTRA_METRICS = """
import numpy as np
import pandas as pd

def squared_diff_plus_one(predictions, targets, metrics):
    return np.sum(np.abs(predictions - targets + 1) ** 2)

def half_sum(predictions, targets, metrics):
    return metrics["sum_on_target"].aggregate_results["sum_on_target"] / 2

def per_row_error(predictions, targets):
    return MetricValue(scores=list((predictions - targets).abs()))

def uses_another(predictions, per_row_error, x):
    return max(per_row_error.scores) + float(x.sum())

def legacy(eval_df, builtin_metrics):
    return builtin_metrics["example_count"] * 10

METRICS = [
    make_metric(eval_fn=uses_another, greater_is_better=False),
    make_metric(eval_fn=squared_diff_plus_one, greater_is_better=False),
    make_metric(eval_fn=half_sum, greater_is_better=True),
    make_metric(eval_fn=per_row_error, greater_is_better=False, version="v1"),
    make_metric(eval_fn=legacy, greater_is_better=True, name="ten_times"),
]
DATA = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [1.0, 2.5, 5.0, 3.0], "p": [1.2, 2.0, 4.0, 3.5]})
"""

MLFLOW_EXTRA_SIDE = (
    """
import json, sys, warnings
warnings.simplefilter("ignore")
import mlflow
from mlflow.metrics import MetricValue
from mlflow.models import make_metric
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}/mlflow.db")
"""
    + EXTRA_METRICS
    + """
with mlflow.start_run():
    result = mlflow.evaluate(
        data=DATA, targets="y", predictions="p", model_type="regressor", extra_metrics=METRICS,
        evaluator_config={"metric_prefix": "val_"},
    )
print(json.dumps({
    "metrics": {k: float(v) for k, v in result.metrics.items()},
    "table": result.tables["eval_results_table"].to_dict(orient="list"),
}))
"""
)


@pytest.mark.mlflow
@pytest.mark.slow
def test_extra_metrics_equal_mlflows(repo: Path, tmp_path: Path) -> None:
    import json

    pytest.importorskip("mlflow")
    import mltrack as mlflow
    from mltrack.metrics import MetricValue
    from mltrack.models import make_metric

    expected = json.loads(_mlflow_child(MLFLOW_EXTRA_SIDE, tmp_path))
    namespace: dict[str, object] = {"MetricValue": MetricValue, "make_metric": make_metric}
    exec(EXTRA_METRICS, namespace)
    with mlflow.start_run():
        result = mlflow.evaluate(
            data=namespace["DATA"],
            targets="y",
            predictions="p",
            model_type="regressor",
            extra_metrics=namespace["METRICS"],
            evaluator_config={"metric_prefix": "val_"},
        )
    got = {k: float(v) for k, v in result.metrics.items()}
    assert got == pytest.approx(expected["metrics"], rel=1e-9)
    table = result.tables["eval_results_table"].to_dict(orient="list")
    assert list(table) == list(expected["table"])
    for column, values in expected["table"].items():
        assert table[column] == pytest.approx(values), column


@pytest.mark.mlflow
def test_evaluate_takes_mlflows_parameters() -> None:
    import inspect

    mlflow = pytest.importorskip("mlflow")
    import mltrack

    for ours, theirs in (
        (mltrack.evaluate, mlflow.evaluate),
        (mltrack.models.evaluate, mlflow.models.evaluate),
        (mltrack.models.make_metric, mlflow.models.make_metric),
        (mltrack.models.set_signature, mlflow.models.set_signature),
        (mltrack.pyfunc.get_model_dependencies, mlflow.pyfunc.get_model_dependencies),
    ):
        public = [p for p in inspect.signature(theirs).parameters if not p.startswith("_")]
        assert list(inspect.signature(ours).parameters) == public, ours.__name__
