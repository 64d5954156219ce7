"""``mltrack models predict``: CSV, JSON, JSON lines and Parquet in and out, in batches."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import invoke, reset_mltrack
from serving_support import COLUMNS, ROWS, IrisRepo, isolate, make_iris_repo


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrisRepo]:
    root = tmp_path_factory.mktemp("predict")
    cwd = os.getcwd()
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, root / "home")
        try:
            yield make_iris_repo(root / "repo")
        finally:
            os.chdir(cwd)
            reset_mltrack()


@pytest.fixture
def work(iris: IrisRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A scratch directory for input and output files; the iris repo is the working directory."""
    monkeypatch.chdir(iris.path)
    yield tmp_path
    reset_mltrack()


@pytest.fixture
def sample(iris: IrisRepo) -> pd.DataFrame:
    return iris.features.sample(40, random_state=3).reset_index(drop=True)


def predict(cli: Any, *args: str) -> Any:
    return invoke(cli, "models", "predict", "-m", "models:/iris/1", *args)


def write_input(frame: pd.DataFrame, path: Path) -> Path:
    kind = path.suffix
    if kind == ".csv":
        frame.to_csv(path, index=False)
    elif kind == ".parquet":
        frame.to_parquet(path, index=False)
    elif kind == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        split = json.loads(frame.to_json(orient="split", index=False))
        path.write_text(json.dumps({"dataframe_split": split}))
    return path


def read_output(path: Path) -> list[Any]:
    if path.suffix == ".csv":
        return pd.read_csv(path)["prediction"].tolist()
    if path.suffix == ".parquet":
        return pd.read_parquet(path)["prediction"].tolist()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    document = json.loads(path.read_text())
    assert set(document) == {"predictions"}
    return list(document["predictions"])


@pytest.mark.parametrize("source", [".csv", ".json", ".jsonl", ".parquet"])
@pytest.mark.parametrize("target", [".csv", ".json", ".jsonl", ".parquet"])
def test_every_input_and_output_format(
    cli: Any, iris: IrisRepo, work: Path, sample: pd.DataFrame, source: str, target: str
) -> None:
    given = write_input(sample, work / f"in{source}")
    output = work / f"out{target}"
    result = predict(cli, "-i", str(given), "-o", str(output), "--batch-size", "15")
    assert result.exit_code == 0, result.stderr
    assert read_output(output) == iris.estimator.predict(sample).tolist()
    assert f"Wrote 40 predictions (3 batches) to {output}" in result.stderr
    assert result.stdout == ""


def test_without_output_predictions_go_to_stdout(
    cli: Any, iris: IrisRepo, work: Path, sample: pd.DataFrame
) -> None:
    result = predict(cli, "-i", str(write_input(sample, work / "in.csv")), "--batch-size", "7")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"predictions": iris.estimator.predict(sample).tolist()}


def test_the_seed_request_as_a_file(cli: Any, work: Path) -> None:
    given = work / "seed.json"
    given.write_text(json.dumps({"columns": COLUMNS, "data": [ROWS[0]]}))
    result = predict(cli, "-i", str(given))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"predictions": [0]}


def test_probabilities_from_params(
    cli: Any, iris: IrisRepo, work: Path, sample: pd.DataFrame
) -> None:
    given = write_input(sample, work / "in.parquet")
    output = work / "proba.csv"
    result = predict(cli, "-i", str(given), "-o", str(output), "-P", "predict_method=predict_proba")
    assert result.exit_code == 0, result.stderr
    written = pd.read_csv(output)
    assert list(written.columns) == ["prediction_0", "prediction_1", "prediction_2"]
    assert np.allclose(written.to_numpy(), iris.estimator.predict_proba(sample))


def test_params_inside_a_json_payload(cli: Any, iris: IrisRepo, work: Path) -> None:
    given = work / "payload.json"
    given.write_text(
        json.dumps(
            {
                "dataframe_records": [dict(zip(COLUMNS, row, strict=True)) for row in ROWS],
                "params": {"predict_method": "predict_proba"},
            }
        )
    )
    result = predict(cli, "-i", str(given), "--batch-size", "1")
    assert result.exit_code == 0, result.stderr
    expected = iris.estimator.predict_proba(pd.DataFrame(ROWS, columns=COLUMNS))
    assert np.allclose(json.loads(result.stdout)["predictions"], expected)


def test_json_lines_in_a_json_file_and_content_type_option(
    cli: Any, iris: IrisRepo, work: Path, sample: pd.DataFrame
) -> None:
    lines = write_input(sample, work / "in.jsonl")
    renamed = lines.rename(work / "records.json")
    result = predict(cli, "-i", str(renamed))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["predictions"] == iris.estimator.predict(sample).tolist()
    text = write_input(sample, work / "in.csv").rename(work / "data.txt")
    result = predict(cli, "-i", str(text), "-t", "csv")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["predictions"] == iris.estimator.predict(sample).tolist()


@pytest.mark.parametrize("source", [".csv", ".parquet", ".jsonl"])
def test_large_files_stream_in_batches(iris: IrisRepo, work: Path, source: str) -> None:
    from mltrack.serving.batch import predict_file

    big = iris.features.sample(100_000, replace=True, random_state=5).reset_index(drop=True)
    given = write_input(big, work / f"big{source}")
    seen: list[tuple[int, int]] = []
    result = predict_file(
        "models:/iris/1",
        given,
        work / "big.parquet",
        batch_size=10_000,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (result.rows, result.batches) == (100_000, 10)
    assert len(seen) == 10
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1][0] == seen[-1][1]  # the bar ends full
    written = pd.read_parquet(work / "big.parquet")["prediction"].to_numpy()
    assert (written == iris.estimator.predict(big)).all()


def test_a_json_document_is_predicted_in_batches(iris: IrisRepo, work: Path) -> None:
    from mltrack.serving.batch import predict_file

    frame = iris.features.head(25)
    seen: list[tuple[int, int]] = []
    result = predict_file(
        "models:/iris/1",
        write_input(frame, work / "in.json"),
        work / "out.json",
        batch_size=10,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (result.rows, result.batches) == (25, 3)
    assert seen == [(10, 25), (20, 25), (25, 25)]
    assert read_output(work / "out.json") == iris.estimator.predict(frame).tolist()


def bad_csv(work: Path, text: str) -> str:
    path = work / "bad.csv"
    path.write_text(text)
    return str(path)


HEADER = ",".join(COLUMNS)
BAD_INPUTS = {
    "a value that is not a number": (
        f"{HEADER}\n5.1,3.5,1.4,0.2\n5.1,abc,1.4,0.2\n", ("'sepal_width'", "'abc'"),
    ),
    "a missing column": ("sepal_length,sepal_width\n1,2\n", ("petal_length", "missing")),
    "an unknown column": (f"{HEADER},colour\n1,2,3,4,5\n", ("colour",)),
    "a short line": (f"{HEADER}\n1,2,3,4\n1,2\n", ("CSV",)),
    "a header only": (f"{HEADER}\n", ("no rows",)),
    "an empty file": ("", ("CSV",)),
    "a repeated column": ("a,a\n1,2\n", ("'a'", "more than once")),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_one_line_error_and_writes_nothing(cli: Any, work: Path, case: str) -> None:
    text, fragments = BAD_INPUTS[case]
    output = work / "out.csv"
    result = predict(cli, "-i", bad_csv(work, text), "-o", str(output), "--batch-size", "1")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    for fragment in fragments:
        assert fragment in result.stderr
    assert not output.exists()
    assert [p.name for p in work.iterdir()] == ["bad.csv"]  # no temporary file left behind


def test_bad_json_inputs(cli: Any, work: Path) -> None:
    broken = work / "broken.json"
    broken.write_text('{"dataframe_split": ')
    result = predict(cli, "-i", str(broken))
    assert result.exit_code == 1
    assert "not valid JSON" in result.stderr
    lines = work / "broken.jsonl"
    lines.write_text('{"sepal_length": 1}\n[1, 2]\n')
    result = predict(cli, "-i", str(lines))
    assert result.exit_code == 1
    assert "line 2" in result.stderr and "not an object" in result.stderr


def test_unknown_formats_and_models_fail_before_reading(cli: Any, work: Path) -> None:
    given = write_input(pd.DataFrame([ROWS[0]], columns=COLUMNS), work / "in.csv")
    result = predict(cli, "-i", str(given), "-o", str(work / "out.xlsx"))
    assert result.exit_code == 1
    assert "out.xlsx" in result.stderr and ".parquet" in result.stderr
    odd = given.rename(work / "in.data")
    result = predict(cli, "-i", str(odd))
    assert result.exit_code == 1 and "--content-type" in result.stderr
    result = invoke(cli, "models", "predict", "-m", "models:/nope/1", "-i", str(odd), "-t", "csv")
    assert result.exit_code == 1 and "nope" in result.stderr
    result = predict(cli, "-i", str(work / "missing.csv"))
    assert result.exit_code == 2


def test_predict_help_and_param_syntax(cli: Any, work: Path) -> None:
    assert "--batch-size" in invoke(cli, "models", "predict", "--help").stdout
    given = write_input(pd.DataFrame([ROWS[0]], columns=COLUMNS), work / "in.csv")
    result = predict(cli, "-i", str(given), "-P", "no-equals-sign")
    assert result.exit_code == 2 and "KEY=VALUE" in result.stderr
