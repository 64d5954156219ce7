"""Many writers at once: processes and threads each logging and committing their own runs."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import git, invoke, python_env
from mltrack import MltrackClient

WORKERS = 4
RUNS = 10
POINTS = 100

# A sweep worker: waits for "go" on stdin so that every worker starts at once.
SWEEP = """
import sys
import mltrack

worker = int(sys.argv[1])
mltrack.set_experiment("sweep")
print("ready", flush=True)
sys.stdin.readline()
for i in range(int(sys.argv[2])):
    with mltrack.start_run(run_name=f"w{worker}-r{i}") as run:
        mltrack.log_params({"worker": str(worker), "index": str(i), "lr": str(0.01 * i)})
        for step in range(int(sys.argv[3])):
            mltrack.log_metric("loss", 1.0 / (step + 1), step=step)
            mltrack.log_metric("acc", step / 100, step=step)
    print(run.info.run_id, flush=True)
"""


def assert_repository_sound(repo: Path) -> None:
    assert git(repo, "fsck", "--strict", "--no-progress", "--no-dangling").strip() == ""
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.slow
def test_processes_logging_at_once_lose_no_run_point_or_commit(repo: Path, cli) -> None:
    assert invoke(cli, "init").exit_code == 0
    base = int(git(repo, "rev-list", "--count", "HEAD"))
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", SWEEP, str(n), str(RUNS), str(POINTS)],
            cwd=repo,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=python_env(),
        )
        for n in range(WORKERS)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        outputs = [worker.communicate("go\n", timeout=300) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
        assert "lock" not in stderr.lower() and "error" not in stderr.lower(), stderr
    run_ids = [line for out, _ in outputs for line in out.split()]
    assert len(set(run_ids)) == WORKERS * RUNS

    trailers = git(repo, "log", "--format=%(trailers:key=Mltrack-Run,valueonly)", "HEAD")
    assert sorted(trailers.split()) == sorted(run_ids)  # one commit per run, none lost
    commits = int(git(repo, "rev-list", "--count", "HEAD")) - base
    assert commits == WORKERS * RUNS + 1  # the runs and one "Create experiment sweep"
    committed = git(repo, "ls-tree", "-r", "--name-only", "HEAD", ".mltrack/experiments")
    client = MltrackClient()
    experiment_id = client.get_experiment_by_name("sweep").experiment_id
    for run_id in run_ids:
        prefix = f".mltrack/experiments/{experiment_id}/runs/{run_id}"
        assert f"{prefix}/run.yaml" in committed and f"{prefix}/metrics.arrow" in committed
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.metrics == {"loss": 1.0 / POINTS, "acc": (POINTS - 1) / 100}
        assert set(run.data.params) == {"worker", "index", "lr"}
        loss = client.get_metric_history(run_id, "loss")
        assert [m.step for m in loss] == list(range(POINTS))
        assert len(client.get_metric_history(run_id, "acc")) == POINTS
    found = client.search_runs([experiment_id], max_results=1000)
    assert {r.info.run_id for r in found} == set(run_ids)
    assert_repository_sound(repo)


def test_threads_running_their_own_runs_through_the_client(repo: Path) -> None:
    client = MltrackClient()
    experiment_id = client.create_experiment("threads")
    start = threading.Barrier(4)
    made: list[str] = []
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait()
            for i in range(5):
                run = client.create_run(experiment_id, run_name=f"t{worker}-{i}")
                run_id = run.info.run_id
                client.log_param(run_id, "worker", worker)
                for step in range(50):
                    client.log_metric(run_id, "loss", float(step), step=step)
                client.set_terminated(run_id)
                made.append(run_id)
        except BaseException as error:  # reported in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(made) == 20
    trailers = git(repo, "log", "--format=%(trailers:key=Mltrack-Run,valueonly)", "HEAD")
    assert sorted(trailers.split()) == sorted(made)
    for run_id in made:
        assert len(client.get_metric_history(run_id, "loss")) == 50
        assert client.get_run(run_id).info.status == "FINISHED"
    assert_repository_sound(repo)


def test_threads_with_fluent_runs_each_keep_their_own_active_run(repo: Path) -> None:
    import mltrack

    mltrack.set_experiment("fluent-threads")
    start = threading.Barrier(3)
    made: dict[int, str] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait()
            with mltrack.start_run(run_name=f"f{worker}") as run:
                mltrack.log_param("worker", worker)
                for step in range(30):
                    mltrack.log_metric("x", float(worker), step=step)
            made[worker] = run.info.run_id
        except BaseException as error:  # reported in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    client = MltrackClient()
    for worker, run_id in made.items():
        run = client.get_run(run_id)
        assert run.data.params == {"worker": str(worker)}
        history = client.get_metric_history(run_id, "x")
        assert [m.value for m in history] == [float(worker)] * 30
    assert_repository_sound(repo)
