"""pytest plugin that runs MLflow's own server tests against ``mltrack server``.

Loaded by ``run.py`` (``-p mltrack_server_plugin``) inside a checkout of MLflow's ``tests/``.
It changes no test body: before pytest reads a test module's fixtures, it swaps the module's
server fixtures (``mlflow_client``, ``client``, ``artifacts_server``, ...) for ones that start
``mltrack server`` in a fresh ``git init`` + ``mltrack init`` repository on a free 127.0.0.1
port. With ``MLTRACK_COMPAT_SERVER=mlflow`` the fixtures stay MLflow's own, which gives the
baseline: what the pinned tests do against the installed MLflow's server.

Every test is classified (see ``classify``) and its outcome, with the first line of its
failure, is written as JSON to ``MLTRACK_COMPAT_REPORT`` for ``run.py`` to summarise.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest

# Fixtures through which a test reaches the tracking server; a test that uses none of them
# exercises MLflow's server code in-process, which says nothing about mltrack.
SERVER_FIXTURES = {"mlflow_client", "mlflow_client_with_secrets", "client", "artifacts_server"}

# The scope rule. Out of scope are the AI gateway (secrets, endpoints, providers, model
# definitions, the gateway proxy) and GenAI: traces and spans (incl. OTLP), assessments,
# scorers and online scoring, evaluation datasets (the tests that link them to experiments are
# the ones named `*_rest_tracking`), prompts and
# prompt-lab runs, and GenAI issues. Matched against the test function's name; a test that
# needs the gateway's secrets-enabled server fixture is out of scope whatever its name.
OUT_OF_SCOPE_NAME = re.compile(
    r"trace|span|otel|assessment|scorer|scoring|judge"
    r"|evaluation_dataset|_rest_tracking$"
    r"|gateway|secret|endpoint|provider|model_definition|^test_list_models$"
    r"|prompt|issue"
)
OUT_OF_SCOPE_FIXTURES = {"mlflow_client_with_secrets"}

# Tests that cannot run here whatever the server: they need Docker and MLflow's source tree.
NOT_APPLICABLE = {"test_mlflow_artifacts_example": "needs Docker and MLflow's examples/ tree"}

SERVER_START_TIMEOUT = 60.0


def classify(name: str, fixturenames: list[str]) -> str:
    """``in-scope``, ``out-of-scope``, ``no-server`` or ``not-applicable`` for one test."""
    if name in NOT_APPLICABLE:
        return "not-applicable"
    if not SERVER_FIXTURES & set(fixturenames):
        return "no-server"
    if OUT_OF_SCOPE_FIXTURES & set(fixturenames) or OUT_OF_SCOPE_NAME.search(name):
        return "out-of-scope"
    return "in-scope"


# --- mltrack server ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _new_repository(base: Path) -> Path:
    """A fresh ``git init`` + ``mltrack init`` repository under ``base``."""
    repo = base / "mltrack-repo"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.name", "MLflow Tests")
    _git(repo, "config", "user.email", "mlflow-tests@example.com")
    subprocess.run(
        [sys.executable, "-m", "mltrack", "init"],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return repo


class MltrackServer:
    """``mltrack server`` for a new repository; the log keeps its stderr for the report."""

    def __init__(self, base: Path, port: int, *server_args: str) -> None:
        self.repo = _new_repository(base)
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = base / f"mltrack-server-{self.port}.log"
        command = [sys.executable, "-m", "mltrack", "server"]
        command += ["--backend-store-uri", str(self.repo), "--port", str(self.port)]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [*command, *server_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._await_health()

    def _await_health(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mltrack server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mltrack server did not answer /health within {SERVER_START_TIMEOUT}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def errors(self) -> str:
        """The last traceback the server logged, if any (a 500 is explained there)."""
        if not self.log.exists():
            return ""
        text = self.log.read_text(errors="replace")
        start = text.rfind("Traceback (most recent call last)")
        return text[start:][-1500:] if start >= 0 else ""


_servers: dict[str, list[MltrackServer]] = {}


def _serve(request: pytest.FixtureRequest, base: Path, *server_args: str) -> MltrackServer:
    server = MltrackServer(base, _free_port(), *server_args)
    _servers.setdefault(request.node.nodeid, []).append(server)
    return server


# --- replacement fixtures ----------------------------------------------------------------


@contextmanager
def _client_for(server: MltrackServer) -> Iterator[Any]:
    """An MlflowClient for ``server``, which is also the process's tracking URI meanwhile.

    MLflow's autouse ``tracking_uri_mock`` points the fluent API (and the CLI run in-process)
    at the very SQLite store its server fixture serves; the fluent calls in the tests rely on
    that, so here they must reach the mltrack server.
    """
    from mlflow import MlflowClient
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    try:
        with _use_tracking_uri(server.url):
            yield MlflowClient(server.url)
    finally:
        server.stop()


@pytest.fixture(name="store_type")
def _store_type() -> str:
    # MLflow parametrises over "file" (always skipped now) and "sqlalchemy"; the mltrack server
    # replaces the backend, and the tests' "sqlalchemy" branches are the full-featured ones.
    return "sqlalchemy"


@pytest.fixture(name="mlflow_client")
def _rest_tracking_client(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    monkeypatch.setenv("MLFLOW_CRYPTO_KEK_PASSPHRASE", "test-passphrase-at-least-32-characters")
    server = _serve(request, tmp_path, "--default-artifact-root", tmp_path.as_uri())
    with _client_for(server) as client:
        yield client


@pytest.fixture(name="mlflow_client_with_secrets")
def _rest_tracking_client_with_secrets(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    monkeypatch.setenv("MLFLOW_CRYPTO_KEK_PASSPHRASE", "test-passphrase-at-least-32-characters")
    server = _serve(request, tmp_path, "--default-artifact-root", (tmp_path / "a").as_uri())
    with _client_for(server) as client:
        yield client


@pytest.fixture(name="client")
def _registry_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    root = (tmp_path / "artifacts").as_uri()
    server = _serve(request, tmp_path, "--default-artifact-root", root)
    with _client_for(server) as client:
        yield client


@pytest.fixture(name="artifacts_server", scope="module")
def _artifacts_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    # Configured as MLflow's fixture configures `mlflow server`: artifacts proxied by the
    # server, stored under --artifacts-destination. MLflow's tests open `backend_store_uri`
    # with MlflowClient (a SQLite URI there); a mltrack repository is reached through the
    # server, so its URL stands in for it.
    artifacts_server = request.module.ArtifactsServer
    base = tmp_path_factory.mktemp("artifacts-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    default_artifact_root = f"{url}/api/2.0/mlflow-artifacts/artifacts"
    destination = str(base / "mlartifacts")
    server = MltrackServer(
        base,
        port,
        "--default-artifact-root",
        default_artifact_root,
        "--artifacts-destination",
        destination,
    )
    _servers.setdefault(request.node.nodeid, []).append(server)
    try:
        yield artifacts_server(url, default_artifact_root, destination, url, server.process)
    finally:
        server.stop()


REPLACEMENTS = {
    "test_rest_tracking.py": [
        _store_type,
        _rest_tracking_client,
        _rest_tracking_client_with_secrets,
    ],
    "test_model_registry.py": [_registry_client],
    "test_mlflow_artifacts.py": [_artifacts_server],
}


def _swap_fixtures(module: ModuleType, filename: str) -> None:
    for fixture in REPLACEMENTS.get(filename, []):
        name = str(fixture.name)
        if not hasattr(module, name):
            raise RuntimeError(f"{filename} has no fixture {name!r}: update the plugin's pin")
        setattr(module, name, fixture)


# --- hooks -------------------------------------------------------------------------------


def _against_mltrack() -> bool:
    return os.environ.get("MLTRACK_COMPAT_SERVER", "mltrack") == "mltrack"


def pytest_collectstart(collector: pytest.Collector) -> None:
    # Runs before pytest reads the module's fixtures, so the swapped ones are what it finds.
    if isinstance(collector, pytest.Module) and _against_mltrack():
        _swap_fixtures(collector.obj, collector.path.name)


# Per test id: scope, outcome, first line of the failure, its line in MLflow's test.
_results: dict[str, dict[str, str]] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        name = getattr(item, "originalname", item.name)
        scope = classify(name, list(getattr(item, "fixturenames", [])))
        item.user_properties.append(("scope", scope))
        (drop if scope in ("no-server", "not-applicable") else keep).append(item)
        _results[item.nodeid] = {"scope": scope, "outcome": "not run", "message": ""}
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).strip()
    if isinstance(report.longrepr, tuple):  # a skip: (file, line, reason)
        return str(report.longrepr[2])
    return str(report.longrepr).strip().splitlines()[-1] if report.longrepr else ""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _results.setdefault(
        report.nodeid, {"scope": dict(report.user_properties).get("scope", "?")}
    )
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail"):  # MLflow's own xfail marks
            entry["outcome"] = "xpassed" if report.passed else "xfailed"
            entry["message"] = str(report.wasxfail)
        elif report.passed:
            entry["outcome"], entry["message"] = "passed", ""
        elif report.skipped:
            entry["outcome"], entry["message"] = "skipped", _first_line(report)
        else:
            entry["outcome"] = "failed" if report.when == "call" else "error"
            entry["message"] = _first_line(report)
            entry["location"] = _failure_location(report)
    elif report.when == "teardown" and report.failed and entry.get("outcome") == "passed":
        entry["outcome"], entry["message"] = "error", _first_line(report)
    if report.when == "teardown" and entry.get("outcome") in ("failed", "error"):
        module = report.nodeid.split("::")[0]  # module-scoped servers are filed under it
        for server in _servers.get(report.nodeid, []) + _servers.get(module, []):
            if server.errors():
                entry["server_traceback"] = server.errors()
    if report.when == "teardown":
        _servers.pop(report.nodeid, None)


def _failure_location(report: pytest.TestReport) -> str:
    """``file:line`` of the failing line inside MLflow's test (not inside the client)."""
    entries = getattr(getattr(report.longrepr, "reprtraceback", None), "reprentries", [])
    for entry in entries:
        location = getattr(entry, "reprfileloc", None)
        if location is not None and str(location.path).startswith("tests/tracking/"):
            return f"{Path(location.path).name}:{location.lineno}"
    return ""


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("MLTRACK_COMPAT_REPORT")
    if target and not hasattr(session.config, "workerinput"):
        Path(target).write_text(json.dumps(_results, indent=1, sort_keys=True))


# A hung request would otherwise stall the whole suite; SIGALRM interrupts it as a failure.
TEST_TIMEOUT = int(os.environ.get("MLTRACK_COMPAT_TIMEOUT", "180"))


def _timed_out(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError(f"test exceeded MLTRACK_COMPAT_TIMEOUT={TEST_TIMEOUT}s")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    previous = signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(TEST_TIMEOUT)
    try:
        return (yield)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
