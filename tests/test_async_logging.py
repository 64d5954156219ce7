"""``synchronous=False`` and ``flush_async_logging``: MLflow's names, mltrack's honest meaning."""

from __future__ import annotations

from pathlib import Path

import pytest

import mltrack as mlflow
from mltrack.entities import Metric, Param, RunTag
from mltrack.store import metrics as metrics_file


def _stored_points(repo: Path, run_id: str) -> int:
    """Points in the run's metrics.arrow on disk (not this process's buffer)."""
    (run_dir,) = [p for p in (repo / ".mltrack").rglob(run_id) if p.is_dir()]
    table = metrics_file.read_table(run_dir / "metrics.arrow")
    return 0 if table is None else table.num_rows


def test_asynchronous_calls_return_run_operations_that_write_on_wait(repo: Path) -> None:
    with mlflow.start_run() as run:
        operations = [
            mlflow.log_metric("loss", 0.5, synchronous=False),
            mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, synchronous=False),
            mlflow.log_param("lr", 0.1, synchronous=False),
            mlflow.log_params({"depth": 3}, synchronous=False),
            mlflow.set_tag("team", "a", synchronous=False),
            mlflow.set_tags({"stage": "dev"}, synchronous=False),
        ]
        assert all(isinstance(op, mlflow.RunOperations) for op in operations)
        for op in operations:
            op.wait()
        # wait() wrote everything to the run's files, before the run ends
        assert _stored_points(repo, run.info.run_id) == 3
        data = mlflow.get_run(run.info.run_id).data
        assert data.metrics == {"loss": 0.5, "acc": 0.9, "f1": 0.8}
        assert data.params == {"lr": "0.1", "depth": "3"}
        assert data.tags["team"] == "a" and data.tags["stage"] == "dev"


def test_synchronous_calls_return_what_mlflow_returns(repo: Path) -> None:
    with mlflow.start_run():
        assert mlflow.log_metric("loss", 0.5) is None
        assert mlflow.log_metric("loss", 0.4, synchronous=True) is None
        assert mlflow.log_param("lr", 0.1) == 0.1
        assert mlflow.set_tag("team", "a") is None


def test_client_log_batch_asynchronous(repo: Path) -> None:
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment("batch")
    run = client.create_run(experiment_id)
    run_id = run.info.run_id
    operation = client.log_batch(
        run_id,
        metrics=[Metric("m", 1.0, 1, 0)],
        params=[Param("p", "1")],
        tags=[RunTag("t", "x")],
        synchronous=False,
    )
    assert isinstance(operation, mlflow.RunOperations)
    operation.wait()
    assert _stored_points(repo, run_id) == 1
    assert client.log_batch(run_id, metrics=[Metric("m", 2.0, 2, 1)]) is None
    assert isinstance(client.log_metric(run_id, "m", 3.0, synchronous=False), mlflow.RunOperations)
    assert client.get_run(run_id).data.params == {"p": "1"}


def test_environment_makes_logging_asynchronous(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "true")
    with mlflow.start_run():
        assert isinstance(mlflow.log_metric("loss", 0.5), mlflow.RunOperations)
        assert mlflow.log_metric("loss", 0.5, synchronous=True) is None


def test_flush_async_logging_writes_every_active_run(repo: Path) -> None:
    with mlflow.start_run() as run:
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, synchronous=False)
        mlflow.flush_async_logging()
        assert _stored_points(repo, run.info.run_id) == 5
        mlflow.flush_artifact_async_logging()  # artifacts are copied at once: nothing waits
        assert len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")) == 5


def test_invalid_values_raise_at_the_call_even_when_asynchronous(repo: Path) -> None:
    with mlflow.start_run(), pytest.raises(mlflow.MltrackError):
        mlflow.log_param("", 1, synchronous=False)


def test_synchronous_true_wins_over_the_environment(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "true")
    with mlflow.start_run():
        assert mlflow.log_param("lr", 0.1, synchronous=True) == 0.1
        assert mlflow.set_tag("team", "a", synchronous=True) is None
        assert mlflow.log_params({"depth": 3}, synchronous=True) is None
        assert isinstance(mlflow.log_param("momentum", 0.9), mlflow.RunOperations)
