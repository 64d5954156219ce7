"""System metrics of a run: CPU, memory, disk and network, sampled in the background.

``mltrack.start_run(log_system_metrics=True)`` (or ``enable_system_metrics_logging()``,
or ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true``) starts a daemon thread that
samples the machine with psutil every ``sampling_interval`` seconds and logs
the average of every ``samples_before_logging`` samples as one step of
MLflow's metrics (``system/cpu_utilization_percentage`` …, or
``system/<node_id>/…``). ``end_run`` stops the thread and logs the samples
still pending, so a short run keeps them, and records at least one step.
GPU metrics are not sampled. psutil is an optional dependency
(``pip install 'mltrack[system-metrics]'``): without it the run goes on and
one warning says why it has no system metrics.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from mltrack.entities import Metric
from mltrack.exceptions import InvalidParameterValue, MltrackError

if TYPE_CHECKING:
    from mltrack.tracking.client import TrackingClient

__all__ = [
    "SystemMetricsMonitor",
    "disable_system_metrics_logging",
    "enable_system_metrics_logging",
    "set_system_metrics_node_id",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
    "start_monitor",
]

PREFIX = "system/"
DEFAULT_SAMPLING_INTERVAL = 10.0
DEFAULT_SAMPLES_BEFORE_LOGGING = 1
logger = logging.getLogger("mltrack")

# None: not set in this process, the environment decides (as MLflow's settings).
_enabled: bool | None = None
_sampling_interval: float | None = None
_samples_before_logging: int | None = None
_node_id: str | None = None


def enable_system_metrics_logging() -> None:
    """Log system metrics for every run started from now on (MLflow's name)."""
    global _enabled
    _enabled = True


def disable_system_metrics_logging() -> None:
    """Stop logging system metrics for runs started from now on."""
    global _enabled
    _enabled = False


def set_system_metrics_sampling_interval(interval: float | None) -> None:
    """Seconds between two samples (default 10; None: back to the default)."""
    global _sampling_interval
    _sampling_interval = None if interval is None else _positive(interval, "sampling interval")


def set_system_metrics_samples_before_logging(samples: int | None) -> None:
    """How many samples are averaged into one logged step (default 1; None: the default)."""
    global _samples_before_logging
    _samples_before_logging = (
        None if samples is None else int(_positive(samples, "samples before logging"))
    )


def set_system_metrics_node_id(node_id: str | None) -> None:
    """Log as ``system/<node_id>/…``, to tell the machines of a distributed run apart."""
    global _node_id
    _node_id = node_id


def _positive(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if not number > 0:
        raise InvalidParameterValue(f"Invalid system metrics {what} {value!r}: it must be > 0.")
    return number


def _env_flag(*names: str) -> bool | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value.strip().lower() in ("1", "true", "yes", "on")
    return None


def _env_number(*names: str) -> float | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return _positive(value, name)
    return None


def wanted(log_system_metrics: bool | None) -> bool:
    """Whether a run started with ``log_system_metrics`` records system metrics."""
    if log_system_metrics is not None:
        return bool(log_system_metrics)
    if _enabled is not None:
        return _enabled
    return bool(
        _env_flag("MLTRACK_ENABLE_SYSTEM_METRICS_LOGGING", "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING")
    )


class _Sampler:
    """One psutil reading of the machine, MLflow's metric names and units (MB = 10**6 bytes)."""

    def __init__(self, psutil: Any) -> None:
        self.psutil = psutil
        psutil.cpu_percent()  # the first call only sets the baseline of the next one
        start = psutil.net_io_counters()
        self.received0 = start.bytes_recv if start is not None else 0
        self.sent0 = start.bytes_sent if start is not None else 0

    def sample(self) -> dict[str, float]:
        psutil = self.psutil
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(os.sep)
        values = {
            "cpu_utilization_percentage": float(psutil.cpu_percent()),
            "system_memory_usage_megabytes": memory.used / 1e6,
            "system_memory_usage_percentage": memory.used / memory.total * 100,
            "disk_usage_percentage": float(disk.percent),
            "disk_usage_megabytes": disk.used / 1e6,
            "disk_available_megabytes": disk.free / 1e6,
        }
        network = psutil.net_io_counters()
        if network is not None:  # None on a machine with no network interface
            values["network_receive_megabytes"] = (network.bytes_recv - self.received0) / 1e6
            values["network_transmit_megabytes"] = (network.bytes_sent - self.sent0) / 1e6
        return values


class SystemMetricsMonitor:
    """The sampling thread of one run; :meth:`finish` stops it and logs what is pending."""

    def __init__(
        self,
        run_id: str,
        client: TrackingClient,
        sampler: _Sampler,
        sampling_interval: float,
        samples_before_logging: int,
        node_id: str | None = None,
        first_step: int = 0,
    ) -> None:
        self.run_id = run_id
        self.client = client
        self.sampler = sampler
        self.sampling_interval = sampling_interval
        self.samples_before_logging = samples_before_logging
        self.prefix = PREFIX + (f"{node_id}/" if node_id else "")
        self.step = first_step
        self._pending: list[dict[str, float]] = []
        self._logged_any = False
        self._lock = threading.Lock()  # the thread and finish() both log pending samples
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"mltrack-system-metrics-{run_id[:8]}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.sampling_interval):
            try:
                self._take_sample()
            except Exception as error:  # a sampling or logging failure must not kill training
                logger.warning("system metrics of run %s stopped: %s", self.run_id, error)
                return

    def _take_sample(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self._pending.append(self.sampler.sample())
            if len(self._pending) >= self.samples_before_logging:
                self._log_pending()

    def _log_pending(self) -> None:
        """Log the average of the pending samples as the next step (caller holds the lock)."""
        samples, self._pending = self._pending, []
        if not samples:
            return
        sums: dict[str, float] = defaultdict(float)
        for sample in samples:
            for key, value in sample.items():
                sums[key] += value
        now = int(time.time() * 1000)
        metrics = [
            Metric(self.prefix + key, total / len(samples), now, self.step)
            for key, total in sums.items()
        ]
        self.client.log_batch(self.run_id, metrics=metrics)
        self.step += 1
        self._logged_any = True

    def finish(self) -> None:
        """Stop sampling; log pending samples (or one sample now if none was ever logged)."""
        self._stop.set()
        self._thread.join()
        with self._lock:
            if not self._pending and not self._logged_any:
                self._pending.append(self.sampler.sample())
            self._log_pending()


def _next_step(client: TrackingClient, run_id: str, prefix: str) -> int:
    """A resumed run continues its system metrics after the last step logged."""
    run = client.get_run(run_id)
    keys = [key for key in run.data.metrics if key.startswith(prefix)]
    if not keys:
        return 0
    return 1 + max(point.step for point in client.get_metric_history(run_id, keys[0]))


def start_monitor(
    run_id: str, client: TrackingClient, resumed: bool = False
) -> SystemMetricsMonitor | None:
    """Start sampling for ``run_id``; None (after one warning) if it cannot: psutil is not
    installed, or a setting in the environment is invalid (the run goes on, as MLflow's)."""
    try:
        import psutil
    except ImportError:
        logger.warning(
            "System metrics are not logged for run %s: psutil is not installed "
            "(pip install 'mltrack[system-metrics]').",
            run_id,
        )
        return None
    try:
        return _start(run_id, client, resumed, psutil)
    except MltrackError as error:
        logger.warning("System metrics are not logged for run %s: %s", run_id, error)
        return None


def _start(run_id: str, client: TrackingClient, resumed: bool, psutil: Any) -> SystemMetricsMonitor:
    interval = _sampling_interval or _env_number(
        "MLTRACK_SYSTEM_METRICS_SAMPLING_INTERVAL", "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"
    )
    samples = _samples_before_logging or _env_number(
        "MLTRACK_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING",
        "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING",
    )
    node_id = _node_id or os.environ.get("MLFLOW_SYSTEM_METRICS_NODE_ID") or None
    prefix = PREFIX + (f"{node_id}/" if node_id else "")
    monitor = SystemMetricsMonitor(
        run_id,
        client,
        _Sampler(psutil),
        interval or DEFAULT_SAMPLING_INTERVAL,
        int(samples or DEFAULT_SAMPLES_BEFORE_LOGGING),
        node_id,
        first_step=_next_step(client, run_id, prefix) if resumed else 0,
    )
    monitor.start()
    return monitor


def reset() -> None:
    """Back to the environment's settings (tests, long-lived hosts)."""
    global _enabled, _sampling_interval, _samples_before_logging, _node_id
    _enabled = _sampling_interval = _samples_before_logging = _node_id = None
