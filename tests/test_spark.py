"""``mltrack.pyfunc.spark_udf`` and ``mltrack models predict --engine spark`` on PySpark ``local[2]``.

One Spark session serves the whole module (starting the JVM takes seconds).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None:  # CI installs Debian's openjdk-17-jre-headless (scripts/test)
    pytest.fail("PySpark needs Java: apt-get install -y openjdk-17-jre-headless", pytrace=False)

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("mltrack-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _iris() -> tuple[pd.DataFrame, Any]:
    from sklearn.datasets import load_iris

    data = load_iris()
    return pd.DataFrame(data.data, columns=COLUMNS), data.target


def _logged_forest(repo: Path) -> tuple[str, Any]:
    from sklearn.ensemble import RandomForestClassifier

    import mltrack

    X, y = _iris()
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
    with mltrack.start_run():
        info = mltrack.sklearn.log_model(
            forest, name="model", input_example=X.head(3), registered_model_name="iris"
        )
    return info.model_uri, forest


def _million_rows(spark: Any) -> Any:
    from pyspark.sql import functions as F

    rows = spark.range(1_000_000, numPartitions=4)
    return rows.select(
        (4.3 + (F.col("id") % 36) / 10.0).alias("sepal_length"),
        (2.0 + (F.col("id") % 24) / 10.0).alias("sepal_width"),
        (1.0 + (F.col("id") % 59) / 10.0).alias("petal_length"),
        (0.1 + (F.col("id") % 25) / 10.0).alias("petal_width"),
    )


def test_a_million_rows_scored_from_a_registered_version(repo: Path, spark: Any) -> None:
    import mltrack

    _, forest = _logged_forest(repo)
    frame = _million_rows(spark)
    udf = mltrack.pyfunc.spark_udf(spark, "models:/iris/1", result_type="long")
    scored = frame.withColumn("prediction", udf(*COLUMNS))
    counts = {r["prediction"]: r["count"] for r in scored.groupBy("prediction").count().collect()}
    assert sum(counts.values()) == 1_000_000
    # The same rows scored in this process give the same class counts.
    local = frame.limit(1_000_000).toPandas()
    expected = pd.Series(forest.predict(local[COLUMNS])).value_counts().to_dict()
    assert counts == expected


def test_struct_input_no_arguments_and_array_result(repo: Path, spark: Any) -> None:
    from pyspark.sql import functions as F

    import mltrack

    model_uri, forest = _logged_forest(repo)
    X, _ = _iris()
    frame = spark.createDataFrame(X.head(20))
    by_struct = mltrack.pyfunc.spark_udf(spark, model_uri, result_type="long")
    implicit = mltrack.pyfunc.spark_udf(spark, model_uri, result_type="long")
    proba = mltrack.pyfunc.spark_udf(
        spark, model_uri, result_type="array<double>", params={"predict_method": "predict_proba"}
    )
    out = frame.select(
        by_struct(F.struct(*COLUMNS)).alias("a"),
        implicit().alias("b"),
        proba(*COLUMNS).alias("p"),
    ).toPandas()
    expected = forest.predict(X.head(20))
    assert list(out["a"]) == list(expected) == list(out["b"])
    np.testing.assert_allclose(np.stack(out["p"].to_numpy()), forest.predict_proba(X.head(20)))


def test_tensor_model_takes_an_array_column(repo: Path, spark: Any) -> None:
    torch = pytest.importorskip("torch")
    from pyspark.sql import functions as F

    import mltrack

    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(4, 3))
    features = _iris()[0].to_numpy(dtype=np.float32)
    mltrack.pytorch.save_model(network, repo / "net", input_example=features[:3])
    frame = spark.createDataFrame(pd.DataFrame(features[:10], columns=COLUMNS)).select(
        F.array(*[F.col(c).cast("float") for c in COLUMNS]).alias("features")
    )
    udf = mltrack.pyfunc.spark_udf(spark, str(repo / "net"))  # array<float> from the signature
    out = frame.select(udf("features").alias("scores")).toPandas()
    with torch.no_grad():
        expected = network(torch.tensor(features[:10])).numpy()
    np.testing.assert_allclose(np.stack(out["scores"].to_numpy()), expected, rtol=1e-5)


def test_signature_is_enforced_on_the_executors(repo: Path, spark: Any) -> None:
    import mltrack

    model_uri, _ = _logged_forest(repo)
    frame = spark.createDataFrame(pd.DataFrame({"sepal_length": ["a"], "sepal_width": [1.0],
                                                "petal_length": [1.0], "petal_width": [1.0]}))  # fmt: skip
    udf = mltrack.pyfunc.spark_udf(spark, model_uri, result_type="long")
    with pytest.raises(Exception, match="sepal_length"):
        frame.select(udf(*COLUMNS)).collect()


def test_tampered_model_is_refused_before_shipping(repo: Path, spark: Any) -> None:
    import mltrack
    from mltrack.exceptions import IntegrityError

    model_uri, _ = _logged_forest(repo)
    run = mltrack.search_runs(output_format="list")[0]
    pickle_file = repo / f".mltrack/experiments/0/runs/{run.info.run_id}/artifacts/model/model.pkl"
    pickle_file.write_bytes(pickle_file.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match=r"model\.pkl"):
        mltrack.pyfunc.spark_udf(spark, model_uri)


def test_cli_predict_with_the_spark_engine(repo: Path, spark: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mltrack.cli import cli

    _, forest = _logged_forest(repo)
    X, _ = _iris()
    X.to_csv(tmp_path / "in.csv", index=False)
    result = CliRunner().invoke(
        cli,
        ["models", "predict", "-m", "models:/iris/1", "-i", str(tmp_path / "in.csv"),
         "-o", str(tmp_path / "out.parquet"), "--engine", "spark", "--spark-master", "local[2]"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert len(scored) == 150
    merged = scored.sort_values(COLUMNS).reset_index(drop=True)
    expected = X.assign(prediction=forest.predict(X)).sort_values(COLUMNS).reset_index(drop=True)
    assert list(merged["prediction"]) == list(expected["prediction"])

    missing = CliRunner().invoke(
        cli, ["models", "predict", "-m", "models:/iris/1", "-i", str(tmp_path / "in.csv"),
              "--engine", "spark"],
    )  # fmt: skip
    assert missing.exit_code == 2
    assert "--output-path" in missing.output
