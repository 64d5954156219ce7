"""A real ``mltrack server`` subprocess on a free 127.0.0.1 port, for the server tests."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_env(home: Path | None = None) -> dict[str, str]:
    """This process's environment with mltrack's sources importable (and HOME, if given)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    if home is not None:
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), GIT_CONFIG_NOSYSTEM="1")
    return env


def run_cli(
    *args: str, cwd: Path | None = None, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m mltrack ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "mltrack", *args],
        cwd=cwd,
        env=isolated_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def make_repo(base: Path) -> tuple[Path, Path]:
    """(repo, home): a git repository with one commit and an mltrack store, its own HOME.

    For module-scoped servers, which start before the per-test ``isolated_git``.
    """
    home = base / "home"
    home.mkdir(parents=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    repo = base / "repo"
    repo.mkdir()
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "Start"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=isolated_env(home))
    result = run_cli("-C", str(repo), "init", home=home)
    assert result.returncode == 0, result.stderr
    return repo, home


class LiveServer:
    """``mltrack server`` for ``repo``; ``stop()`` ends it and its workers (its process group)."""

    def __init__(
        self,
        repo: Path,
        *args: str,
        home: Path | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.repo = repo
        self.port = port or free_port()
        self.scheme = "https" if "--ssl-certfile" in args else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.log = repo.parent / f"server-{self.port}.log"
        command = [sys.executable, "-m", "mltrack", "server", "--backend-store-uri", str(repo)]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port), *args],
                env={**isolated_env(home), **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait()

    def _wait(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mltrack server exited: {self.log.read_text()}")
            try:
                # The TLS tests check the certificate themselves; this only waits for the port.
                context = ssl._create_unverified_context() if self.scheme == "https" else None
                with urllib.request.urlopen(
                    f"{self.url}/health", timeout=1, context=context
                ) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mltrack server did not answer /health: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
