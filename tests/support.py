"""Ports and waits for the tests that need a real server: one place for both.

A server never races another process for its port: the test binds a socket on a
free port of 127.0.0.1 first and hands it over — to uvicorn in a thread, or to a
server process as an inherited file descriptor (``--fd``). Waiting is one loop,
:func:`wait_until`, that names what it waited for.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from mltrack.sockets import bind

SRC = Path(__file__).resolve().parents[1] / "src"


def bound_socket(port: int = 0) -> socket.socket:
    """A TCP socket bound to ``port`` (default: a free one) of 127.0.0.1, for a server."""
    return bind("127.0.0.1", port)


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout: float = 60.0,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` (and a dead process's log)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            text = log.read_text(errors="replace") if log is not None else ""
            raise AssertionError(
                f"the process exited ({process.returncode}) before {what}:\n{text}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 (connection refused and timeouts are "not yet").

    Certificates are not checked: this only waits for the port (the TLS tests check theirs).
    """
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(url, timeout=5, verify=False).status_code == 200
    return False


def child_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    """This environment with this checkout's mltrack importable (and HOME, if given)."""
    env = dict(os.environ, **extra)
    inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if os.path.isabs(p)]
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *inherited])
    if home is not None:
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), GIT_CONFIG_NOSYSTEM="1")
    return env


class ServerProcess:
    """``python -m mltrack ARGS --fd N`` listening on a socket bound here; ``stop()`` ends it
    and its workers (its process group)."""

    def __init__(
        self,
        *args: str,
        ready_path: str,
        log_dir: Path,
        cwd: Path | None = None,
        home: Path | None = None,
        port: int = 0,
        env: dict[str, str] | None = None,
    ) -> None:
        sock = bound_socket(port)
        self.port = int(sock.getsockname()[1])
        self.url = url_of(sock)
        if "--ssl-certfile" in args:
            self.url = self.url.replace("http://", "https://", 1)
        self.log = log_dir / f"server-{self.port}.log"
        try:
            with open(self.log, "wb") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "mltrack", *args, "--fd", str(sock.fileno())],
                    cwd=cwd,
                    env={**child_env(home), **(env or {})},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(sock.fileno(),),
                    start_new_session=True,
                )
        finally:
            sock.close()  # the server holds its own copy
        try:
            wait_until(
                lambda: answers(self.url + ready_path),
                f"{self.url}{ready_path} to answer",
                process=self.process,
                log=self.log,
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def read_log(self) -> str:
        return self.log.read_text(errors="replace")


class TrackingServer(ServerProcess):
    """``mltrack server`` for ``repo`` (the live-server tests: workers, signals, streaming)."""

    def __init__(
        self,
        repo: Path,
        *args: str,
        home: Path | None = None,
        port: int = 0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.repo = repo
        super().__init__(
            "server", "--backend-store-uri", str(repo), *args,
            ready_path="/health", log_dir=repo.parent, home=home, port=port, env=env,
        )  # fmt: skip


@contextlib.contextmanager
def serve_in_thread(app: Any, ready_path: str = "/ping") -> Iterator[str]:
    """The app on uvicorn in a thread, on a socket bound here; stopped at the end."""
    import uvicorn

    sock = bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = url_of(sock)
    try:
        wait_until(lambda: answers(url + ready_path), f"{url}{ready_path} to answer", timeout=30)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
