"""Processes that die: kill -9 mid-training, late writers, uncaught exceptions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from conftest import git, invoke, python_env, run_python
from mltrack import MltrackClient
from mltrack.store import metrics as metrics_file
from support import wait_until

# Logs ``batch`` points per line it reads on stdin, printing the total after each batch.
TRAIN = """
import sys
import mltrack

mltrack.set_experiment("crash")
run = mltrack.start_run(run_name=sys.argv[1])
print(run.info.run_id, flush=True)
step = 0
for line in sys.stdin:
    if line.strip() == "end":
        break
    for _ in range(int(line)):
        mltrack.log_metric("loss", 1.0 / (step + 1), step=step)
        step += 1
    print(step, flush=True)
mltrack.end_run()
print("ended", flush=True)
"""


@pytest.fixture
def store(repo: Path, cli) -> Path:
    """An initialised store that flushes buffered points often, committed."""
    assert invoke(cli, "init").exit_code == 0
    (repo / ".mltrack" / "mltrack.yaml").write_text(
        "format_version: 1\nauto_commit: true\nflush_interval_seconds: 0.05\n"
    )
    git(repo, "commit", "-q", "-am", "Flush often")
    return repo


class Trainer:
    """A training process driven line by line through its stdin."""

    def __init__(self, repo: Path, name: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", TRAIN, name],
            cwd=repo,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=python_env(),
        )
        self.run_id = self.read()
        self.run_dir = next(repo.glob(f".mltrack/experiments/*/runs/{self.run_id}"))

    def read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, self.finish()[1]
        return line.strip()

    def log(self, points: int) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{points}\n")
        self.proc.stdin.flush()
        return int(self.read())

    def end(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("end\n")
        self.proc.stdin.flush()
        assert self.read() == "ended"
        assert self.finish()[0] == 0

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.finish()

    def finish(self) -> tuple[int, str]:
        _, stderr = self.proc.communicate(timeout=60)
        return self.proc.returncode, stderr


@pytest.fixture
def trainers() -> Iterator[list[Trainer]]:
    started: list[Trainer] = []
    yield started
    for trainer in started:
        if trainer.proc.poll() is None:
            trainer.proc.kill()
        trainer.proc.communicate()


def stored_points(run_dir: Path) -> int:
    table = metrics_file.read_table(run_dir / "metrics.arrow")
    return 0 if table is None else table.num_rows


def run_yaml(run_dir: Path) -> dict:
    return yaml.safe_load((run_dir / "run.yaml").read_text())


def test_kill_9_keeps_every_flushed_point_and_reads_as_killed(
    store: Path, cli, trainers: list[Trainer]
) -> None:
    finished = Trainer(store, "survivor")
    trainers.append(finished)
    finished.log(10)
    finished.end()
    survivor_blob = git(store, "rev-parse", f"HEAD:{finished.run_dir.relative_to(store)}/run.yaml")
    doomed = Trainer(store, "doomed")
    trainers.append(doomed)
    assert doomed.log(300) == 300
    wait_until(lambda: stored_points(doomed.run_dir) >= 300, "300 flushed points")
    doomed.log(50)  # maybe flushed, maybe not: the tail a crash may lose

    doomed.kill()

    with pa.memory_map(str(doomed.run_dir / "metrics.arrow")) as source:
        table = pa.ipc.open_file(source).read_all()  # a valid Arrow file
    assert table.schema.names == ["key", "value", "step", "timestamp"]
    client = MltrackClient()
    history = client.get_metric_history(doomed.run_id, "loss")
    assert 300 <= len(history) <= 350
    assert [m.step for m in history] == list(range(len(history)))
    assert history[299].value == 1.0 / 300
    run = client.get_run(doomed.run_id)
    assert run.info.status == "KILLED"
    assert run.info.end_time is None
    assert run_yaml(doomed.run_dir)["status"] == "RUNNING"  # nothing rewrote the file yet
    listed = invoke(cli, "runs", "list", "--format", "json")
    assert '"status": "KILLED"' in listed.stdout

    result = invoke(cli, "commit")

    assert result.exit_code == 0, result.stderr
    assert f"Run {doomed.run_id}: its process is gone; recorded as KILLED." in result.stdout
    stored = run_yaml(doomed.run_dir)
    assert stored["status"] == "KILLED"
    assert stored["start_time"] <= stored["end_time"] <= time.time() * 1000
    assert git(store, "log", "-1", "--format=%s") == "Run doomed: KILLED in crash\n"
    assert git(store, "log", "-1", "--format=%(trailers:key=Mltrack-Run,valueonly)").strip() == (
        doomed.run_id
    )
    assert git(store, "status", "--porcelain") == ""
    assert len(client.get_metric_history(doomed.run_id, "loss")) == len(history)
    assert client.get_run(doomed.run_id).info.status == "KILLED"
    # The finished run is untouched.
    assert git(store, "rev-parse", f"HEAD:{finished.run_dir.relative_to(store)}/run.yaml") == (
        survivor_blob
    )
    assert client.get_run(finished.run_id).info.status == "FINISHED"
    assert invoke(cli, "fsck").exit_code == 0
    assert git(store, "fsck", "--strict", "--no-progress", "--no-dangling").strip() == ""


def test_sigterm_flushes_and_commits_the_run_as_killed(
    store: Path, trainers: list[Trainer]
) -> None:
    trainer = Trainer(store, "preempted")
    trainers.append(trainer)
    assert trainer.log(120) == 120

    os.kill(trainer.proc.pid, signal.SIGTERM)  # what a scheduler sends on preemption
    returncode, _ = trainer.finish()

    assert returncode == -signal.SIGTERM  # the process still dies by the signal
    stored = run_yaml(trainer.run_dir)
    assert stored["status"] == "KILLED" and stored["end_time"] is not None
    assert len(MltrackClient().get_metric_history(trainer.run_id, "loss")) == 120  # nothing lost
    assert git(store, "log", "-1", "--format=%s") == "Run preempted: KILLED in crash\n"
    assert git(store, "status", "--porcelain") == ""


def test_a_killed_process_not_yet_reaped_reads_as_killed(
    store: Path, trainers: list[Trainer]
) -> None:
    doomed = Trainer(store, "zombie")
    trainers.append(doomed)
    os.kill(doomed.proc.pid, signal.SIGKILL)
    os.waitid(os.P_PID, doomed.proc.pid, os.WEXITED | os.WNOWAIT)  # dead, still a zombie

    assert MltrackClient().get_run(doomed.run_id).info.status == "KILLED"


def test_mltrack_commit_skips_runs_that_are_still_running(
    store: Path, cli, trainers: list[Trainer]
) -> None:
    alive = Trainer(store, "alive")
    trainers.append(alive)
    alive.log(20)
    doomed = Trainer(store, "doomed")
    trainers.append(doomed)
    doomed.kill()

    result = invoke(cli, "commit")

    assert f"Run {alive.run_id}: still running, not committed." in result.stdout
    assert MltrackClient().get_run(alive.run_id).info.status == "RUNNING"
    assert run_yaml(alive.run_dir)["status"] == "RUNNING"
    assert run_yaml(doomed.run_dir)["status"] == "KILLED"
    alive.end()
    assert git(store, "log", "-1", "--format=%s") == "Run alive: FINISHED in crash\n"
    assert len(MltrackClient().get_metric_history(alive.run_id, "loss")) == 20
    assert git(store, "status", "--porcelain") == ""


def test_mltrack_commit_does_not_commit_a_dead_writers_temporary_file(
    store: Path, cli, trainers: list[Trainer]
) -> None:
    doomed = Trainer(store, "torn")
    trainers.append(doomed)
    doomed.log(10)
    wait_until(lambda: stored_points(doomed.run_dir) == 10, "10 flushed points")
    doomed.kill()
    # What a kill during a flush leaves: the half-written temporary beside metrics.arrow.
    torn = doomed.run_dir / f".metrics.arrow.tmp-{doomed.proc.pid}-140000000000000"
    torn.write_bytes((doomed.run_dir / "metrics.arrow").read_bytes()[:100])

    assert invoke(cli, "commit").exit_code == 0

    committed = git(store, "ls-tree", "-r", "--name-only", "HEAD", str(doomed.run_dir))
    assert "tmp" not in committed
    assert not torn.exists()
    assert git(store, "status", "--porcelain") == ""
    assert invoke(cli, "fsck").exit_code == 0


def test_logging_into_a_finished_run_from_another_process_keeps_earlier_points(
    store: Path, trainers: list[Trainer]
) -> None:
    first = Trainer(store, "earlier")
    trainers.append(first)
    first.log(100)
    first.end()
    before = git(store, "rev-parse", "HEAD").strip()

    run_python(
        "import sys\n"
        "from mltrack import MltrackClient\n"
        "client = MltrackClient()\n"
        "for step in range(100, 120):\n"
        "    client.log_metric(sys.argv[1], 'loss', 0.5, step=step)\n"
        "client.log_param(sys.argv[1], 'resumed', 'yes')\n",
        store,
        first.run_id,
    )

    history = MltrackClient().get_metric_history(first.run_id, "loss")
    assert [m.step for m in history] == list(range(120))
    assert history[0].value == 1.0
    run = MltrackClient().get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"resumed": "yes"}
    assert run.data.metrics["loss"] == 0.5
    assert git(store, "rev-parse", "HEAD~1").strip() == before  # committed at exit
    assert git(store, "log", "-1", "--format=%(trailers:key=Mltrack-Run,valueonly)").strip() == (
        first.run_id
    )
    assert git(store, "status", "--porcelain") == ""


def test_another_process_logging_into_a_running_run_loses_nothing(
    store: Path, trainers: list[Trainer]
) -> None:
    owner = Trainer(store, "shared")
    trainers.append(owner)
    owner.log(30)
    wait_until(lambda: stored_points(owner.run_dir) == 30, "30 flushed points")

    run_python(
        "import sys\n"
        "from mltrack import MltrackClient\n"
        "client = MltrackClient()\n"
        "client.log_metric(sys.argv[1], 'val_loss', 0.25, step=7)\n"
        "client.log_param(sys.argv[1], 'evaluator', 'other-process')\n"
        "client.set_tag(sys.argv[1], 'checked', 'true')\n",
        store,
        owner.run_id,
    )
    owner.log(10)
    owner.end()

    client = MltrackClient()
    assert [m.step for m in client.get_metric_history(owner.run_id, "loss")] == list(range(40))
    assert [m.value for m in client.get_metric_history(owner.run_id, "val_loss")] == [0.25]
    run = client.get_run(owner.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["evaluator"] == "other-process"
    assert run.data.tags["checked"] == "true"
    assert run_yaml(owner.run_dir)["metrics"]["val_loss"]["value"] == 0.25
    assert git(store, "status", "--porcelain") == ""


def test_an_uncaught_exception_ends_the_run_failed(store: Path) -> None:
    proc = run_python(
        "import mltrack\n"
        "mltrack.set_experiment('crash')\n"
        "run = mltrack.start_run(run_name='broken')\n"
        "print(run.info.run_id, flush=True)\n"
        "mltrack.log_metric('loss', 1.5)\n"
        "raise RuntimeError('diverged')\n",
        store,
        check=False,
    )

    assert proc.returncode == 1 and "RuntimeError: diverged" in proc.stderr
    run_id = proc.stdout.strip()
    run = MltrackClient().get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.info.end_time is not None
    assert run.data.metrics == {"loss": 1.5}
    assert git(store, "log", "-1", "--format=%s") == "Run broken: FAILED in crash\n"
    assert git(store, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    "script",
    [
        "import mltrack\nrun = mltrack.start_run(run_name='plain')\nmltrack.log_metric('m', 2.0)\n",
        "import mltrack\nmltrack.log_metric('m', 2.0)\nrun = mltrack.last_active_run()\n",
    ],
    ids=["start_run-without-with", "implicit-run"],
)
def test_a_script_that_exits_normally_ends_its_run_finished(store: Path, script: str) -> None:
    proc = run_python(script + "print(run.info.run_id)\n", store)

    run = MltrackClient().get_run(proc.stdout.strip())
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"m": 2.0}
    assert git(store, "status", "--porcelain") == ""
    assert "FINISHED in Default" in git(store, "log", "-1", "--format=%s")


def test_fsck_after_a_crash_mid_write_says_mltrack_commit_finishes_it(
    store: Path, cli, trainers: list[Trainer]
) -> None:
    doomed = Trainer(store, "mid-write")
    trainers.append(doomed)
    doomed.log(20)
    doomed.kill()
    # What a kill -9 in the middle of atomic writes leaves: temporaries named by the dead pid.
    experiment_dir = doomed.run_dir.parent.parent
    left = [
        doomed.run_dir / f".metrics.arrow.tmp-{doomed.proc.pid}-1",
        experiment_dir / f".experiment.yaml.tmp-{doomed.proc.pid}-1",
    ]
    for path in left:
        path.write_bytes(b"half")

    checked = invoke(cli, "fsck")

    assert checked.exit_code == 1
    lines = checked.stdout.splitlines()
    assert len(lines) == 4 and lines[-1] == "3 problem(s) found."
    assert all("`mltrack commit`" in line for line in lines[:3]), checked.stdout
    assert any("RUNNING, but its process is gone" in line for line in lines)
    assert invoke(cli, "commit").exit_code == 0
    assert invoke(cli, "fsck").stdout == "No problems found.\n"
    assert not any(path.exists() for path in left)
    assert ".tmp-" not in git(store, "ls-files")
    assert git(store, "status", "--porcelain") == ""
