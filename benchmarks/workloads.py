"""The benchmark workloads W1–W9 (with W3L and W8I), WS, WSA, WR and WI, written once against MLflow's API.

Each run happens inside one tool's interpreter, in a fresh directory:

    python benchmarks/workloads.py --tool mlflow|mltrack --workload W1 --dir TMP [--scale small|full]

``ml`` is the tool's module, ``mlflow`` or ``mltrack``: the workload code is the same for both,
and only :func:`open_store` knows how each tool's store is made. The run prints one JSON object
on stdout, ``{"figures": {name: value}, "notes": [...]}`` or ``{"error": "<one line>"}``;
everything else the tool prints goes to stderr. A figure's name ends in its unit: ``_per_s``
(higher is better), ``_s``, ``_ms`` or ``_bytes`` (lower is better). A figure whose measurement
failed on its own holds the string ``"error: ..."`` instead of a number.

Only the workload is timed (``time.perf_counter``): imports, store creation, data generation and
a warm-up such as creating the experiment happen before the timer starts. Results are checked
after the timer (point counts, search answers, prediction lengths), so a fast wrong answer is an
error, not a figure.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib
import json
import math
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

EXPERIMENT = "bench"
BATCH = 1_000
SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"
SEARCH_ORDER = "metrics.m1 DESC"
SEARCH_MAX = 100
IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ONE_ROW = [5.1, 3.5, 1.4, 0.2]
SERVER_START_TIMEOUT = 180.0
WS_WORKERS = (1, 4)  # the worker counts each tracking server runs with
WS_CLIENTS = 8  # concurrent client processes


@dataclass(frozen=True)
class Context:
    """What a workload is given: the tool, its scratch directory, the scale."""

    tool: str
    dir: Path
    scale: str
    server_python: str | None = None  # WS: mltrack's interpreter (the client runs in MLflow's)


@dataclass
class Report:
    """What a workload returns: figures by name (unit as suffix) and notes for the reader."""

    figures: dict[str, float | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Store:
    """An open tracking store of one tool, with its active experiment."""

    tool: str
    dir: Path
    ml: ModuleType
    client: Any
    experiment_id: str
    env: dict[str, str]
    log_model_options: dict[str, Any]

    def submodule(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.tool}.{name}")

    def cli(self, *args: str) -> list[str]:
        return [*cli_command(self.tool), *args]


@dataclass(frozen=True)
class RunRecord:
    """The params, metrics and tags of one synthetic run (W3, W4)."""

    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


# --- helpers -------------------------------------------------------------------------------------


def cli_command(tool: str) -> list[str]:
    """The tool's console script next to this interpreter, else ``python -m <tool>``."""
    script = Path(sys.executable).parent / tool
    return [str(script)] if script.exists() else [sys.executable, "-m", tool]


def run_checked(cmd: list[str], cwd: Path) -> float:
    """Run a command to completion; return its wall time, or raise with its last stderr line."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["(no output)"]
        shown = " ".join([Path(cmd[0]).name, *cmd[1:]])
        raise RuntimeError(f"`{shown}` exited {proc.returncode}: {lines[-1]}")
    return elapsed


def failing_alone(measure: Callable[[], float]) -> float | str:
    """A figure whose command may fail without failing the workload: ``"error: ..."``."""
    try:
        return measure()
    except RuntimeError as exc:
        return f"error: {exc}"


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def median_time(fn: Callable[[], Any], repeats: int = 5) -> float:
    return statistics.median(timed(fn)[0] for _ in range(repeats))


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def now_ms() -> int:
    return int(time.time() * 1000)


def chunks(items: list[Any], size: int = BATCH) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --- stores --------------------------------------------------------------------------------------


def open_store(ctx: Context) -> Store:
    """Create the tool's store in ``ctx.dir`` and make experiment ``bench`` active."""
    ml = importlib.import_module(ctx.tool)
    env = dict(os.environ)
    if ctx.tool == "mlflow":
        uri = f"sqlite:///{ctx.dir / 'mlflow.db'}"
        ml.set_tracking_uri(uri)
        artifacts = (ctx.dir / "mlruns").as_uri()
        experiment_id = ml.create_experiment(EXPERIMENT, artifact_location=artifacts)
        ml.set_experiment(experiment_id=experiment_id)
        client = ml.MlflowClient()
        env["MLFLOW_TRACKING_URI"] = uri
        # MLflow 3.17 saves sklearn models with skops by default; mltrack with cloudpickle.
        # W7 compares the same serialization on both sides: MLflow's cloudpickle option.
        log_model_options = {"serialization_format": "cloudpickle"}
    else:
        run_checked(["git", "init", "-q"], ctx.dir)
        run_checked(["git", "config", "user.name", "bench"], ctx.dir)
        run_checked(["git", "config", "user.email", "bench@example.com"], ctx.dir)
        run_checked([*cli_command(ctx.tool), "init"], ctx.dir)
        ml.set_tracking_uri(str(ctx.dir))
        experiment_id = ml.set_experiment(EXPERIMENT).experiment_id
        client = ml.MltrackClient()
        log_model_options = {}
    return Store(ctx.tool, ctx.dir, ml, client, experiment_id, env, log_model_options)


def git_object_bytes(repo: Path) -> int:
    """Bytes of git's object store after ``git gc`` (``size`` + ``size-pack``, in KiB)."""
    deadline = time.monotonic() + 300
    while True:  # a `git gc --auto` that mltrack (like `git commit`) started may still be running
        try:
            run_checked(["git", "gc", "-q"], repo)
            break
        except RuntimeError as error:
            if "already running" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    out = subprocess.run(
        ["git", "count-objects", "-v"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    fields = dict(line.split(": ", 1) for line in out.splitlines())
    return (int(fields["size"]) + int(fields["size-pack"])) * 1024


# --- W1, W2, W5: metrics -------------------------------------------------------------------------


def w1_log_metric(ctx: Context) -> Report:
    """5,000 ``log_metric`` calls in one run, then ``end_run`` (the final flush/commit)."""
    n = 5_000
    store = open_store(ctx)
    run_id = store.ml.start_run().info.run_id
    start = time.perf_counter()
    for i in range(n):
        store.ml.log_metric("loss", 1.0 / (i + 1), step=i)
    store.ml.end_run()
    elapsed = time.perf_counter() - start
    history = store.client.get_metric_history(run_id, "loss")
    expect(len(history) == n, f"run has {len(history)} points of 'loss' after logging {n}")
    return Report({"log_metric_calls_per_s": n / elapsed})


def metric_points(store: Store, keys: list[str], steps: int) -> list[Any]:
    """``Metric`` entities, step by step, each step holding one point of every key."""
    metric = store.submodule("entities").Metric
    rng = random.Random(0)
    ts = now_ms()
    return [metric(key, rng.random(), ts, step) for step in range(steps) for key in keys]


def w2_log_batch(ctx: Context) -> Report:
    """100,000 points (10 keys × 10,000 steps) through ``log_batch`` in chunks of 1,000."""
    store = open_store(ctx)
    keys = [f"k{i}" for i in range(10)]
    batches = chunks(metric_points(store, keys, 10_000))
    run_id = store.client.create_run(store.experiment_id).info.run_id
    start = time.perf_counter()
    for batch in batches:
        store.client.log_batch(run_id, metrics=batch)
    store.client.set_terminated(run_id)
    elapsed = time.perf_counter() - start
    history = store.client.get_metric_history(run_id, "k9")
    expect(len(history) == 10_000, f"key 'k9' has {len(history)} points, expected 10,000")
    return Report({"log_batch_points_per_s": 100_000 / elapsed})


def w5_metric_history(ctx: Context) -> Report:
    """Read back one key of 100,000 points with ``get_metric_history``."""
    n = 100_000
    store = open_store(ctx)
    run_id = store.client.create_run(store.experiment_id).info.run_id
    for batch in chunks(metric_points(store, ["loss"], n)):
        store.client.log_batch(run_id, metrics=batch)
    store.client.set_terminated(run_id)

    def read() -> list[Any]:
        return list(store.client.get_metric_history(run_id, "loss"))

    # The first read in a new process, as a notebook or a script reading a finished run does
    # (the writing process has everything warm: connections, caches, imports).
    cold = first_read_in_new_process(store, run_id, n)
    first, history = timed(read)
    expect(len(history) == n, f"get_metric_history returned {len(history)} points, expected {n}")
    return Report(
        {
            "get_metric_history_new_process_s": cold,
            "get_metric_history_first_s": first,
            "get_metric_history_warm_s": median_time(read),
        },
        ["W5: new_process is the first call in a new process, timed there after the import"],
    )


def first_read_in_new_process(store: Store, run_id: str, n: int) -> float:
    uri = f"sqlite:///{store.dir / 'mlflow.db'}" if store.tool == "mlflow" else str(store.dir)
    code = (
        f"import json, time, {store.tool} as ml\n"
        f"ml.set_tracking_uri({uri!r})\n"
        "start = time.perf_counter()\n"
        f"points = ml.tracking.MlflowClient().get_metric_history({run_id!r}, 'loss')\n"
        "print(json.dumps([time.perf_counter() - start, len(points)]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=store.dir, capture_output=True, text=True, check=True
    )
    seconds, count = json.loads(proc.stdout.strip().splitlines()[-1])
    expect(count == n, f"a new process read {count} points, expected {n}")
    return float(seconds)


# --- W3, W4: many runs ---------------------------------------------------------------------------


def run_records(n: int) -> list[RunRecord]:
    """Runs 0..n-1: ``p0`` cycles over a, b, c; metrics are uniform in [0, 1), seeded."""
    rng = random.Random(0)
    return [
        RunRecord(
            params={"p0": "abc"[i % 3], **{f"p{j}": f"value-{j}-{i % 7}" for j in range(1, 10)}},
            metrics={f"m{j}": rng.random() for j in range(10)},
            tags={f"t{j}": f"tag-{j}-{i % 5}" for j in range(5)},
        )
        for i in range(n)
    ]


def log_runs_fluent(store: Store, records: list[RunRecord]) -> None:
    """W3's loop: one fluent run per record."""
    log_runs_fluent_ml(store.ml, records)


def log_runs_fluent_ml(ml: ModuleType, records: list[RunRecord]) -> None:
    for record in records:
        ml.start_run()
        ml.log_params(record.params)
        ml.log_metrics(record.metrics)
        ml.set_tags(record.tags)
        ml.end_run()


def log_runs_client(store: Store, records: list[RunRecord]) -> None:
    """W4's faster population path: ``create_run``, one ``log_batch``, ``set_terminated``."""
    entities = store.submodule("entities")
    client = store.client
    for record in records:
        run_id = client.create_run(store.experiment_id).info.run_id
        ts = now_ms()
        client.log_batch(
            run_id,
            metrics=[entities.Metric(k, v, ts, 0) for k, v in record.metrics.items()],
            params=[entities.Param(k, v) for k, v in record.params.items()],
            tags=[entities.RunTag(k, v) for k, v in record.tags.items()],
        )
        client.set_terminated(run_id)


def w3_many_runs(ctx: Context) -> Report:
    """1,000 fluent runs, each with 10 params, 10 metrics and 5 tags, ended normally."""
    store = open_store(ctx)
    records = run_records(1_000)
    before = git_object_bytes(store.dir) if store.tool == "mltrack" else 0
    elapsed, _ = timed(log_runs_fluent, store, records)
    report = Report({"runs_per_s": len(records) / elapsed})
    if store.tool == "mltrack":
        growth = git_object_bytes(store.dir) - before
        report.figures["git_growth_per_run_bytes"] = growth / len(records)
    return report


def tree_bytes(directory: Path) -> int:
    """Bytes of every file under ``directory`` (exact, unlike ``git count-objects``' KiB)."""
    total = 0
    for parent, _, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(parent, name)).st_size
    return total


def cpu_seconds() -> float:
    """User + system CPU time of this process and its ended children (git)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def w3_at_scale(ctx: Context) -> Report:
    """W3's fluent runs up to 10,000 (1,000 at scale small) in one process and one experiment.

    Figures: the rate of the first and of the last 100 runs; mltrack: what ``.git`` and its
    objects grew by per run over the last 100 runs with ``gc.auto=0`` (nothing repacks them),
    then ``.git/objects`` per run after one ``git gc``. mltrack runs in a clone set up as
    docs/git.md advises for many runs, ``mltrack init --split-index``.
    """
    n = 10_000 if ctx.scale == "full" else 1_000
    window = 100
    store = open_store(ctx)
    records = run_records(n)
    mltrack = store.tool == "mltrack"
    if mltrack:
        run_checked(["git", "config", "gc.auto", "0"], store.dir)
        run_checked([*cli_command(ctx.tool), "init", "--split-index"], store.dir)
    git = store.dir / ".git"
    report = Report()
    cpu = cpu_seconds()
    first, _ = timed(log_runs_fluent, store, records[:window])
    first_cpu = cpu_seconds() - cpu
    log_runs_fluent(store, records[window : n - window])
    sizes = (tree_bytes(git), tree_bytes(git / "objects")) if mltrack else (0, 0)
    cpu = cpu_seconds()
    last, _ = timed(log_runs_fluent, store, records[n - window :])
    last_cpu = cpu_seconds() - cpu
    report.figures["first_100_runs_per_s"] = window / first
    report.figures[f"last_100_of_{n}_runs_per_s"] = window / last
    report.figures["last_over_first_ratio"] = first / last
    # CPU time (this process and its git children) moves less with the machine's load.
    report.figures["first_100_cpu_per_run_ms"] = first_cpu / window * 1000
    report.figures[f"last_100_of_{n}_cpu_per_run_ms"] = last_cpu / window * 1000
    if mltrack:
        report.figures[f"git_growth_per_run_at_{n}_bytes"] = (tree_bytes(git) - sizes[0]) / window
        report.figures[f"git_objects_growth_per_run_at_{n}_bytes"] = (
            tree_bytes(git / "objects") - sizes[1]
        ) / window
        run_checked(["git", "gc", "-q"], store.dir)
        report.figures["git_objects_per_run_after_gc_bytes"] = tree_bytes(git / "objects") / n
    found = store.client.search_runs([store.experiment_id], max_results=50_000)
    expect(len(found) == n, f"found {len(found)} runs, not {n}")
    report.notes.append(
        f"{n} runs in one process; rates of runs 1-{window} and {n - window + 1}-{n}; "
        "mltrack with gc.auto=0 and `mltrack init --split-index`; growth over the last "
        f"{window} runs (all of .git, and .git/objects), then objects after `git gc`"
    )
    return report


def check_search(result: Any, records: list[RunRecord]) -> None:
    """The search must return the top ``m1`` of the matching runs, in order."""
    matching = [r for r in records if r.params["p0"] == "a" and r.metrics["m0"] > 0.5]
    expected = sorted((r.metrics["m1"] for r in matching), reverse=True)[:SEARCH_MAX]
    got = [float(v) for v in result["metrics.m1"]]
    expect(len(got) == len(expected), f"search returned {len(got)} runs, expected {len(expected)}")
    same = all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(got, expected, strict=True))
    expect(same, "search returned the wrong runs or the wrong order for metrics.m1 DESC")


def measure_search(store: Store, records: list[RunRecord]) -> dict[str, float | str]:
    def search() -> Any:
        return store.ml.search_runs(
            experiment_ids=[store.experiment_id],
            filter_string=SEARCH_FILTER,
            order_by=[SEARCH_ORDER],
            max_results=SEARCH_MAX,
        )

    label = f"{len(records)}_runs"
    first, result = timed(search)
    check_search(result, records)
    figures: dict[str, float | str] = {
        f"search_{label}_first_s": first,
        f"search_{label}_warm_s": median_time(search),
    }
    if store.tool == "mltrack":
        commands = {"runs_list": ["runs", "list", "--experiment", EXPERIMENT], "log": ["log"]}
        for name, args in commands.items():
            figures[f"cli_{name}_{label}_s"] = failing_alone(
                partial(run_checked, store.cli(*args), store.dir)
            )
    return figures


def w4_search(ctx: Context) -> Report:
    """Search after W3's 1,000 runs; then populate to 10,000 runs (scale full) and again."""
    store = open_store(ctx)
    records = run_records(10_000 if ctx.scale == "full" else 1_000)
    log_runs_fluent(store, records[:1_000])
    report = Report(measure_search(store, records[:1_000]))
    if ctx.scale == "full":
        log_runs_client(store, records[1_000:])
        report.figures.update(measure_search(store, records))
    else:
        report.notes.append("scale small: stopped at 1,000 runs; --scale full goes on to 10,000")
    return report


# --- W6: artifacts -------------------------------------------------------------------------------


def w6_artifacts(ctx: Context) -> Report:
    """``log_artifact`` of a 10 MB file; ``log_artifacts`` of 100 × 10 KB files; each ``end_run``."""
    store = open_store(ctx)
    inputs = ctx.dir / "inputs"
    files = inputs / "files"
    files.mkdir(parents=True)
    big = inputs / "weights.bin"
    big.write_bytes(os.urandom(10 * 2**20))
    for i in range(100):
        (files / f"part-{i:03d}.bin").write_bytes(os.urandom(10 * 2**10))

    ml = store.ml
    report = Report()
    ml.start_run()
    report.figures["log_artifact_10mb_s"] = timed(ml.log_artifact, str(big))[0]
    report.figures["end_run_after_log_artifact_s"] = timed(ml.end_run)[0]
    ml.start_run()
    report.figures["log_artifacts_100_files_s"] = timed(ml.log_artifacts, str(files), "files")[0]
    report.figures["end_run_after_log_artifacts_s"] = timed(ml.end_run)[0]
    report.notes.append("end_run_after_*: mltrack commits the run's files to git in end_run")
    return report


# --- W7, W8: models ------------------------------------------------------------------------------


def iris_frame() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    return iris.data.set_axis(IRIS_COLUMNS, axis=1), iris.target


def train_iris_model() -> tuple[Any, Any]:
    from sklearn.ensemble import RandomForestClassifier

    x, y = iris_frame()
    return RandomForestClassifier(n_estimators=50, random_state=0).fit(x, y), x


def log_iris_model(store: Store) -> tuple[str, dict[str, float | str]]:
    """Train and log the iris model in a run: its ``runs:/`` URI and the timings."""
    model, x = train_iris_model()
    sklearn_flavor = store.submodule("sklearn")
    run_id = store.ml.start_run().info.run_id
    seconds, _ = timed(
        sklearn_flavor.log_model,
        model,
        name="model",
        input_example=x.head(5),
        **store.log_model_options,
    )
    end_seconds, _ = timed(store.ml.end_run)
    figures: dict[str, float | str] = {
        "log_model_s": seconds,
        "end_run_after_log_model_s": end_seconds,
    }
    return f"runs:/{run_id}/model", figures


def w7_model(ctx: Context) -> Report:
    """``sklearn.log_model``, ``pyfunc.load_model``, predict 1 row and 10,000 rows."""
    store = open_store(ctx)
    x, _ = iris_frame()
    many = x.sample(10_000, replace=True, random_state=0).reset_index(drop=True)
    uri, figures = log_iris_model(store)
    report = Report(figures)
    report.figures["load_model_s"], model = timed(store.submodule("pyfunc").load_model, uri)
    report.figures["predict_1_row_first_s"], _ = timed(model.predict, x.head(1))
    report.figures["predict_1_row_warm_s"] = median_time(lambda: model.predict(x.head(1)))
    report.figures["predict_10000_rows_s"] = median_time(lambda: model.predict(many))
    expect(len(model.predict(many)) == len(many), "predict returned the wrong number of rows")
    report.notes.append("predict *_warm_s and 10000_rows: median of 5 calls")
    return report


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines()
    return lines[-1] if lines else "(no output)"


def wait_for_ping(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.perf_counter() + SERVER_START_TIMEOUT
    while not ping(port):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}: {last_line(log)}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"server did not answer /ping in {SERVER_START_TIMEOUT:.0f} s")
        time.sleep(0.02)


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL what is left after 10 s."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
    proc.wait()


def dataframe_split(rows: list[list[float]]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": IRIS_COLUMNS, "data": rows}}).encode()


def post(conn: http.client.HTTPConnection, body: bytes) -> tuple[float, bytes]:
    """One ``POST /invocations`` on a persistent connection: (seconds, response body)."""
    start = time.perf_counter()
    conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"POST /invocations returned {response.status}: {payload[:200]!r}")
    return elapsed, payload


def post_once(port: int, body: bytes) -> tuple[float, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        return post(conn, body)
    finally:
        conn.close()


def post_many(port: int, body: bytes, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        return [post(conn, body)[0] for _ in range(n)]
    finally:
        conn.close()


def latency_figures(prefix: str, latencies: list[float], wall: float) -> dict[str, float | str]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        f"{prefix}_req_per_s": len(latencies) / wall,
        f"{prefix}_p50_ms": cuts[49] * 1000,
        f"{prefix}_p99_ms": cuts[98] * 1000,
    }


def threaded_requests(port: int, body: bytes, threads: int, per_thread: int) -> dict[str, Any]:
    """``threads`` clients, each with its own connection, started together."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def client(i: int) -> None:
        barrier.wait()
        try:
            latencies[i] = post_many(port, body, per_thread)
        except Exception as exc:
            errors.append(exc)

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - start
    if errors:
        raise errors[0]
    return latency_figures(f"threads{threads}", [t for lat in latencies for t in lat], wall)


def serve_command(store: Store, uri: str, port: int) -> list[str]:
    args = ["models", "serve", "-m", uri, "-p", str(port), "-h", "127.0.0.1"]
    if store.tool == "mlflow":
        args += ["--env-manager", "local"]
    return store.cli(*args)


def w8_serving(ctx: Context) -> Report:
    """The scoring server: start to ``/ping``; sequential, 8-thread and 10,000-row requests."""
    store = open_store(ctx)
    uri, _ = log_iris_model(store)
    x, _ = iris_frame()
    big_rows = x.sample(10_000, replace=True, random_state=0).to_numpy().tolist()
    one_row, big_body = dataframe_split([ONE_ROW]), dataframe_split(big_rows)
    port = free_port()
    log = ctx.dir / "server.log"
    report = Report()
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            serve_command(store, uri, port),
            cwd=store.dir,
            env=store.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_ping(proc, port, log)
        report.figures["start_to_first_ping_s"] = time.perf_counter() - start
        _, payload = post_once(port, one_row)
        expect(b"predictions" in payload, f"no predictions in the response: {payload[:200]!r}")
        wall, latencies = timed(post_many, port, one_row, 500)
        report.figures.update(latency_figures("sequential", latencies, wall))
        report.figures.update(threaded_requests(port, one_row, threads=8, per_thread=250))
        report.figures["rows_10000_request_s"] = statistics.median(
            post_once(port, big_body)[0] for _ in range(3)
        )
    finally:
        stop_process_group(proc)
    report.notes.append(
        "sequential: 500 requests, one connection; threads8: 8 × 250 requests, "
        "a connection each; rows_10000: median of 3; one untimed warm-up request"
    )
    return report


def log_identity_model(store: Store) -> str:
    """A trivial pyfunc model that returns its input, logged in a run: its ``runs:/`` URI."""
    pyfunc = store.submodule("pyfunc")

    def predict(self: Any, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input

    # Made here from the tool's own base class; cloudpickle saves it by value.
    identity = type("Identity", (pyfunc.PythonModel,), {"predict": predict})
    with store.ml.start_run() as run:
        pyfunc.log_model(name="model", python_model=identity())
    return f"runs:/{run.info.run_id}/model"


def w8_identity_serving(ctx: Context) -> Report:
    """Per-request overhead of the scoring server: 1,000 sequential 1-row requests to an
    identity pyfunc model (the model costs nothing, so the server's own path is timed)."""
    store = open_store(ctx)
    uri = log_identity_model(store)
    one_row = dataframe_split([ONE_ROW])
    port = free_port()
    log = ctx.dir / "server.log"
    report = Report()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            serve_command(store, uri, port),
            cwd=store.dir,
            env=store.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_ping(proc, port, log)
        for _ in range(20):  # warm-up, untimed
            _, payload = post_once(port, one_row)
        answer = json.loads(payload)
        expect(
            answer == {"predictions": [dict(zip(IRIS_COLUMNS, ONE_ROW, strict=True))]},
            f"the identity model answered {payload[:200]!r}",
        )
        wall, latencies = timed(post_many, port, one_row, 1_000)
        report.figures.update(latency_figures("identity_sequential", latencies, wall))
    finally:
        stop_process_group(proc)
    report.notes.append(
        "a pyfunc model returning its input; 1,000 sequential 1-row dataframe_split "
        "requests on one connection after 20 untimed ones"
    )
    return report


# --- WR: registry --------------------------------------------------------------------------------


def wr_registry(ctx: Context) -> Report:
    """Register one logged model as versions 1..N; load by version and alias; list versions."""
    n = 1_000 if ctx.scale == "full" else 100
    name = "bench-model"
    store = open_store(ctx)
    uri, _ = log_iris_model(store)
    pyfunc = store.submodule("pyfunc")
    latencies = []
    for _ in range(n):
        seconds, version = timed(store.ml.register_model, uri, name)
        latencies.append(seconds)
    expect(int(version.version) == n, f"the last registration made version {version.version}")
    store.client.set_registered_model_alias(name, "champion", str(n))
    report = Report(
        {
            "register_first_s": latencies[0],
            "register_median_s": statistics.median(latencies),
            f"register_{n}_versions_s": sum(latencies),
        }
    )
    report.figures["load_version_s"], model = timed(pyfunc.load_model, f"models:/{name}/{n}")
    report.figures["load_alias_s"], _ = timed(pyfunc.load_model, f"models:/{name}@champion")
    x, _ = iris_frame()
    expect(len(model.predict(x.head(3))) == 3, "the registered model did not predict")

    def search() -> list[Any]:
        return list(store.client.search_model_versions(f"name = '{name}'", max_results=n))

    seconds, found = timed(search)
    expect(len(found) == n, f"search_model_versions found {len(found)} versions, expected {n}")
    report.figures[f"search_model_versions_{n}_s"] = seconds
    if store.tool == "mltrack":
        history = store.cli("models", "history", name, "--format", "json")
        report.figures[f"cli_models_history_{n}_versions_s"] = failing_alone(
            partial(median_wall_time, history, store.dir, 3)
        )
    report.notes.append(
        f"{n} register_model calls of one logged model; mltrack only: cli history, median of 3"
    )
    return report


# --- WI: importing an MLflow store ----------------------------------------------------------------


def build_mlflow_source(directory: Path, runs: int, points: int) -> str:
    """An MLflow SQLite store of ``runs`` finished runs, ``points`` points of one metric each,
    10 params and 5 tags, made by MLflow's own client; returns its URI."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    uri = f"sqlite:///{directory / 'source.db'}"
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment(
        EXPERIMENT, artifact_location=(directory / "source-artifacts").as_uri()
    )
    start = now_ms()
    for record in run_records(runs):
        run_id = client.create_run(experiment_id, start_time=start).info.run_id
        history = [Metric("loss", 1 / (s + 1), start + s, s) for s in range(points)]
        client.log_batch(
            run_id,
            metrics=history,
            params=[Param(k, v) for k, v in record.params.items()],
            tags=[RunTag(k, v) for k, v in record.tags.items()],
        )
        client.set_terminated(run_id, end_time=start + points)
    return uri


def wi_import(ctx: Context) -> Report:
    """MLflow: build the source store (a reference). mltrack: ``mltrack import mlflow`` of it."""
    runs = 1_000 if ctx.scale == "full" else 100
    points = 100
    if ctx.tool == "mlflow":
        seconds, _ = timed(build_mlflow_source, ctx.dir, runs, points)
        return Report(
            {f"mlflow_create_source_{runs}_runs_s": seconds},
            [f"MLflow's own time to log the {runs} runs x {points} points it is imported from"],
        )
    source = build_mlflow_source(ctx.dir, runs, points)  # untimed: needs mlflow here too
    figures: dict[str, float | str] = {}
    for label, extra in (("", []), ("_100_per_commit", ["--runs-per-commit", "100"])):
        repo = ctx.dir / f"repo{label}"
        repo.mkdir()
        store = open_store(Context(ctx.tool, repo, ctx.scale))
        seconds = run_checked(store.cli("import", "mlflow", source, *extra), repo)
        client = store.ml.MltrackClient(str(repo))
        imported = client.search_runs(
            [client.get_experiment_by_name(EXPERIMENT).experiment_id], max_results=50_000
        )
        expect(len(imported) == runs, f"{len(imported)} runs imported, expected {runs}")
        history = client.get_metric_history(imported[0].info.run_id, "loss")
        expect(len(history) == points, f"{len(history)} points imported, expected {points}")
        figures[f"import_{runs}_runs{label}_s"] = seconds
    return Report(
        figures,
        [
            f"`mltrack import mlflow sqlite:///...` of {runs} runs x {points} points, 10 params, "
            "5 tags (one commit per run; and with --runs-per-commit 100), the whole command"
        ],
    )


# --- WS: the tracking server, driven by the MLflow client ------------------------------------------


def get_ok(port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def process_group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of one process group."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
        if int(fields[2]) == pgid:  # fields[0] is the state: pgrp, utime, stime are 3rd, 12th, 13th
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pgid: int, timeout: float = 120.0) -> float:
    """Wait until a process group uses under 2% of a core over two 0.5 s windows in a row.

    A server's timing starts only then: ``mlflow server`` answers ``/health`` from its first
    worker while it is still starting the others. Returns the seconds waited.
    """
    window, limit, quiet_needed = 0.5, 0.02, 2
    start = time.perf_counter()
    quiet = 0
    used = process_group_cpu_s(pgid)
    while quiet < quiet_needed:
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"server's process group still busy after {timeout:.0f} s")
        time.sleep(window)
        now = process_group_cpu_s(pgid)
        quiet = quiet + 1 if now - used < limit * window else 0
        used = now
    return time.perf_counter() - start


def tracking_server_command(ctx: Context, port: int, workers: int) -> list[str]:
    """``mlflow server`` on SQLite, or ``mltrack server`` on a fresh git repository."""
    common = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    scratch = ctx.dir / f"workers{workers}"
    scratch.mkdir()
    if ctx.tool == "mlflow":
        return [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{scratch / 'mlflow.db'}",
            "--default-artifact-root", str(scratch / "mlartifacts"), *common,
        ]  # fmt: skip
    server_python = ctx.server_python or sys.executable
    repo = scratch / "repo"
    repo.mkdir()
    run_checked(["git", "init", "-q"], repo)
    run_checked(["git", "config", "user.name", "bench"], repo)
    run_checked(["git", "config", "user.email", "bench@example.com"], repo)
    run_checked([server_python, "-m", "mltrack", "init"], repo)
    return [server_python, "-m", "mltrack", "server", "--backend-store-uri", str(repo), *common]


def ws_client(
    port: int, job: str, experiment: str, count: int, ready: Any, go: Any, done: Any
) -> None:
    """One of WS's concurrent clients, in its own process: W1 (``count`` calls) or W3 (runs)."""
    import mlflow

    try:
        # Inherited from the parent's set_experiment, and naming an experiment of another server.
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
        mlflow.set_tracking_uri(f"http://127.0.0.1:{port}")
        mlflow.set_experiment(experiment)
        records = run_records(count) if job == "W3" else []
        run_id = mlflow.start_run().info.run_id if job == "W1" else ""
        ready.put(None)
        go.wait()
        if job == "W1":
            for i in range(count):
                mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
            mlflow.end_run()
        else:
            log_runs_fluent_ml(mlflow, records)
        done.put(("ok", run_id))
    except Exception as exc:
        done.put(("error", one_line(exc)))


def concurrent_clients(port: int, job: str, experiment: str, total: int, pgid: int) -> float:
    """``total`` W1 calls or W3 runs shared by WS_CLIENTS client processes; returns their rate.

    The clients import MLflow and set up before the timer, which starts once the server is idle
    again and runs until the last client is done.
    """
    import multiprocessing

    import mlflow

    mp = multiprocessing.get_context("spawn")
    ready, done, go = mp.Queue(), mp.Queue(), mp.Event()
    share = total // WS_CLIENTS
    args = (port, job, experiment, share, ready, go, done)
    procs = [mp.Process(target=ws_client, args=args) for _ in range(WS_CLIENTS)]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=SERVER_START_TIMEOUT)
        wait_until_idle(pgid)
        start = time.perf_counter()
        go.set()
        outcomes = [done.get(timeout=SERVER_START_TIMEOUT * 10) for _ in procs]
        elapsed = time.perf_counter() - start
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    errors = [detail for status, detail in outcomes if status != "ok"]
    expect(not errors, f"a client failed: {errors[:1]}")
    client = mlflow.MlflowClient()
    if job == "W1":
        for _, run_id in outcomes:
            got = len(client.get_metric_history(run_id, "loss"))
            expect(got == share, f"a W1 client's run has {got} points, expected {share}")
    else:
        found = mlflow.search_runs(experiment_names=[experiment], max_results=total + 10)
        expect(len(found) == share * WS_CLIENTS, f"W3 found {len(found)} runs")
    return share * WS_CLIENTS / elapsed


def sequential_client(ctx: Context, port: int, pgid: int, prefix: str) -> dict[str, float]:
    """W1, W2 and W3 from one client, each timed once the server's process group is idle."""
    import mlflow
    from mlflow.entities import Metric

    figures: dict[str, float] = {}
    client = mlflow.MlflowClient()
    mlflow.set_experiment(EXPERIMENT)
    calls = 5_000 if ctx.scale == "full" else 500
    run = mlflow.start_run()
    wait_until_idle(pgid)
    elapsed, _ = timed(
        lambda: [mlflow.log_metric("loss", 1.0 / (i + 1), step=i) for i in range(calls)]
    )
    end, _ = timed(mlflow.end_run)
    figures[f"{prefix}_log_metric_calls_per_s"] = calls / (elapsed + end)
    expect(len(client.get_metric_history(run.info.run_id, "loss")) == calls, "points lost")
    points = 100_000 if ctx.scale == "full" else 20_000
    keys = [f"k{i}" for i in range(10)]
    ts = now_ms()
    rng = random.Random(0)
    metrics = [Metric(k, rng.random(), ts, step) for step in range(points // 10) for k in keys]
    run_id = client.create_run(mlflow.get_experiment_by_name(EXPERIMENT).experiment_id).info.run_id
    wait_until_idle(pgid)
    start_batch = time.perf_counter()
    for batch in chunks(metrics):
        client.log_batch(run_id, metrics=batch)
    client.set_terminated(run_id)
    figures[f"{prefix}_log_batch_points_per_s"] = points / (time.perf_counter() - start_batch)
    records = run_records(1_000 if ctx.scale == "full" else 100)
    wait_until_idle(pgid)
    elapsed, _ = timed(log_runs_fluent_ml, mlflow, records)
    figures[f"{prefix}_runs_per_s"] = len(records) / elapsed
    return figures


def ws_tracking_server(ctx: Context) -> Report:
    """Each server with ``--workers 1`` and ``--workers 4``: start-up, then W1–W3 through it.

    Start-up is reported on its own (to the first ``/health``, and to an idle process group);
    every timed phase starts only once the server's whole process group is idle. With one
    worker: W1, W2 and W3 from one client, then W1 and W3 from WS_CLIENTS client processes; with
    four workers: W1 and W3 from WS_CLIENTS client processes.
    """
    import mlflow

    report = Report()
    calls = 5_000 if ctx.scale == "full" else 800
    runs = 1_000 if ctx.scale == "full" else 160
    for workers in WS_WORKERS:
        port = free_port()
        log = ctx.dir / f"server-{workers}.log"
        cmd = tracking_server_command(ctx, port, workers)
        prefix = f"workers{workers}"
        with log.open("wb") as out:
            start = time.perf_counter()
            proc = subprocess.Popen(
                cmd, cwd=ctx.dir, stdout=out, stderr=out, start_new_session=True
            )
            try:
                deadline = start + SERVER_START_TIMEOUT
                while not get_ok(port, "/health"):
                    if proc.poll() is not None or time.perf_counter() > deadline:
                        raise RuntimeError(f"server did not start: {last_line(log)}")
                    time.sleep(0.02)
                report.figures[f"{prefix}_start_to_health_s"] = time.perf_counter() - start
                wait_until_idle(proc.pid)
                report.figures[f"{prefix}_start_to_idle_s"] = time.perf_counter() - start
                mlflow.set_tracking_uri(f"http://127.0.0.1:{port}")
                if workers == 1:
                    report.figures.update(
                        sequential_client(ctx, port, proc.pid, f"{prefix}_1client")
                    )
                clients = f"{prefix}_{WS_CLIENTS}clients"
                report.figures[f"{clients}_log_metric_calls_per_s"] = concurrent_clients(
                    port, "W1", f"{EXPERIMENT}-w1-{workers}", calls, proc.pid
                )
                report.figures[f"{clients}_runs_per_s"] = concurrent_clients(
                    port, "W3", f"{EXPERIMENT}-w3-{workers}", runs, proc.pid
                )
            finally:
                stop_process_group(proc)
    report.notes.append(
        "timing starts once the server's process group is idle (under 2% of a core for 1 s); "
        f"{WS_CLIENTS} clients are {WS_CLIENTS} processes sharing the calls or runs"
    )
    if ctx.scale != "full":
        report.notes.append(
            "scale small: 500 log_metric calls, 20,000 batch points, 100 runs from one client; "
            f"{calls} calls and {runs} runs from {WS_CLIENTS} clients"
        )
    return report


# --- WSA: the tracking server with authentication on and off --------------------------------------

BENCH_USER, BENCH_PASSWORD = "bench", "bench-password"
AUTH_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


def auth_server_command(ctx: Context, port: int, auth: bool, where: Path) -> list[str]:
    """``tracking_server_command`` with authentication: ``--auth``, or MLflow's basic-auth app."""
    sub = Context(ctx.tool, where, ctx.scale, ctx.server_python)
    cmd = tracking_server_command(sub, port, workers=1)
    if auth:
        cmd += ["--app-name", "basic-auth"] if ctx.tool == "mlflow" else ["--auth"]
    return cmd


def wsa_tracking_server_auth(ctx: Context) -> Report:
    """W1 and W3 through the server with the MLflow client, authentication off then on.

    With authentication the client logs in as a plain user (not an admin), who creates the
    experiment and so holds MANAGE on it: every request is authenticated and its
    permission checked, as on a team server.
    """
    import mlflow
    from mlflow.server.auth.client import AuthServiceClient

    calls = 5_000 if ctx.scale == "full" else 500
    runs = 1_000 if ctx.scale == "full" else 100
    report = Report()
    for auth in (False, True):
        mode = "auth" if auth else "open"
        where = ctx.dir / mode
        where.mkdir()
        port = free_port()
        env = {**os.environ, "MLTRACK_AUTH_ADMIN_PASSWORD": "admin-password",
               "MLFLOW_AUTH_ADMIN_PASSWORD": "admin-password",
               "MLFLOW_FLASK_SERVER_SECRET_KEY": "bench-csrf-key"}  # fmt: skip
        for name in AUTH_ENV:
            os.environ.pop(name, None)
        log = where / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                auth_server_command(ctx, port, auth, where),
                cwd=where,
                env=env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
            try:
                deadline = time.perf_counter() + SERVER_START_TIMEOUT
                while not get_ok(port, "/health"):
                    if proc.poll() is not None or time.perf_counter() > deadline:
                        raise RuntimeError(f"server did not start: {last_line(log)}")
                    time.sleep(0.05)
                wait_until_idle(proc.pid)
                url = f"http://127.0.0.1:{port}"
                if auth:
                    os.environ.update(
                        MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD="admin-password"
                    )
                    AuthServiceClient(url).create_user(BENCH_USER, BENCH_PASSWORD)
                    os.environ.update(
                        MLFLOW_TRACKING_USERNAME=BENCH_USER, MLFLOW_TRACKING_PASSWORD=BENCH_PASSWORD
                    )
                mlflow.set_tracking_uri(url)
                mlflow.set_experiment(f"{EXPERIMENT}-{mode}")
                run = mlflow.start_run()
                elapsed, _ = timed(
                    lambda: [mlflow.log_metric("loss", 1.0 / (i + 1), step=i) for i in range(calls)]
                )
                end, _ = timed(mlflow.end_run)
                report.figures[f"{mode}_log_metric_calls_per_s"] = calls / (elapsed + end)
                history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
                expect(len(history) == calls, "points lost")
                elapsed, _ = timed(log_runs_fluent_ml, mlflow, run_records(runs))
                report.figures[f"{mode}_runs_per_s"] = runs / elapsed
            finally:
                stop_process_group(proc)
    for name in AUTH_ENV:
        os.environ.pop(name, None)
    if ctx.scale != "full":
        report.notes.append(f"WSA: scale small: {calls} log_metric calls, {runs} runs")
    return report


# --- W9: start-up --------------------------------------------------------------------------------


def median_wall_time(cmd: list[str], cwd: Path, repeats: int = 5) -> float:
    return statistics.median(run_checked(cmd, cwd) for _ in range(repeats))


def w9_startup(ctx: Context) -> Report:
    """``python -c "import <pkg>"`` and ``<cli> --help`` in fresh processes, median of 5."""
    commands = {
        "import": [sys.executable, "-c", f"import {ctx.tool}"],
        "cli_help": [*cli_command(ctx.tool), "--help"],
    }
    return Report(
        {
            f"{name}_s": failing_alone(partial(median_wall_time, cmd, ctx.dir))
            for name, cmd in commands.items()
        }
    )


WORKLOADS: dict[str, Callable[[Context], Report]] = {
    "W1": w1_log_metric,
    "W2": w2_log_batch,
    "W3": w3_many_runs,
    "W3L": w3_at_scale,
    "W4": w4_search,
    "W5": w5_metric_history,
    "W6": w6_artifacts,
    "W7": w7_model,
    "W8": w8_serving,
    "W8I": w8_identity_serving,
    "W9": w9_startup,
    "WS": ws_tracking_server,
    "WSA": wsa_tracking_server_auth,
    "WR": wr_registry,
    "WI": wi_import,
}


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(128 + signum)  # unwinds through ``finally``: a W8 server is stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", required=True, choices=["mlflow", "mltrack"])
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--dir", required=True, type=Path, help="a fresh, empty directory")
    parser.add_argument("--scale", choices=["small", "full"], default="full")
    parser.add_argument("--server-python", help="WS: the interpreter mltrack's server runs in")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the tool (or a child) prints goes to stderr; stdout carries the result
    ctx = Context(args.tool, args.dir.resolve(), args.scale, args.server_python)
    try:
        report = WORKLOADS[args.workload](ctx)
    except Exception as exc:
        traceback.print_exc()
        result_out.write(json.dumps({"error": one_line(exc)}) + "\n")
        return 1
    result_out.write(json.dumps({"figures": report.figures, "notes": report.notes}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
