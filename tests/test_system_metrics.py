"""System metrics (``log_system_metrics=True``): psutil samples in a background thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import mltrack as mlflow
from conftest import run_python

SYSTEM_METRICS = {
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage",
    "system/disk_usage_percentage",
    "system/disk_usage_megabytes",
    "system/disk_available_megabytes",
    "system/network_receive_megabytes",
    "system/network_transmit_megabytes",
}

pytest.importorskip("psutil")


def _sampling_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("mltrack-system-metrics")]


def test_start_run_log_system_metrics_logs_mlflows_metrics(repo: Path) -> None:
    mlflow.set_system_metrics_sampling_interval(0.01)
    with mlflow.start_run(log_system_metrics=True) as run:
        assert _sampling_threads()
        mlflow.log_metric("loss", 0.5)
    assert _sampling_threads() == []  # stopped cleanly by end_run
    metrics = mlflow.get_run(run.info.run_id).data.metrics
    assert set(metrics) >= SYSTEM_METRICS
    assert 0 <= metrics["system/cpu_utilization_percentage"] <= 100 * 1024
    assert 0 < metrics["system/system_memory_usage_percentage"] <= 100
    assert metrics["system/disk_available_megabytes"] > 0
    history = mlflow.MlflowClient().get_metric_history(
        run.info.run_id, "system/disk_usage_megabytes"
    )
    assert [point.step for point in history] == list(range(len(history)))


def test_pending_samples_are_logged_at_end_run(repo: Path) -> None:
    # One step averages 10,000 samples: none would be logged before the run ends.
    mlflow.set_system_metrics_sampling_interval(0.01)
    mlflow.set_system_metrics_samples_before_logging(10_000)
    with mlflow.start_run(log_system_metrics=True) as run:
        pass
    client = mlflow.MlflowClient()
    for key in SYSTEM_METRICS:
        assert [p.step for p in client.get_metric_history(run.info.run_id, key)] == [0], key


def test_enable_and_disable_for_the_process(repo: Path) -> None:
    mlflow.enable_system_metrics_logging()
    with mlflow.start_run() as on:
        pass
    mlflow.disable_system_metrics_logging()
    with mlflow.start_run() as off:
        pass
    with mlflow.start_run(log_system_metrics=True) as asked:  # the argument wins
        pass
    assert set(mlflow.get_run(on.info.run_id).data.metrics) >= SYSTEM_METRICS
    assert mlflow.get_run(off.info.run_id).data.metrics == {}
    assert set(mlflow.get_run(asked.info.run_id).data.metrics) >= SYSTEM_METRICS


def test_environment_variable_and_node_id(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.01")
    mlflow.set_system_metrics_node_id("node_0")
    with mlflow.start_run() as run:
        pass
    keys = set(mlflow.get_run(run.info.run_id).data.metrics)
    assert {k.replace("system/node_0/", "system/") for k in keys} == SYSTEM_METRICS
    with mlflow.start_run(log_system_metrics=False) as off:
        pass
    assert mlflow.get_run(off.info.run_id).data.metrics == {}


def test_a_resumed_run_continues_after_its_last_step(repo: Path) -> None:
    with mlflow.start_run(log_system_metrics=True) as run:
        pass
    with mlflow.start_run(run_id=run.info.run_id, log_system_metrics=True):
        pass
    history = mlflow.MlflowClient().get_metric_history(
        run.info.run_id, "system/cpu_utilization_percentage"
    )
    assert [p.step for p in history] == [0, 1]


def test_bad_settings_are_refused(repo: Path) -> None:
    with pytest.raises(mlflow.MltrackError, match="must be > 0"):
        mlflow.set_system_metrics_sampling_interval(0)
    with pytest.raises(mlflow.MltrackError, match="must be > 0"):
        mlflow.set_system_metrics_samples_before_logging(-1)


def test_without_psutil_the_run_goes_on_with_one_warning(repo: Path) -> None:
    code = (
        "import sys; sys.modules['psutil'] = None\n"
        "import mltrack as mlflow\n"
        "with mlflow.start_run(log_system_metrics=True) as run:\n"
        "    mlflow.log_metric('loss', 1.0)\n"
        "print(sorted(mlflow.get_run(run.info.run_id).data.metrics))\n"
    )
    result = run_python(code, repo)
    assert result.stdout.strip() == "['loss']"
    warnings = [line for line in result.stderr.splitlines() if "psutil" in line]
    assert len(warnings) == 1
    assert "pip install 'mltrack[system-metrics]'" in warnings[0]


def test_an_invalid_setting_in_the_environment_only_warns(
    repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "soon")
    with mlflow.start_run(log_system_metrics=True) as run:
        mlflow.log_metric("loss", 1.0)
    assert mlflow.get_run(run.info.run_id).data.metrics == {"loss": 1.0}
    assert "System metrics are not logged" in caplog.text and "must be > 0" in caplog.text
