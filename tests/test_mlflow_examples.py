"""MLflow's examples, in their shape, run with ``import mltrack as mlflow``.

Each test writes a script the way MLflow's ``examples/`` directory does it (the
quickstart, sklearn, sklearn autolog, pyfunc, evaluation, LightGBM and XGBoost examples; our
own code, not MLflow's files), runs it as a user does (``python train.py`` in a
fresh repository after ``mltrack init``), and checks what ended up committed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import git, invoke, python_env


def _run_example(repo: Path, cli, name: str, source: str, *args: str) -> str:  # type: ignore[no-untyped-def]
    """``mltrack init`` once, then ``python <name>`` in the repository; returns its stdout."""
    if not (repo / ".mltrack").exists():
        assert invoke(cli, "init").exit_code == 0
    script = repo / name
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(textwrap.dedent(source))
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=script.parent,
        capture_output=True,
        text=True,
        env=python_env(MPLBACKEND="Agg"),
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _committed(repo: Path) -> None:
    """Every run the example made is committed: nothing of .mltrack is left over."""
    assert git(repo, "status", "--porcelain", "--", ".mltrack") == ""


def _client():  # type: ignore[no-untyped-def]
    import mltrack as mlflow

    return mlflow.MlflowClient()


def _runs(**kwargs):  # type: ignore[no-untyped-def]
    import mltrack as mlflow

    return mlflow.search_runs(search_all_experiments=True, output_format="list", **kwargs)


QUICKSTART = """
    import os
    from random import randint, random

    import mltrack as mlflow
    from mltrack import log_artifacts, log_metric, log_param

    if __name__ == "__main__":
        log_param("param1", randint(0, 100))
        log_metric("foo", random())
        log_metric("foo", random() + 1)
        log_metric("foo", random() + 2)
        os.makedirs("outputs", exist_ok=True)
        with open("outputs/test.txt", "w") as f:
            f.write("hello world!")
        log_artifacts("outputs")
        print(mlflow.active_run().info.run_id)
        mlflow.end_run()
"""


def test_quickstart_example(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import mltrack as mlflow

    run_id = _run_example(repo, cli, "quickstart/mlflow_tracking.py", QUICKSTART).strip()
    _committed(repo)
    run = mlflow.get_run(run_id)
    assert "param1" in run.data.params
    assert len(mlflow.MlflowClient().get_metric_history(run_id, "foo")) == 3
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/test.txt") == "hello world!"


ELASTICNET_WINE = """
    import sys
    from urllib.parse import urlparse

    import numpy as np
    import pandas as pd
    from sklearn.linear_model import ElasticNet
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    from sklearn.model_selection import train_test_split

    import mltrack as mlflow
    import mltrack.sklearn
    from mltrack.models import infer_signature


    def eval_metrics(actual, pred):
        rmse = np.sqrt(mean_squared_error(actual, pred))
        return rmse, mean_absolute_error(actual, pred), r2_score(actual, pred)


    if __name__ == "__main__":
        np.random.seed(40)
        data = pd.read_csv("wine-quality.csv")
        train, test = train_test_split(data)
        train_x, test_x = train.drop(["quality"], axis=1), test.drop(["quality"], axis=1)
        train_y, test_y = train[["quality"]], test[["quality"]]
        alpha = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
        l1_ratio = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5

        with mlflow.start_run():
            lr = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, random_state=42)
            lr.fit(train_x, train_y)
            predicted_qualities = lr.predict(test_x)
            (rmse, mae, r2) = eval_metrics(test_y, predicted_qualities)
            print(f"Elasticnet model (alpha={alpha:f}, l1_ratio={l1_ratio:f}):")
            print(f"  RMSE: {rmse}")
            mlflow.log_param("alpha", alpha)
            mlflow.log_param("l1_ratio", l1_ratio)
            mlflow.log_metric("rmse", rmse)
            mlflow.log_metric("r2", r2)
            mlflow.log_metric("mae", mae)
            signature = infer_signature(train_x, lr.predict(train_x))
            tracking_url_type_store = urlparse(mlflow.get_tracking_uri()).scheme
            if tracking_url_type_store != "file":
                mlflow.sklearn.log_model(
                    lr, name="model", registered_model_name="ElasticnetWineModel",
                    signature=signature,
                )
            else:
                mlflow.sklearn.log_model(lr, name="model", signature=signature)
"""


def _wine_csv(path: Path) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    features = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "alcohol"]
    frame = pd.DataFrame(rng.normal(size=(120, len(features))), columns=features)
    frame["quality"] = (5 + frame["alcohol"] - frame["volatile acidity"]).round().astype(int)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def test_sklearn_elasticnet_wine_example(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import mltrack as mlflow

    _wine_csv(repo / "wine" / "wine-quality.csv")
    out = _run_example(repo, cli, "wine/train.py", ELASTICNET_WINE, "0.3", "0.2")
    assert "RMSE" in out
    _committed(repo)
    (run,) = _runs()
    assert run.data.params == {"alpha": "0.3", "l1_ratio": "0.2"}
    assert {"rmse", "r2", "mae"} <= set(run.data.metrics)
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert model.metadata.get_input_schema().input_names()[0] == "fixed acidity"


SKLEARN_AUTOLOG = """
    import numpy as np
    import pandas as pd
    from sklearn import datasets, svm
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    import mltrack as mlflow
    from mltrack.tracking import MlflowClient


    def yield_artifacts(run_id, path=None):
        client = MlflowClient()
        for item in client.list_artifacts(run_id, path):
            if item.is_dir:
                yield from yield_artifacts(run_id, item.path)
            else:
                yield item.path


    def fetch_logged_data(run_id):
        data = MlflowClient().get_run(run_id).data
        tags = {k: v for k, v in data.tags.items() if not k.startswith("mlflow.")}
        return {"params": data.params, "metrics": data.metrics, "tags": tags,
                "artifacts": list(yield_artifacts(run_id))}


    mlflow.sklearn.autolog()

    X = np.array([[1, 1], [1, 2], [2, 2], [2, 3]])
    y = np.dot(X, np.array([1, 2])) + 3
    with mlflow.start_run() as run:
        Pipeline([("scaler", StandardScaler()), ("lr", LinearRegression())]).fit(X, y)
    print("pipeline", sorted(fetch_logged_data(run.info.run_id)["params"])[:3])

    iris = datasets.load_iris()
    parameters = {"kernel": ("linear", "rbf"), "C": [1, 10]}
    clf = GridSearchCV(svm.SVC(), parameters)
    with mlflow.start_run() as run:
        clf.fit(iris.data, iris.target)
    logged = fetch_logged_data(run.info.run_id)
    print("parent", sorted(logged["artifacts"]))
    runs = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    param_cols = [f"params.{p}" for p in parameters]
    pd.set_option("display.max_columns", None)
    print(runs[["run_id", *param_cols, "metrics.mean_test_score"]])
    print("children", len(runs))
"""


def test_sklearn_autolog_examples(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = _run_example(repo, cli, "sklearn_autolog/train.py", SKLEARN_AUTOLOG)
    assert "pipeline ['lr', 'lr__copy_X', 'lr__fit_intercept']" in out
    assert "cv_results.csv" in out and "best_estimator/MLmodel" in out
    assert "children 4" in out  # 4 candidates, under the default max_tuning_runs of 5
    _committed(repo)
    assert len(_runs()) == 6


PYFUNC_CUSTOM_MODEL = """
    from sklearn.linear_model import LogisticRegression

    import mltrack as mlflow
    import mltrack.sklearn
    from mltrack.tracking import MlflowClient


    class CustomPredict(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            self.model = mlflow.sklearn.load_model(context.artifacts["custom_model"])

        def predict(self, context, model_input):
            return self.model.predict(model_input)


    client = MlflowClient()
    with mlflow.start_run(run_name="test_pyfunc"):
        regression_model = LogisticRegression().fit([[1], [0]], [2, 1])
        model_info = mlflow.sklearn.log_model(
            sk_model=regression_model, artifact_path="model", registered_model_name="base_model"
        )
        with mlflow.start_run(run_name="test_custom_model", nested=True):
            mlflow.pyfunc.log_model(
                artifact_path="",
                artifacts={"custom_model": model_info.model_uri},
                python_model=CustomPredict(),
                registered_model_name="custom_model",
            )
            mv = next(iter(client.get_latest_versions("custom_model", ["None"])))
            client.transition_model_version_stage(
                name="custom_model", version=mv.version, stage="Production",
                archive_existing_versions=True,
            )
    loaded = mlflow.pyfunc.load_model("models:/custom_model/Production")
    print("prediction", loaded.predict([[1], [0]]).tolist())
"""


def test_pyfunc_custom_model_example(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = _run_example(repo, cli, "pyfunc/train_custom_model.py", PYFUNC_CUSTOM_MODEL)
    assert "prediction [2, 1]" in out
    _committed(repo)
    runs = _runs()
    assert sorted(r.info.run_name for r in runs) == ["test_custom_model", "test_pyfunc"]
    assert "mltrack/custom_model/v1" in git(repo, "tag", "--list").split()


LIGHTGBM_NATIVE = """
    import lightgbm as lgb
    from sklearn import datasets
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import train_test_split

    import mltrack as mlflow
    import mltrack.lightgbm

    iris = datasets.load_iris()
    X_train, X_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=0.2, random_state=42
    )
    mlflow.lightgbm.autolog()
    train_set = lgb.Dataset(X_train, label=y_train)
    with mlflow.start_run():
        params = {"objective": "multiclass", "num_class": 3, "learning_rate": 0.1,
                  "metric": "multi_logloss", "seed": 42, "verbose": -1}
        model = lgb.train(params, train_set, num_boost_round=10, valid_sets=[train_set],
                          valid_names=["train"])
        y_proba = model.predict(X_test)
        mlflow.log_metrics({"log_loss": log_loss(y_test, y_proba),
                            "accuracy": accuracy_score(y_test, y_proba.argmax(axis=1))})
"""


def test_lightgbm_native_example(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("lightgbm")  # the lightgbm extra; scripts/test installs it
    import mltrack as mlflow

    _run_example(repo, cli, "lightgbm_native/train.py", LIGHTGBM_NATIVE)
    _committed(repo)
    (run,) = _runs()
    assert {"accuracy", "log_loss", "train-multi_logloss"} <= set(run.data.metrics)
    assert run.data.params["learning_rate"] == "0.1"
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "train-multi_logloss")
    assert len(history) == 10
    assert mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model") is not None


XGBOOST_NATIVE = """
    import xgboost as xgb
    from sklearn import datasets
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import train_test_split

    import mltrack as mlflow
    import mltrack.xgboost

    iris = datasets.load_iris()
    X_train, X_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=0.2, random_state=42
    )
    mlflow.xgboost.autolog()
    dtrain = xgb.DMatrix(X_train, label=y_train)
    dtest = xgb.DMatrix(X_test, label=y_test)
    with mlflow.start_run():
        params = {"objective": "multi:softprob", "num_class": 3, "learning_rate": 0.3,
                  "eval_metric": "mlogloss", "seed": 42}
        model = xgb.train(params, dtrain, num_boost_round=10, evals=[(dtrain, "train")])
        y_proba = model.predict(dtest)
        mlflow.log_metrics({"log_loss": log_loss(y_test, y_proba),
                            "accuracy": accuracy_score(y_test, y_proba.argmax(axis=1))})
"""


def test_xgboost_native_example(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("xgboost")  # the xgboost extra; scripts/test installs it
    import mltrack as mlflow

    _run_example(repo, cli, "xgboost_native/train.py", XGBOOST_NATIVE)
    _committed(repo)
    (run,) = _runs()
    assert {"accuracy", "log_loss", "train-mlogloss"} <= set(run.data.metrics)
    assert run.data.params["learning_rate"] == "0.3"
    assert mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model") is not None


WINE_MLPROJECT = """
    name: tutorial

    python_env: python_env.yaml

    entry_points:
      main:
        parameters:
          alpha: {type: float, default: 0.5}
          l1_ratio: {type: float, default: 0.1}
        command: "python train.py {alpha} {l1_ratio}"
"""


def test_sklearn_elasticnet_wine_project_through_mltrack_run(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The same example as an MLflow project: ``mltrack run wine -P alpha=0.42``."""
    _wine_csv(repo / "wine" / "wine-quality.csv")
    (repo / "wine" / "train.py").write_text(textwrap.dedent(ELASTICNET_WINE))
    (repo / "wine" / "MLproject").write_text(textwrap.dedent(WINE_MLPROJECT))
    (repo / "wine" / "python_env.yaml").write_text("dependencies:\n  - scikit-learn\n")
    git(repo, "add", "wine")
    git(repo, "commit", "-q", "-m", "Add the wine project")
    assert invoke(cli, "init").exit_code == 0
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mltrack",
            "run",
            "wine",
            "-P",
            "alpha=0.42",
            "--env-manager",
            "local",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        env=python_env(),
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    _committed(repo)
    (run,) = _runs()
    assert run.info.status == "FINISHED"
    assert run.data.params["alpha"] == "0.42"
    assert run.data.params["l1_ratio"] == "0.1"
    assert "rmse" in run.data.metrics


# MLflow's examples/evaluation, in their shape, on data scikit-learn ships (theirs download the
# UCI Adult data through shap).
EVALUATE_ON_BINARY_CLASSIFIER = """
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    import mltrack as mlflow

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, random_state=42)
    model = RandomForestClassifier(n_estimators=20, random_state=42).fit(X_train, y_train)

    eval_data = X_test
    eval_data["label"] = y_test

    with mlflow.start_run() as run:
        model_info = mlflow.sklearn.log_model(model, name="model")
        result = mlflow.evaluate(
            model_info.model_uri,
            eval_data,
            targets="label",
            model_type="classifier",
            evaluators=["default"],
        )

    print(f"metrics:\\n{result.metrics}")
    print(f"artifacts:\\n{result.artifacts}")
"""

EVALUATE_ON_MULTICLASS_CLASSIFIER = """
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    import mltrack as mlflow

    X, y = make_classification(n_samples=2000, n_classes=10, n_informative=5, random_state=1)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, random_state=42)

    with mlflow.start_run() as run:
        model = LogisticRegression(max_iter=1000).fit(X_train, y_train)
        model_info = mlflow.sklearn.log_model(model, name="model")
        result = mlflow.evaluate(
            model_info.model_uri,
            X_test,
            targets=y_test,
            model_type="classifier",
            evaluators="default",
            evaluator_config={"log_model_explainability": True, "explainability_nsamples": 1000},
        )

    print(f"run_id={run.info.run_id}")
    print(f"metrics:\\n{result.metrics}")
    print(f"artifacts:\\n{result.artifacts}")
"""

EVALUATE_ON_REGRESSOR = """
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import train_test_split

    import mltrack as mlflow

    diabetes = load_diabetes()
    X_train, X_test, y_train, y_test = train_test_split(
        diabetes.data, diabetes.target, test_size=0.33, random_state=42
    )

    with mlflow.start_run() as run:
        model = LinearRegression().fit(X_train, y_train)
        model_info = mlflow.sklearn.log_model(model, name="model")
        result = mlflow.evaluate(
            model_info.model_uri,
            X_test,
            targets=y_test,
            model_type="regressor",
            evaluators="default",
            feature_names=diabetes.feature_names,
            evaluator_config={"explainability_nsamples": 1000},
        )

    print(f"metrics:\\n{result.metrics}")
    print(f"artifacts:\\n{result.artifacts}")
"""

EVALUATE_WITH_FUNCTION = """
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    import mltrack as mlflow

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, random_state=42)
    model = RandomForestClassifier(n_estimators=20, random_state=42).fit(X_train, y_train)

    eval_data = X_test
    eval_data["label"] = y_test


    def fn(X):
        return model.predict(X)


    with mlflow.start_run() as run:
        result = mlflow.evaluate(
            fn, eval_data, targets="label", model_type="classifier", evaluators=["default"]
        )

    print(f"metrics:\\n{result.metrics}")
    print(f"artifacts:\\n{result.artifacts}")
"""

EVALUATE_WITH_STATIC_DATASET = """
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    import mltrack as mlflow

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, random_state=42)
    model = RandomForestClassifier(n_estimators=20, random_state=42).fit(X_train, y_train)

    y_test_pred = model.predict(X=X_test)
    eval_data = X_test
    eval_data["label"] = y_test
    eval_data["predictions"] = y_test_pred

    with mlflow.start_run() as run:
        result = mlflow.evaluate(
            data=eval_data, targets="label", predictions="predictions", model_type="classifier"
        )

    print(f"metrics:\\n{result.metrics}")
    print(f"artifacts:\\n{result.artifacts}")
"""


@pytest.mark.parametrize(
    ("name", "source", "metric", "artifact"),
    [
        (
            "evaluate_on_binary_classifier",
            EVALUATE_ON_BINARY_CLASSIFIER,
            "roc_auc",
            "lift_curve_plot",
        ),
        (
            "evaluate_on_multiclass_classifier",
            EVALUATE_ON_MULTICLASS_CLASSIFIER,
            "log_loss",
            "per_class_metrics",
        ),
        ("evaluate_on_regressor", EVALUATE_ON_REGRESSOR, "r2_score", None),
        ("evaluate_with_function", EVALUATE_WITH_FUNCTION, "f1_score", "confusion_matrix"),
        ("evaluate_with_static_dataset", EVALUATE_WITH_STATIC_DATASET, "true_positives", None),
    ],
)
def test_evaluation_examples(  # type: ignore[no-untyped-def]
    repo: Path, cli, name: str, source: str, metric: str, artifact: str | None
) -> None:
    out = _run_example(repo, cli, f"evaluation/{name}.py", source)
    assert out.startswith("metrics:\n{") or "\nmetrics:\n{" in out
    _committed(repo)
    (run,) = _runs()
    assert run.info.status == "FINISHED"
    assert metric in run.data.metrics
    assert run.data.metrics["example_count"] > 100
    names = {a.path for a in _client().list_artifacts(run.info.run_id)}
    if artifact is not None:
        assert f"'{artifact}'" in out
        assert artifact + (".csv" if artifact == "per_class_metrics" else ".png") in names
