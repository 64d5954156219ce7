"""Reads at scale: a fresh clone's first ``runs list``, ``search_runs`` and ``fsck`` at N runs.

    python benchmarks/scale.py --runs 10000 [--mlflow-python /path/to/python] [--work DIR]

Builds (once, kept in ``--work``) an mltrack repository and an MLflow SQLite store holding the
same N runs (W4's records: 10 params, 10 metrics, 5 tags each, written through each tool's
client). mltrack's runs are written with ``auto_commit: false`` and committed by one
``git commit``: the files are exactly what mltrack writes, only the commit granularity differs,
which does not change what a clone reads. Then, each in a new process:

- mltrack: ``git clone`` into a new directory (no cache), ``mltrack runs list`` wall time (the
  first, cold, and a second, warm), ``mltrack fsck`` in another fresh clone (first and second), and
  ``search_runs`` timed inside a new process of a third fresh clone (after the import);
- MLflow: ``mlflow runs list`` wall time (first and second), and ``search_runs`` timed inside a
  new process (after the import), on the same SQLite file.

Each command also gets its CPU time (``_cpu_s``), which a loaded machine disturbs less than
wall time. The machine's 1-minute load average is printed with the figures. Only the standard library
is needed here; each tool runs in its own interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEARCH = "metrics.m0 > 0.5 and params.p0 = 'a'"

BUILD = r"""
import sys, time
sys.path.insert(0, {here!r})
from workloads import run_records
import {tool} as ml
from {tool}.entities import Metric, Param, RunTag
ml.set_tracking_uri({uri!r})
experiment_id = ml.set_experiment("bench").experiment_id
client = ml.{client}()
for record in run_records({n}):
    run_id = client.create_run(experiment_id).info.run_id
    ts = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, ts, 0) for k, v in record.metrics.items()],
        params=[Param(k, v) for k, v in record.params.items()],
        tags=[RunTag(k, v) for k, v in record.tags.items()],
    )
    client.set_terminated(run_id)
"""

SEARCH_IN_PROCESS = r"""
import json, time
import {tool} as ml
ml.set_tracking_uri({uri!r})
start = time.perf_counter()
experiment = ml.get_experiment_by_name("bench")
runs = ml.search_runs([experiment.experiment_id], {search!r}, output_format="list",
                      max_results=50000)
print(json.dumps({{"s": time.perf_counter() - start, "n": len(runs)}}))
"""


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def wall(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    run(cmd, cwd, env)
    return time.perf_counter() - start


def timed_command(
    figures: dict[str, float],
    name: str,
    cmd: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
) -> None:
    """``<name>_s``: wall time; ``<name>_cpu_s``: the process's user + system CPU time, which a
    loaded machine disturbs less."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures[f"{name}_s"] = wall(cmd, cwd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures[f"{name}_cpu_s"] = (after.ru_utime - before.ru_utime) + (
        after.ru_stime - before.ru_stime
    )


def build_mltrack(python: str, repo: Path, n: int) -> None:
    if (repo / ".git").is_dir():
        return
    repo.mkdir(parents=True)
    run(["git", "init", "-q"], repo)
    run(["git", "config", "user.name", "bench"], repo)
    run(["git", "config", "user.email", "bench@example.com"], repo)
    run([python, "-m", "mltrack", "init"], repo)
    settings = repo / ".mltrack" / "mltrack.yaml"
    settings.write_text(settings.read_text().replace("auto_commit: true", "auto_commit: false"))
    code = BUILD.format(here=str(HERE), tool="mltrack", uri=str(repo), client="MltrackClient", n=n)
    run([python, "-c", code], repo)
    settings.write_text(settings.read_text().replace("auto_commit: false", "auto_commit: true"))
    run(["git", "add", ".mltrack"], repo)
    run(["git", "commit", "-q", "-m", f"{n} runs"], repo)


def build_mlflow(python: str, store: Path, n: int) -> str:
    uri = f"sqlite:///{store / 'mlflow.db'}"
    if not (store / "mlflow.db").is_file():
        store.mkdir(parents=True, exist_ok=True)
        code = BUILD.format(here=str(HERE), tool="mlflow", uri=uri, client="MlflowClient", n=n)
        run([python, "-c", code], store, quiet_env())
    return uri


def quiet_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", **extra)


def searched(python: str, tool: str, uri: str, cwd: Path, n: int) -> float:
    code = SEARCH_IN_PROCESS.format(tool=tool, uri=uri, search=SEARCH)
    answer = json.loads(run([python, "-c", code], cwd, quiet_env()).strip().splitlines()[-1])
    if not 0 < answer["n"] < n:
        raise RuntimeError(f"{tool} search_runs found {answer['n']} runs")
    return float(answer["s"])


def measure_mltrack(python: str, repo: Path, scratch: Path, n: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    mltrack = [python, "-m", "mltrack"]

    def fresh_clone(name: str) -> Path:
        clone = scratch / name
        run(["git", "clone", "-q", str(repo), str(clone)], scratch)
        return clone

    clone = fresh_clone("list")
    listing = [*mltrack, "runs", "list", "-e", "bench", "--format", "csv"]
    timed_command(figures, "runs_list_first", listing, clone)
    timed_command(figures, "runs_list_second", listing, clone)
    timed_command(figures, "fsck_first", [*mltrack, "fsck"], fresh_clone("fsck"))
    timed_command(figures, "fsck_second", [*mltrack, "fsck"], scratch / "fsck")
    clone = fresh_clone("search")
    figures["search_runs_first_s"] = searched(python, "mltrack", str(clone), clone, n)
    return figures


def measure_mlflow(python: str, uri: str, scratch: Path, n: int) -> dict[str, float]:
    env = quiet_env(MLFLOW_TRACKING_URI=uri)
    experiment = (
        run(
            [
                python,
                "-c",
                "import mlflow; print(mlflow.get_experiment_by_name('bench').experiment_id)",
            ],
            scratch,
            env,
        )
        .strip()
        .splitlines()[-1]
    )
    listing = [python, "-m", "mlflow", "runs", "list", "--experiment-id", experiment]
    figures: dict[str, float] = {}
    timed_command(figures, "runs_list_first", listing, scratch, env)
    timed_command(figures, "runs_list_second", listing, scratch, env)
    figures["search_runs_first_s"] = searched(python, "mlflow", uri, scratch, n)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--work", type=Path, default=HERE / ".work" / "scale")
    parser.add_argument("--mltrack-python", default=sys.executable)
    parser.add_argument(
        "--mlflow-python", help="an interpreter with mlflow==3.17.2 (omit: mltrack only)"
    )
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    base = args.work / f"runs-{args.runs}"
    build_mltrack(args.mltrack_python, base / "mltrack", args.runs)
    result: dict[str, object] = {"runs": args.runs, "load_average_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="mltrack-scale-") as scratch:
        result["mltrack"] = measure_mltrack(
            args.mltrack_python, base / "mltrack", Path(scratch), args.runs
        )
    if args.mlflow_python:
        uri = build_mlflow(args.mlflow_python, base / "mlflow", args.runs)
        with tempfile.TemporaryDirectory(prefix="mlflow-scale-") as scratch:
            result["mlflow"] = measure_mlflow(args.mlflow_python, uri, Path(scratch), args.runs)
    result["load_average_end"] = os.getloadavg()[0]
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
