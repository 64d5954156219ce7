"""A server's run journal: appended per change, folded in by every reader, compacted at the end."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from pathlib import Path

import httpx
import pytest

from conftest import git, server_worker
from liveserver import make_repo, run_cli
from mltrack.client import MltrackClient
from mltrack.entities import Param, RunTag
from mltrack.store import journal as journal_file
from mltrack.store.maintenance import fsck
from mltrack.store.repository import Repository
from support import TrackingServer

API = "/api/2.0/mlflow"


def _history(client: MltrackClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def test_a_change_goes_to_the_journal_and_the_other_worker_reads_it(workers) -> None:
    a, b = workers
    run_id = a.create_run("0", run_name="shared").info.run_id
    run_dir = a.repository.runs.locate(run_id)
    b.get_run(run_id)  # b holds its own writer and caches for the run
    yaml_before = (run_dir / "run.yaml").read_bytes()
    for step in range(3):
        a.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    a.log_batch(run_id, params=[Param("alpha", "1")], tags=[RunTag("stage", "dev")])

    # The run's files are untouched: every change is one entry in the journal.
    assert (run_dir / "run.yaml").read_bytes() == yaml_before
    assert not (run_dir / "metrics.arrow").exists()
    assert a.repository.runs.journals.path(run_id).is_file()
    assert _history(b, run_id, "loss") == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    seen = b.get_run(run_id)
    assert seen.data.metrics == {"loss": 1 / 3}
    assert seen.data.params == {"alpha": "1"}
    assert seen.data.tags["stage"] == "dev"
    found = b.search_runs(["0"], filter_string="params.alpha = '1' and metrics.loss < 0.5")
    assert [r.info.run_id for r in found] == [run_id]
    # b appends on top of a's entries; a sees b's.
    b.log_metric(run_id, "loss", 0.25, step=3)
    assert _history(a, run_id, "loss")[-1] == (3, 0.25)
    assert a.search_runs(["0"], filter_string="metrics.loss < 0.3")[0].info.run_id == run_id


def test_ending_the_run_compacts_the_journal_and_commits_without_it(workers, repo: Path) -> None:
    a, b = workers
    run_id = a.create_run("0", run_name="ends").info.run_id
    for step in range(5):
        (a if step % 2 else b).log_metric(run_id, "x", float(step), step=step)
    a.log_param(run_id, "alpha", "1")
    b.set_terminated(run_id)

    journal = a.repository.runs.journals.path(run_id)
    assert not journal.exists()
    assert git(repo, "status", "--porcelain") == ""
    committed = git(repo, "ls-tree", "-r", "--name-only", "HEAD").split()
    mine = [path for path in committed if run_id in path]
    assert sorted(Path(p).name for p in mine) == ["metrics.arrow", "run.yaml"]
    assert not any("journal" in path for path in committed)
    local = MltrackClient(str(repo))
    local.__dict__["_repo"] = Repository.open(repo)  # a process that is not a server
    for client in (a, b, local):
        assert _history(client, run_id, "x") == [(s, float(s)) for s in range(5)]
        assert client.get_run(run_id).data.params == {"alpha": "1"}
        assert client.get_run(run_id).info.status == "FINISHED"


def test_a_long_journal_is_compacted_while_the_run_goes_on(
    workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = workers
    monkeypatch.setattr(journal_file, "COMPACT_BYTES", 400)
    run_id = a.create_run("0").info.run_id
    run_dir = a.repository.runs.locate(run_id)
    for step in range(30):
        (a if step % 3 else b).log_metric(run_id, "x", float(step), step=step)
    assert (run_dir / "metrics.arrow").is_file()  # compacted at least once
    assert a.repository.runs.journals.path(run_id).stat().st_size < 1000
    assert _history(b, run_id, "x") == [(s, float(s)) for s in range(30)]
    assert _history(a, run_id, "x") == [(s, float(s)) for s in range(30)]


def test_a_torn_end_is_ignored_and_cut_off_by_the_next_append(workers, repo: Path) -> None:
    a, b = workers
    run_id = a.create_run("0").info.run_id
    a.log_metric(run_id, "x", 1.0, step=1)
    a.log_metric(run_id, "x", 2.0, step=2)
    path = a.repository.runs.journals.path(run_id)
    whole = path.read_bytes()
    # What a kill -9 in the middle of an append leaves: part of the last entry.
    last = whole[:-1].rindex(b"\n") + 1
    path.write_bytes(whole[: last + (len(whole) - last) // 2])
    assert _history(b, run_id, "x") == [(1, 1.0)]
    # And a flipped byte in a whole last entry fails its checksum: ignored the same way.
    torn = bytearray(whole)
    torn[-5] ^= 0x01
    path.write_bytes(bytes(torn))
    assert _history(b, run_id, "x") == [(1, 1.0)]
    problems = fsck(b.repository)
    assert [p.message for p in problems if "journal" in p.path] == [
        f"torn end of {len(whole) - last} byte(s) ignored (an append cut short by a crash, never "
        "acknowledged); `mltrack commit` folds the rest into the run"
    ]

    b.log_metric(run_id, "x", 3.0, step=3)  # cuts the torn end off first
    # (A process that read the flipped entry whole before it was flipped keeps it: journals
    # are append-only, so a reader takes what it has read as read.)
    assert _history(server_worker(repo), run_id, "x") == [(1, 1.0), (3, 3.0)]
    assert not [p for p in fsck(a.repository) if "journal" in p.path]


def test_fsck_reads_a_journal_and_names_what_is_wrong_with_one(workers, repo: Path) -> None:
    a, _ = workers
    run_id = a.create_run("0").info.run_id
    a.log_metric(run_id, "x", 1.0, step=1)
    assert fsck(a.repository) == []
    # A journal whose run is not in the working tree; an entry with a valid checksum whose
    # content is not a change.
    directory = a.repository.runs.journals.path(run_id).parent
    (directory / ("0" * 32)).write_bytes(
        journal_file.encode([("x", 1.0, 1, 1)], journal_file.RunChanges())
    )
    bad = b'{"m": 5}'
    with open(a.repository.runs.journals.path(run_id), "ab") as handle:
        handle.write(b"%08x%08x%s\n" % (len(bad), __import__("zlib").crc32(bad), bad))
    found = {(p.path.rsplit("/", 1)[-1], p.message.split(" (")[0]) for p in fsck(a.repository)}
    assert found == {
        ("0" * 32, "a journal of a run that is not in the working tree"),
        (run_id, "an entry is not a run change"),
    }


def _log_until_killed(
    url: str, run_id: str, thread: int, acked: list, stop: threading.Event
) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        step = 0
        while not stop.is_set():
            point = {"run_id": run_id, "key": f"t{thread}", "value": step, "step": step,
                     "timestamp": 1_000 + step}  # fmt: skip
            try:
                answer = client.post(f"{API}/runs/log-metric", json=point)
            except httpx.HTTPError:
                return  # the server is gone: this point was never acknowledged
            if answer.status_code == 200:
                acked.append((f"t{thread}", step))
            step += 1


def test_kill_9_of_the_server_loses_no_acknowledged_point(tmp_path: Path) -> None:
    repo, home = make_repo(tmp_path)
    server = TrackingServer(repo, "--workers", "2", home=home)
    supervisor = server.process.pid
    acked: list[tuple[str, int]] = []
    try:
        answer = httpx.post(f"{server.url}{API}/runs/create", json={"experiment_id": "0"})
        run_id = answer.json()["run"]["info"]["run_id"]
        stop = threading.Event()
        threads = [
            threading.Thread(target=_log_until_killed, args=(server.url, run_id, n, acked, stop))
            for n in range(4)
        ]
        for thread in threads:
            thread.start()
        while len(acked) < 200:
            threads[0].join(0.05)
        os.killpg(supervisor, signal.SIGKILL)  # mid-stream: requests are in flight
        server.process.wait()
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(supervisor, signal.SIGKILL)

    reader = MltrackClient(str(repo))
    for key in {key for key, _ in acked}:
        stored = {m.step for m in reader.get_metric_history(run_id, key)}
        assert {step for k, step in acked if k == key} <= stored
    listed = run_cli("-C", str(repo), "runs", "list", "--format", "json", home=home)
    [row] = [r for r in json.loads(listed.stdout) if r["info"]["run_id"] == run_id]
    assert row["info"]["status"] == "KILLED"

    # `mltrack commit` folds the journal into the run's files and commits them.
    assert run_cli("-C", str(repo), "commit", home=home).returncode == 0
    assert not (repo / ".git" / "mltrack" / "journal" / run_id).exists()
    assert git(repo, "status", "--porcelain") == ""
    fresh = MltrackClient(str(repo))
    for key in {key for key, _ in acked}:
        stored = {m.step for m in fresh.get_metric_history(run_id, key)}
        assert {step for k, step in acked if k == key} <= stored
    result = run_cli("-C", str(repo), "fsck", home=home)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_reader_that_saw_a_torn_end_reads_what_replaced_it(tmp_path: Path) -> None:
    # The torn end and the entry the next writer puts in its place can have the same length
    # (and the same mtime, within one clock tick): the reader must not take the file as unchanged.
    reader = journal_file.JournalReader(tmp_path, str)
    first = journal_file.encode([("x", 1.0, 1, 1)], journal_file.RunChanges())
    second = journal_file.encode([("x", 2.0, 2, 2)], journal_file.RunChanges())
    path = tmp_path / ("a" * 32)
    path.write_bytes(first + b"x" * len(second))
    seen = reader.read("a" * 32)
    assert seen is not None and seen.points == [("x", 1.0, 1, 1)]
    journal_file.append(path, len(first), second)
    assert path.stat().st_size == len(first) + len(second)
    again = reader.read("a" * 32)
    assert again is not None and again.points == [("x", 1.0, 1, 1), ("x", 2.0, 2, 2)]
