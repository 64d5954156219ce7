"""Train a random forest on iris and track it with mltrack.

Run it as a project (``mltrack run examples/project``) and the run records the
code commit, the parameters and the environment; its ``start_run()`` joins the
run that ``mltrack run`` created. Run directly (``python train.py``) it records
an ordinary run in the repository around the working directory.
"""

from __future__ import annotations

import argparse

from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

import mltrack


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=3)
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    features, labels = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=args.test_size, random_state=args.seed, stratify=labels
    )
    with mltrack.start_run() as run:
        mltrack.log_params(
            {
                "n_estimators": args.n_estimators,
                "max_depth": args.max_depth,
                "test_size": args.test_size,
                "seed": args.seed,
            }
        )
        model = RandomForestClassifier(
            n_estimators=args.n_estimators, max_depth=args.max_depth, random_state=args.seed
        )
        model.fit(x_train, y_train)
        predictions = model.predict(x_test)
        accuracy = accuracy_score(y_test, predictions)
        mltrack.log_metric("accuracy", accuracy)
        mltrack.log_metric("f1_macro", f1_score(y_test, predictions, average="macro"))
        print(f"run {run.info.run_id}: accuracy={accuracy:.3f}")


if __name__ == "__main__":
    main()
