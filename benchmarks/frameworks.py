"""Framework flavors and Spark scoring, mltrack vs MLflow 3.17.2, side by side.

    python benchmarks/frameworks.py [--flavors xgboost,lightgbm,pytorch,keras] [--repeat 3]
        [--spark] [--rows 1000000] [--markdown out.md]

Each (workload, tool) runs in a fresh process of this script (``--tool T --workload W``) in
its own temporary directory, so neither tool's imports or caches help the other. Per flavor:
``log_model`` (with ``input_example``, so both infer a signature; Keras: a given signature,
as MLflow's Keras ``log_model`` cannot take an example) and ``pyfunc.load_model`` and the
flavor's ``load_model`` of the same trained model, median of ``--repeat``. Spark: ``spark_udf`` scoring ``--rows``
iris-like rows with the W7 forest (RandomForestClassifier, 50 trees) on ``local[2]``, rows/s
of one full pass (a warm-up pass on 10,000 rows first). Needs the frameworks, pyspark, Java
and mlflow==3.17.2 importable by the running interpreter (as in /work/venv).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLAVORS = ("xgboost", "lightgbm", "pytorch", "keras")
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _iris() -> tuple[Any, Any]:
    import pandas as pd
    from sklearn.datasets import load_iris

    data = load_iris()
    return pd.DataFrame(data.data, columns=COLUMNS), data.target


def _train(flavor: str) -> tuple[Any, Any]:
    """The model and the input example both tools log it with."""
    import numpy as np

    X, y = _iris()
    if flavor == "xgboost":
        import xgboost as xgb

        return xgb.XGBClassifier(n_estimators=50).fit(X, y), X.head(5)
    if flavor == "lightgbm":
        import lightgbm as lgb

        return lgb.LGBMClassifier(n_estimators=50, verbose=-1).fit(X, y), X.head(5)
    features = X.to_numpy(dtype=np.float32)
    if flavor == "pytorch":
        import torch

        network = torch.nn.Sequential(
            torch.nn.Linear(4, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3)
        )
        return network, features[:5]
    import keras

    network = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(3)]
    )
    return network, features[:5]


def _setup(tool: str, directory: Path) -> Any:
    if tool == "mlflow":
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{directory}/mlflow.db")
        mlflow.set_experiment("bench")
        return mlflow
    subprocess.run(["git", "init", "-q"], cwd=directory, check=True)
    for key, value in (("user.name", "bench"), ("user.email", "bench@example.com")):
        subprocess.run(["git", "config", key, value], cwd=directory, check=True)
    import mltrack

    mltrack.set_tracking_uri(str(directory))
    mltrack.set_experiment("bench")
    return mltrack


def flavor_workload(tool: str, flavor: str, directory: Path, repeat: int) -> dict[str, float]:
    ml = _setup(tool, directory)
    model, example = _train(flavor)
    module = getattr(ml, flavor)
    extra: dict[str, Any] = {"input_example": example}
    if flavor == "pytorch":
        extra["serialization_format"] = "pickle"  # the same format for both (MLflow's default: pt2)
    if flavor == "keras":
        # mlflow.keras.log_model(input_example=...) fails in 3.17.2 (it writes the example
        # before creating the model directory), so both tools get the signature instead.
        import numpy as np

        outputs = np.asarray(model.predict(example, verbose=0))
        extra = {"signature": ml.models.infer_signature(example, outputs)}
    log_times, load_times, native_times = [], [], []
    uris = []
    with ml.start_run():
        for index in range(repeat):
            start = time.perf_counter()
            info = module.log_model(model, name=f"model{index}", **extra)
            log_times.append(time.perf_counter() - start)
            uris.append(info.model_uri)
    for uri in uris:
        start = time.perf_counter()
        loaded = ml.pyfunc.load_model(uri)
        load_times.append(time.perf_counter() - start)
        assert len(loaded.predict(example)) == len(example)
        start = time.perf_counter()
        module.load_model(uri)
        native_times.append(time.perf_counter() - start)
    return {
        "log_model_s": statistics.median(log_times),
        "pyfunc_load_model_s": statistics.median(load_times),
        "flavor_load_model_s": statistics.median(native_times),
    }


def spark_workload(tool: str, directory: Path, rows: int) -> dict[str, float]:
    import numpy as np
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from sklearn.ensemble import RandomForestClassifier

    ml = _setup(tool, directory)
    X, y = _iris()
    forest = RandomForestClassifier(n_estimators=50, random_state=0).fit(X, y)
    with ml.start_run():
        # The same serialization on both sides (MLflow 3.17 defaults to skops, mltrack to pickle).
        info = ml.sklearn.log_model(
            forest, name="model", input_example=X.head(3), serialization_format="cloudpickle"
        )
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    # Iris rows with jitter, generated in the JVM, cached so both tools score the same frame.
    rng = np.random.default_rng(0)
    base = spark.createDataFrame(X.assign(key=range(len(X))))
    frame = (
        spark.range(rows, numPartitions=4)
        .withColumn("key", (F.col("id") % len(X)).cast("long"))
        .join(F.broadcast(base), "key")
        .select(*[(F.col(c) + F.rand(int(rng.integers(1 << 30))) * 0.1).alias(c) for c in COLUMNS])
        .cache()
    )
    assert frame.count() == rows
    options = {"env_manager": "local"} if tool == "mlflow" else {}
    udf = ml.pyfunc.spark_udf(spark, info.model_uri, result_type="long", **options)
    frame.limit(10_000).select(F.sum(udf(*COLUMNS))).collect()  # warm-up: workers load the model
    start = time.perf_counter()
    total = frame.select(F.count(udf(*COLUMNS))).collect()[0][0]
    elapsed = time.perf_counter() - start
    assert total == rows
    spark.stop()
    return {"spark_udf_rows_per_s": rows / elapsed, "spark_udf_s": elapsed}


def _run(tool: str, workload: str, repeat: int, rows: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{workload}-{tool}-") as scratch:
        cmd = [sys.executable, __file__, "--tool", tool, "--workload", workload]
        cmd += ["--repeat", str(repeat), "--rows", str(rows), "--dir", scratch]
        env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
        env.setdefault("KERAS_BACKEND", "torch")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=scratch)
        if proc.returncode != 0:
            raise SystemExit(f"{workload} for {tool} failed:\n{proc.stderr[-3000:]}")
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flavors", default=",".join(FLAVORS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--spark", action="store_true", help="also run the spark_udf workload")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--tool", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tool:  # one measurement, in this fresh process
        if args.workload == "spark":
            figures = spark_workload(args.tool, args.dir, args.rows)
        else:
            figures = flavor_workload(args.tool, args.workload, args.dir, args.repeat)
        print(json.dumps(figures))
        return
    workloads = [f for f in args.flavors.split(",") if f] + (["spark"] if args.spark else [])
    lines = [
        f"load average at start: {os.getloadavg()[0]:.1f}",
        "",
        "| workload | figure | MLflow 3.17.2 | mltrack | ratio (>1: mltrack better) |",
        "|---|---|---|---|---|",
    ]
    for workload in workloads:
        results = {
            tool: _run(tool, workload, args.repeat, args.rows) for tool in ("mlflow", "mltrack")
        }
        for figure, mlflow_value in results["mlflow"].items():
            ours = results["mltrack"][figure]
            better = ours / mlflow_value if figure.endswith("_per_s") else mlflow_value / ours
            lines.append(
                f"| {workload} | {figure} | {mlflow_value:.4g} | {ours:.4g} | {better:.1f}× |"
            )
        print("\n".join(lines[-len(results["mlflow"]) :]), flush=True)
    lines.append(f"\nload average at end: {os.getloadavg()[0]:.1f}")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
