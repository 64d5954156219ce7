"""A full disk (and a read-only object store): errors say what is safe, nothing is lost.

Each test mounts a real tmpfs of a few megabytes, puts a git repository on it
and fills it with one file; freeing space is deleting that file. Mounting
needs root, which the suite (and CI) runs as.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import mltrack
from conftest import git, invoke, python_env, reset_mltrack
from mltrack import MltrackClient
from mltrack.exceptions import StoreWriteError
from mltrack.store import metrics as metrics_file
from mltrack.store.repository import Repository
from support import TrackingServer

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a small tmpfs needs root (the suite and CI run as root)"
)


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=True, capture_output=True)


@dataclass
class Disk:
    root: Path  # the tmpfs mount point
    repo: Path

    @property
    def filler(self) -> Path:
        return self.root / "filler"

    def fill(self) -> None:
        """Write one file until the file system refuses another byte."""
        with open(self.filler, "ab", buffering=0) as handle:
            for size in (1 << 16, 1 << 12, 1):
                with pytest.raises(OSError) as refused:
                    while True:
                        handle.write(b"\0" * size)
                assert refused.value.errno == errno.ENOSPC

    def free(self) -> None:
        self.filler.unlink()

    def run_dir(self, run_id: str) -> Path:
        return next(self.repo.glob(f".mltrack/experiments/*/runs/{run_id}"))


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    """A 6 MiB tmpfs holding an initialised store that flushes every 50 ms, as the cwd."""
    root = tmp_path / "disk"
    root.mkdir()
    mount("-t", "tmpfs", "-o", "size=6m", "tmpfs", str(root))
    try:
        repo = root / "repo"
        repo.mkdir()
        git(repo, "init", "-q")
        git(repo, "commit", "-q", "--allow-empty", "-m", "Start")
        Repository.open(repo).init()
        set_flush_interval(repo, 0.05)
        monkeypatch.chdir(repo)
        yield Disk(root, repo)
    finally:
        (root / "filler").unlink(missing_ok=True)  # a failed test may leave the disk full
        try:
            reset_mltrack()
        finally:
            umount(root)


def set_flush_interval(repo: Path, seconds: float) -> None:
    (repo / ".mltrack" / "mltrack.yaml").write_text(
        f"format_version: 1\nauto_commit: true\nflush_interval_seconds: {seconds}\n"
    )
    git(repo, "commit", "-q", "-am", f"Flush every {seconds} s")


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def stored_steps(run_dir: Path) -> list[int]:
    table = metrics_file.read_table(run_dir / "metrics.arrow")
    return [] if table is None else table.column("step").to_pylist()


def test_a_failed_flush_surfaces_on_the_next_log_call_and_nothing_is_lost(disk: Disk) -> None:
    run_id = mltrack.start_run(run_name="full").info.run_id
    run_dir = disk.run_dir(run_id)
    for step in range(100):
        mltrack.log_metric("loss", float(step), step=step)
    wait_until(lambda: len(stored_steps(run_dir)) == 100, "the first 100 points on disk")
    disk.fill()

    logged = list(range(100))
    step = 100
    deadline = time.monotonic() + 30
    while True:  # the flusher fails in the background; the next call says so
        try:
            mltrack.log_metric("loss", float(step), step=step)
        except StoreWriteError as error:
            failure = str(error)
            break
        logged.append(step)
        step += 1
        assert time.monotonic() < deadline, "the disk is full and no logging call said so"
        time.sleep(0.002)

    assert "\n" not in failure
    assert f"Could not write run {run_id}" in failure
    assert "No space left on device" in failure
    assert "stay in memory and are written at the next flush" in failure
    with pytest.raises(StoreWriteError) as ending:
        mltrack.end_run()
    assert "\n" not in str(ending.value)
    assert "end the run again" in str(ending.value)
    assert "`mltrack commit`" in str(ending.value)
    assert mltrack.active_run() is not None  # still this process's to end
    assert stored_steps(run_dir) == list(range(100))  # nothing half-written

    disk.free()
    mltrack.log_metric("loss", float(step), step=step)
    logged.append(step)
    mltrack.end_run()

    history = MltrackClient().get_metric_history(run_id, "loss")
    assert [m.step for m in history] == logged
    assert stored_steps(run_dir) == logged
    assert MltrackClient().get_run(run_id).info.status == "FINISHED"
    assert git(disk.repo, "log", "-1", "--format=%s") == "Run full: FINISHED in Default\n"
    assert git(disk.repo, "status", "--porcelain") == ""


def test_start_run_on_a_full_disk_leaves_no_run_directory(disk: Disk) -> None:
    runs = disk.repo / ".mltrack" / "experiments" / "0" / "runs"
    before = sorted(runs.iterdir()) if runs.exists() else []
    disk.fill()

    with pytest.raises(StoreWriteError, match="Nothing was stored; free disk space"):
        mltrack.start_run(run_name="nospace")

    assert (sorted(runs.iterdir()) if runs.exists() else []) == before
    assert mltrack.active_run() is None
    assert not list((disk.repo / ".git" / "mltrack" / "active").glob("*"))
    disk.free()
    with mltrack.start_run(run_name="space"):
        mltrack.log_metric("x", 1.0)
    assert git(disk.repo, "status", "--porcelain") == ""


def test_a_failed_commit_says_the_run_is_safe_and_mltrack_commit_finishes_it(
    disk: Disk, cli
) -> None:
    run_id = mltrack.start_run(run_name="unwritable").info.run_id
    for step in range(10):
        mltrack.log_metric("loss", float(step), step=step)
    objects = disk.repo / ".git" / "objects"
    mount("--bind", str(objects), str(objects))
    try:
        mount("-o", "remount,ro,bind", str(objects))
        with pytest.raises(StoreWriteError) as ending:
            mltrack.end_run()
    finally:
        umount(objects)

    message = str(ending.value)
    assert "\n" not in message
    assert f"Run {run_id} ended and is safe on disk in .mltrack/" in message
    assert "run `mltrack commit` to commit it" in message
    assert mltrack.active_run() is None  # it ended; only the commit is left
    assert stored_steps(disk.run_dir(run_id)) == list(range(10))
    result = invoke(cli, "commit")
    assert result.exit_code == 0, result.stderr
    assert git(disk.repo, "log", "-1", "--format=%s") == "Run unwritable: FINISHED in Default\n"
    assert git(disk.repo, "status", "--porcelain") == ""


# Logs 50 points and flushes them, fills the disk, logs 10 more and exits without
# ending the run: the exit hooks can write nothing.
EXIT_ON_A_FULL_DISK = """
import sys
import mltrack
from mltrack.store.runs import flush_all_live_runs

run = mltrack.start_run(run_name="exiting")
print(run.info.run_id, flush=True)
for step in range(50):
    mltrack.log_metric("loss", float(step), step=step)
flush_all_live_runs()
with open(sys.argv[1], "ab", buffering=0) as filler:
    for size in (1 << 16, 1 << 12, 1):
        try:
            while True:
                filler.write(b"\\0" * size)
        except OSError:
            pass
for step in range(50, 60):
    mltrack.log_metric("loss", float(step), step=step)
"""


def test_exit_hooks_report_what_they_could_not_write_and_mltrack_commit_finishes(
    disk: Disk, cli
) -> None:
    set_flush_interval(disk.repo, 600)  # only the exit hooks flush the last 10 points
    child = subprocess.run(
        [sys.executable, "-c", EXIT_ON_A_FULL_DISK, str(disk.filler)],
        cwd=disk.repo,
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=120,
        check=False,
    )
    run_id = child.stdout.strip()
    report = [line for line in child.stderr.splitlines() if "mltrack commit" in line]
    assert report, child.stderr
    assert any(
        line.startswith(f"mltrack: could not write run {run_id} at exit: No space left on device")
        and "Its last 10 metric point(s)" in line
        for line in report
    ), child.stderr
    assert "Traceback" not in child.stderr
    assert len([line for line in child.stderr.splitlines() if run_id in line]) == 1
    disk.free()

    checked = invoke(cli, "fsck")
    assert checked.exit_code == 1
    assert "`mltrack commit` records it as KILLED" in checked.stdout
    committed = invoke(cli, "commit")
    assert committed.exit_code == 0, committed.stderr
    assert invoke(cli, "fsck").exit_code == 0
    assert stored_steps(disk.run_dir(run_id)) == list(range(50))
    assert MltrackClient().get_run(run_id).info.status == "KILLED"
    assert git(disk.repo, "status", "--porcelain") == ""


# Adds a point to a run that already ended; the exit hook writes it and commits the run.
LATE_POINT = """
import sys
from mltrack import MltrackClient

MltrackClient().log_metric(sys.argv[1], "late", 1.0, step=1)
"""


def test_an_exit_hook_whose_commit_fails_says_so_and_mltrack_commit_finishes(
    disk: Disk, cli
) -> None:
    with mltrack.start_run(run_name="late") as run:
        mltrack.log_metric("loss", 1.0)
    run_id = run.info.run_id
    objects = disk.repo / ".git" / "objects"
    mount("--bind", str(objects), str(objects))
    try:
        mount("-o", "remount,ro,bind", str(objects))
        child = subprocess.run(
            [sys.executable, "-c", LATE_POINT, run_id],
            cwd=disk.repo,
            capture_output=True,
            text=True,
            env=python_env(),
            timeout=120,
            check=False,
        )
    finally:
        umount(objects)

    assert child.returncode == 0, child.stderr
    assert child.stderr.splitlines() == [
        f"mltrack: run {run_id} is safe on disk in {disk.run_dir(run_id).relative_to(disk.repo)} "
        "but committing it at exit failed: Read-only file system. "
        "Run `mltrack commit` to commit it."
    ]
    assert invoke(cli, "commit").exit_code == 0
    assert MltrackClient().get_run(run_id).data.metrics == {"loss": 1.0, "late": 1.0}
    assert git(disk.repo, "status", "--porcelain") == ""


def test_the_server_answers_503_for_a_point_it_could_not_store_and_stores_a_retry_once(
    disk: Disk,
) -> None:
    server = TrackingServer(disk.repo, home=Path(os.environ["HOME"]))
    try:
        api = f"{server.url}/api/2.0/mlflow"
        run_id = httpx.post(f"{api}/runs/create", json={"experiment_id": "0"}).json()["run"][
            "info"
        ]["run_id"]
        point = {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1000, "step": 1}
        assert httpx.post(f"{api}/runs/log-metric", json=point).status_code == 200
        disk.fill()
        # The run's journal takes each point in the space its last block has left: points
        # fill it until one cannot be stored.
        accepted = []
        for step in range(2, 400):
            late = {**point, "value": 0.25, "timestamp": 1000 * step, "step": step}
            refused = httpx.post(f"{api}/runs/log-metric", json=late)
            if refused.status_code != 200:
                break
            accepted.append(step)

        assert refused.status_code == 503, refused.text
        assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert "Nothing of this change was stored" in refused.json()["message"]
        history = {"run_id": run_id, "metric_key": "loss"}
        stored = httpx.get(f"{api}/metrics/get-history", params=history).json()["metrics"]
        assert [m["step"] for m in stored] == [1, *accepted]
        disk.free()
        for _ in range(2):  # the client's retry, then the same point once more
            assert httpx.post(f"{api}/runs/log-metric", json=late).status_code == 200
        assert httpx.post(f"{api}/runs/log-metric", json=point).status_code == 200
        stored = httpx.get(f"{api}/metrics/get-history", params=history).json()["metrics"]
        assert [(m["step"], m["value"]) for m in stored] == [
            (1, 0.5),
            *((step, 0.25) for step in accepted),
            (late["step"], 0.25),
        ]
    finally:
        server.stop()
