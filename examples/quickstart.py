"""Train a RandomForest on iris and track it with mltrack — an MLflow script, unchanged.

Run it inside a git repository (`mltrack init` once); the finished run becomes one
git commit. Then `mltrack runs list` and `mltrack log` show it.
"""

import pandas as pd
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

import mltrack as mlflow

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

iris = load_iris()
X = pd.DataFrame(iris.data, columns=COLUMNS)
y = pd.Series(iris.target, name="species")
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=42, stratify=y
)

params = {"n_estimators": 100, "max_depth": 4, "random_state": 42}

mlflow.set_experiment("RandomForest_Training")
with mlflow.start_run(run_name="sklearn") as run:
    mlflow.log_params(params)
    mlflow.log_input(
        mlflow.data.from_pandas(
            X_train.assign(species=y_train), name="iris-train", targets="species"
        ),
        context="training",
    )

    # Grow the forest in steps and log test accuracy per step (a metric history).
    model = RandomForestClassifier(
        warm_start=True, **{k: v for k, v in params.items() if k != "n_estimators"}
    )
    for step, n_trees in enumerate(range(10, params["n_estimators"] + 1, 10)):
        model.set_params(n_estimators=n_trees)
        model.fit(X_train, y_train)
        mlflow.log_metric("accuracy", accuracy_score(y_test, model.predict(X_test)), step=step)

    predictions = model.predict(X_test)
    mlflow.log_metrics(
        {
            "accuracy": accuracy_score(y_test, predictions),
            "f1_macro": f1_score(y_test, predictions, average="macro"),
        }
    )
    mlflow.log_text(pd.crosstab(y_test, predictions).to_string(), "confusion_matrix.txt")
    mlflow.log_dict({"features": COLUMNS, "classes": list(iris.target_names)}, "dataset.json")
    mlflow.sklearn.log_model(model, name="model", input_example=X_test.head(3))

print(f"Run {run.info.run_id} finished: accuracy {accuracy_score(y_test, predictions):.3f}")
