"""``mltrack server --workers N``: the workers never outlive their supervisor."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx

from liveserver import make_repo, run_cli
from support import TrackingServer

API = "/api/2.0/mlflow"


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            state, parent = stat.rsplit(")", 1)[1].split()[:2]
            if int(parent) == pid and state != "Z":
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait_for(condition, limit: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll until ``condition()`` holds; False if it still does not after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_workers_exit_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    repo, home = make_repo(tmp_path)
    server = TrackingServer(repo, "--workers", "2", home=home)
    supervisor = server.process.pid
    try:
        run = httpx.post(f"{server.url}{API}/runs/create", json={"experiment_id": "0"}).json()
        run_id = run["run"]["info"]["run_id"]
        assert _wait_for(lambda: len(_children(supervisor)) >= 2)
        workers = _children(supervisor)
        os.kill(supervisor, signal.SIGKILL)
        server.process.wait()
        assert _wait_for(lambda: not any(_alive(pid) for pid in workers)), workers
        assert _wait_for(lambda: _port_free(server.port))
        listed = run_cli("-C", str(repo), "runs", "list", "--format", "json", home=home)
        [row] = [r for r in json.loads(listed.stdout) if r["info"]["run_id"] == run_id]
        assert row["info"]["status"] == "KILLED"  # the whole server is gone

        restarted = TrackingServer(repo, "--workers", "2", home=home, port=server.port)
        try:
            answer = httpx.get(f"{restarted.url}{API}/runs/get", params={"run_id": run_id})
            assert answer.json()["run"]["info"]["run_id"] == run_id
        finally:
            restarted.stop()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(supervisor, signal.SIGKILL)  # only this test's process group
