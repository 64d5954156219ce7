"""Team workload WT: `mltrack sync` and `mltrack status` against a local bare remote.

MLflow has no counterpart (its store is a server, not a clone), so this script
runs mltrack alone and prints its figures as JSON:

- ``sync_s``: `mltrack sync` of ``--runs`` new runs and ``--versions`` new versions
  (the remote holds only the initialised store);
- ``status_s``: `mltrack status` (median of 5) in a clone whose branch holds
  ``--status-runs`` runs, 100 of them not pushed (one commit each; the pushed bulk is
  committed at once, as benchmarks/scale.py builds its stores: `status` reads the unpushed
  range and the refs, never the old commits one by one);
- ``*_cpu_s``: the CPU time (user + system, git included) of the same commands, and the
  1-minute load average: on a shared machine the wall time is mostly waiting for a core.

mltrack's bytecode is compiled first and kept, as an installed package's is.

Only the `mltrack` commands are timed (each is a process, as a user runs it); logging
the runs and registering the versions come before the timer.

    PYTHONPATH=src python benchmarks/team.py --runs 100 --versions 5 --status-runs 10000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOG = """
import sys
import mltrack

count, offset = int(sys.argv[1]), int(sys.argv[2])
mltrack.set_experiment("bench")
for i in range(count):
    with mltrack.start_run(run_name=f"run-{offset + i}"):
        mltrack.log_param("i", offset + i)
        mltrack.log_metric("score", float(i))
"""

REGISTER = """
import sys
import numpy as np
from sklearn.dummy import DummyClassifier
import mltrack

for i in range(int(sys.argv[1])):
    with mltrack.start_run(run_name=f"model-{i}") as run:
        model = DummyClassifier().fit(np.arange(8.0).reshape(4, 2), [0, 1, 0, 1])
        mltrack.sklearn.log_model(model, name="model")
    mltrack.register_model(f"runs:/{run.info.run_id}/model", "bench-model")
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


CPU: list[float] = []  # CPU seconds (user + system) of each timed command, its git included


def mltrack(cwd: Path, *args: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mltrack", *args], cwd=cwd, check=True, capture_output=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def python(cwd: Path, code: str, *args: str) -> None:
    subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, check=True, capture_output=True)


def clone(root: Path, name: str) -> Path:
    path = root / name
    git(root, "clone", "-q", str(root / "remote.git"), str(path))
    git(path, "config", "user.name", name)
    git(path, "config", "user.email", f"{name}@example.com")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--status-runs", type=int, default=10_000)
    options = parser.parse_args()
    os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    # As a user's installed mltrack: bytecode compiled once and kept (benchmarks/run.py does
    # the same); otherwise every timed process would compile mltrack's sources first.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    package = importlib.util.find_spec("mltrack")
    assert package is not None and package.origin is not None, "mltrack is not importable"
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", os.path.dirname(package.origin)],
        check=True,
        capture_output=True,
    )
    with tempfile.TemporaryDirectory(prefix="mltrack-team-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        git(root, "init", "-q", "--bare", "-b", "main", "remote.git")
        alice = clone(root, "alice")
        git(alice, "checkout", "-q", "-b", "main")
        mltrack(alice, "init")
        mltrack(alice, "sync")
        python(alice, LOG, str(options.runs), "0")
        python(alice, REGISTER, str(options.versions))
        sync_s = mltrack(alice, "sync")
        sync_cpu_s = CPU[-1]

        # The pushed bulk in one commit (as benchmarks/scale.py builds its stores): `status`
        # reads the unpushed range and the refs, never old commits one by one.
        settings = alice / ".mltrack" / "mltrack.yaml"
        settings.write_text(settings.read_text().replace("auto_commit: true", "auto_commit: false"))
        python(alice, LOG, str(max(options.status_runs - options.runs - 100, 0)), "100000")
        settings.write_text(settings.read_text().replace("auto_commit: false", "auto_commit: true"))
        git(alice, "add", ".mltrack")
        git(alice, "commit", "-q", "-m", "bulk runs")
        mltrack(alice, "sync")
        python(alice, LOG, "100", "900000")  # 100 runs not pushed, one commit each
        mltrack(alice, "status")  # warm the OS caches
        CPU.clear()
        status_s = statistics.median(mltrack(alice, "status") for _ in range(5))
        status_cpu_s = statistics.median(CPU)
        # Printed before the clone is removed (a detached `git gc --auto` may still write there).
        print(
            json.dumps(
                {
                    "workload": "WT",
                    "runs_synced": options.runs,
                    "versions_synced": options.versions,
                    "sync_s": round(sync_s, 3),
                    "sync_cpu_s": round(sync_cpu_s, 3),
                    "status_runs": options.status_runs,
                    "status_s": round(status_s, 3),
                    "status_cpu_s": round(status_cpu_s, 3),
                    "load_1min": round(os.getloadavg()[0], 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
