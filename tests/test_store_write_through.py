"""Write-through runs: what a server's worker processes need from the store.

Two ``Repository`` objects on one working tree stand in for two worker
processes: each has its own writers and caches, and only the files connect them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mltrack.entities import RunStatus
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist


def test_each_write_is_on_disk_before_the_call_returns(workers) -> None:
    a, b = workers
    run = a.create_run("0", run_name="shared")
    run_id = run.info.run_id
    a.log_metric(run_id, "loss", 0.5, step=1)
    a.log_param(run_id, "alpha", "1")
    seen = b.get_run(run_id)
    assert seen.data.metrics == {"loss": 0.5}
    assert seen.data.params == {"alpha": "1"}
    assert [m.value for m in b.get_metric_history(run_id, "loss")] == [0.5]


def test_checks_see_the_other_workers_writes(workers) -> None:
    a, b = workers
    run_id = a.create_run("0").info.run_id
    b.get_run(run_id)  # b now holds its own writer for the run
    a.log_param(run_id, "alpha", "1")
    a.set_tag(run_id, "stage", "dev")
    with pytest.raises(InvalidParameterValue, match="Changing param values is not allowed"):
        b.log_param(run_id, "alpha", "2")
    b.delete_tag(run_id, "stage")  # exists only in a's write: found because b re-reads
    assert "stage" not in a.get_run(run_id).data.tags


def test_points_from_both_workers_survive(workers) -> None:
    a, b = workers
    run_id = a.create_run("0").info.run_id
    for step in range(20):
        (a if step % 2 else b).log_metric(run_id, "x", float(step), step=step)
    history = a.get_metric_history(run_id, "x")
    assert sorted(m.step for m in history) == list(range(20))
    assert a.get_run(run_id).data.metrics["x"] == 19.0


def test_a_worker_writing_on_from_its_kept_table_sees_the_other_workers_points(workers) -> None:
    # A worker appends to the journal and the table it knows while they are unchanged; once
    # the other worker has appended, or compacted the journal into a new metrics.arrow, it
    # must read them again rather than drop its points.
    a, b = workers
    run_id = a.create_run("0").info.run_id
    for step in range(15):
        (b if 5 <= step < 10 else a).log_metric(run_id, "x", float(step), step=step)
        if step == 7:
            b.repository.runs.live(run_id).compact()
    assert [m.step for m in b.get_metric_history(run_id, "x")] == list(range(15))
    assert a.get_run(run_id).data.metrics["x"] == 14.0
    run_dir = a.repository.runs.locate(run_id)
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.arrow", "run.yaml"]
    a.repository.runs.live(run_id).compact()
    assert not a.repository.runs.journals.path(run_id).exists()
    assert [m.step for m in b.get_metric_history(run_id, "x")] == list(range(15))


def test_a_failed_change_leaves_nothing_behind(workers) -> None:
    a, b = workers
    run_id = a.create_run("0").info.run_id
    a.log_param(run_id, "alpha", "1")
    with pytest.raises(ResourceDoesNotExist):
        a.delete_tag(run_id, "missing")
    with pytest.raises(InvalidParameterValue):
        from mltrack.entities import Param

        a.log_batch(run_id, params=[Param("beta", "1"), Param("alpha", "2")])
    assert b.get_run(run_id).data.params == {"alpha": "1"}


def test_ending_in_another_worker_commits_everything(workers, repo: Path) -> None:
    from conftest import git

    a, b = workers
    run_id = a.create_run("0", run_name="r").info.run_id
    a.log_metric(run_id, "loss", 1.0)
    b.set_terminated(run_id, RunStatus.FINISHED)
    assert a.get_run(run_id).info.status == RunStatus.FINISHED
    assert git(repo, "log", "-1", "--format=%s").strip() == "Run r: FINISHED in Default"
    assert git(repo, "status", "--porcelain") == ""
    assert run_id not in b.repository.runs._live  # nothing kept in memory after the end


def test_names_that_share_a_lock_file_are_locked_together_without_waiting_on_themselves(
    tmp_path: Path,
) -> None:
    """A batch commit holds the locks of many runs at once; two of them may hash to one file."""
    import threading
    import zlib

    from mltrack.store.files import file_locks

    names = [f"run{i}" for i in range(200)]
    first = names[0]
    twin = next(
        n for n in names[1:] if zlib.crc32(n.encode()) % 64 == zlib.crc32(first.encode()) % 64
    )
    entered = threading.Event()

    def lock_both() -> None:
        with file_locks(tmp_path, [first, twin, "other"]):
            entered.set()

    worker = threading.Thread(target=lock_both, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert entered.is_set(), "file_locks waited on a lock file it already held"
