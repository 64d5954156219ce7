"""Helpers for the scoring-server and batch-prediction tests: an iris model in a repository,
real servers on 127.0.0.1 (a ``mltrack models serve`` subprocess, or uvicorn in a thread)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import git

SRC = Path(__file__).resolve().parents[1] / "src"
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SEED_REQUEST = {"columns": COLUMNS, "data": [[5.1, 3.5, 1.4, 0.2]]}
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]  # a setosa (0) and a virginica (2)


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """The same isolation as conftest's ``isolated_git``, for fixtures wider than one test."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in list(os.environ):
        if name.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_", "MLFLOW_", "MLTRACK_")):
            monkeypatch.delenv(name, raising=False)


def iris_frame() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    features = iris.data
    features.columns = COLUMNS
    return features, iris.target


@dataclass
class IrisRepo:
    path: Path
    run_id: str
    model_id: str
    estimator: Any
    features: Any

    def expected(self, rows: list[list[float]]) -> list[int]:
        import pandas as pd

        return self.estimator.predict(pd.DataFrame(rows, columns=COLUMNS)).tolist()


def make_iris_repo(path: Path, n_estimators: int = 10) -> IrisRepo:
    """A git repo with a logged iris RandomForest registered as 'iris' v1, in Production and
    aliased @production; ``path`` becomes the working directory."""
    from sklearn.ensemble import RandomForestClassifier

    import mltrack
    from mltrack import MltrackClient

    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    (path / "train.py").write_text("print('training')\n")
    git(path, "add", "train.py")
    git(path, "commit", "-q", "-m", "Add training script")
    os.chdir(path)
    features, target = iris_frame()
    estimator = RandomForestClassifier(n_estimators=n_estimators, random_state=0)
    estimator.fit(features, target)
    mltrack.set_experiment("iris")
    with mltrack.start_run() as run:
        info = mltrack.sklearn.log_model(estimator, name="model", input_example=features.head(3))
    mltrack.register_model(info.model_uri, "iris")
    registry = MltrackClient().registry
    registry.transition_model_version_stage("iris", 1, "Production")
    registry.set_registered_model_alias("iris", "production", 1)
    assert info.model_id is not None
    return IrisRepo(path, run.info.run_id, info.model_id, estimator, features)


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def free_port() -> int:
    from mltrack.serving.server import bind

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    return int(port)


def wait_for_ping(
    url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {read_log(proc)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/ping", timeout=5).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"no /ping from {url} within {timeout} s")


def read_log(proc: subprocess.Popen[bytes]) -> str:
    log = getattr(proc, "log_path", None)
    return Path(log).read_text(errors="replace") if log else ""


@contextlib.contextmanager
def serve_process(
    cwd: Path, *args: str, log_dir: Path, repo: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m mltrack [-C repo] models serve ARGS -p <free port> -h 127.0.0.1``; killed
    (with its workers) at the end."""
    port = free_port()
    log_path = log_dir / f"serve-{port}.log"
    global_options = ["-C", str(repo)] if repo is not None else []
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mltrack", *global_options, "models", "serve", *args,
             "-p", str(port), "-h", "127.0.0.1"],
            cwd=cwd, env=python_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    proc.log_path = str(log_path)  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_ping(url, proc)
        yield url, proc
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """The app on uvicorn in a thread, on a free port of 127.0.0.1; stopped at the end."""
    import uvicorn

    from mltrack.serving.server import bind

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_ping(url, timeout=30)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
