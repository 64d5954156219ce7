"""``mltrack.artifacts``, ``log_table``/``load_table``, ``log_image``, ``last_logged_model`` and
``mltrack.models.get_model_info``, used as an MLflow user writes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from conftest import git


def test_artifacts_module_reads_by_uri(repo: Path, tmp_path: Path) -> None:
    import mltrack as mlflow

    with mlflow.start_run() as run:
        mlflow.log_text("hello", "notes/hello.txt")
        mlflow.log_dict({"a": 1}, "config.json")
        mlflow.log_dict({"b": [1, 2]}, "config.yaml")
    run_id = run.info.run_id
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt") == "hello"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json") == {"a": 1}
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config.yaml") == {"b": [1, 2]}
    names = [f.path for f in mlflow.artifacts.list_artifacts(run_id=run_id)]
    assert names == ["config.json", "config.yaml", "notes"]
    inside = mlflow.artifacts.list_artifacts(artifact_uri=f"runs:/{run_id}/notes")
    assert [(f.path, f.is_dir) for f in inside] == [("notes/hello.txt", False)]

    copied = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="notes", dst_path=str(tmp_path / "out")
    )
    assert Path(copied, "hello.txt").read_text() == "hello"
    single = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/config.json")
    assert json.loads(Path(single).read_text()) == {"a": 1}
    with pytest.raises(mlflow.MlflowException, match="must not be"):
        mlflow.artifacts.download_artifacts(f"runs:/{run_id}/x", run_id=run_id)
    with pytest.raises(mlflow.MlflowException, match=r"has no artifact at 'missing\.txt'"):
        mlflow.artifacts.load_text(f"runs:/{run_id}/missing.txt")
    assert git(repo, "status", "--porcelain") == ""  # reading never touches the run


def test_download_a_logged_model_by_models_uri(repo: Path) -> None:
    import mltrack as mlflow

    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    with mlflow.start_run():
        mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="clf")
    logged = mlflow.last_logged_model()
    assert logged is not None and logged.name == "clf"
    local = mlflow.artifacts.download_artifacts(f"models:/{logged.model_id}")
    assert (Path(local) / "MLmodel").is_file()
    assert mlflow.sklearn.load_model(local).predict([[3.0]]).tolist() == [1]

    info = mlflow.models.get_model_info(f"models:/{logged.model_id}")
    assert info.model_id == logged.model_id
    assert "sklearn" in info.flavors
    assert info.signature is None
    assert info.run_id == logged.source_run_id


def test_last_logged_model_is_none_before_any_model(repo: Path) -> None:
    import mltrack as mlflow

    assert mlflow.last_logged_model() is None


def test_log_table_appends_and_load_table_gathers_runs(repo: Path) -> None:
    import mltrack as mlflow

    with mlflow.start_run() as first:
        mlflow.log_table({"question": ["a", "b"], "score": [0.5, 0.7]}, "eval/results.json")
        mlflow.log_table(pd.DataFrame({"question": ["c"], "score": [0.9]}), "eval/results.json")
        mlflow.log_metric("accuracy", 0.8)
    with mlflow.start_run() as second:
        mlflow.log_table({"question": ["d"], "score": [0.1]}, "eval/results.json")
    with mlflow.start_run():
        mlflow.log_text("not a table", "other.txt")
    tag = json.loads(mlflow.get_run(first.info.run_id).data.tags["mlflow.loggedArtifacts"])
    assert tag == [{"path": "eval/results.json", "type": "table"}]

    table = mlflow.load_table("eval/results.json", extra_columns=["run_id"])
    assert sorted(table["question"]) == ["a", "b", "c", "d"]
    by_run = table.groupby("run_id")["question"].apply(sorted).to_dict()
    assert by_run == {first.info.run_id: ["a", "b", "c"], second.info.run_id: ["d"]}
    only = mlflow.load_table("eval/results.json", run_ids=[second.info.run_id])
    assert only["question"].tolist() == ["d"]
    with pytest.raises(mlflow.MlflowException, match="No runs found"):
        mlflow.load_table("absent.json")
    with mlflow.start_run(), pytest.raises(mlflow.MlflowException, match=r"\.json or \.parquet"):
        mlflow.log_table({"a": [1]}, "table.csv")


def test_log_image_both_signatures(repo: Path) -> None:
    import mltrack as mlflow

    pixels = np.zeros((8, 6, 3), dtype=np.uint8)
    pixels[:, :, 0] = 255
    with mlflow.start_run() as run:
        mlflow.log_image(pixels, "plots/red.png")
        mlflow.log_image(np.full((4, 4), 0.5), key="training/mask", step=3)
    run_id = run.info.run_id
    red = mlflow.artifacts.load_image(f"runs:/{run_id}/plots/red.png")
    assert red.size == (6, 8)
    assert red.getpixel((0, 0)) == (255, 0, 0)
    stepped = sorted(
        f.path for f in mlflow.artifacts.list_artifacts(run_id=run_id, artifact_path="images")
    )
    full, thumbnail = sorted(stepped, key=len)
    assert full.startswith("images/training~mask+step+3+timestamp+") and full.endswith(".png")
    assert thumbnail == full.removesuffix(".png") + "+compressed.webp"
    assert mlflow.get_run(run_id).data.tags["mlflow.loggedImages"] == "True"
    with mlflow.start_run(), pytest.raises(mlflow.MlflowException, match="not both"):
        mlflow.log_image(pixels, "a.png", step=1)
    with mlflow.start_run(), pytest.raises(mlflow.MlflowException, match="out of range"):
        mlflow.log_image(np.full((2, 2), 300), "bad.png")


def test_log_stream_writes_a_binary_stream_as_an_artifact(repo: Path) -> None:
    import io

    import mltrack as mlflow

    with mlflow.start_run() as run:
        mlflow.log_stream(io.BytesIO(b"binary content"), "dir/file.bin")
        with pytest.raises(mlflow.MltrackError, match="needs a binary stream"):
            mlflow.log_stream(io.StringIO("text"), "text.bin")
    path = mlflow.MlflowClient().download_artifacts(run.info.run_id, "dir/file.bin")
    assert Path(path).read_bytes() == b"binary content"
    assert [f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id)] == ["dir"]
