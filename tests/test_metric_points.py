"""Metric points: each identical (key, value, timestamp, step) point is stored once.

MLflow ignores a point identical to one it already has; clients rely on it
(``log_model`` re-sends the points of the model's step, a client retries a
request after an error).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mltrack
from mltrack import MltrackClient
from mltrack.entities import Metric
from mltrack.exceptions import StoreWriteError
from mltrack.store import metrics as metrics_file
from mltrack.store.files import temp_path
from mltrack.store.repository import Repository


def test_a_re_sent_point_is_stored_and_shown_once(repo: Path) -> None:
    client = MltrackClient()
    with mltrack.start_run() as run:
        for step in range(10):
            mltrack.log_metric("m", step / 10, step=step, timestamp=1000 + step)
        first = Metric("m", 0.0, 1000, 0)
        client.log_batch(run.info.run_id, metrics=[first])  # before any flush
        assert len(client.get_metric_history(run.info.run_id, "m")) == 10
    client.log_batch(run.info.run_id, metrics=[first, first])  # after the run was written
    history = client.get_metric_history(run.info.run_id, "m")
    assert [(m.step, m.timestamp) for m in history] == [(s, 1000 + s) for s in range(10)]
    client.log_metric(run.info.run_id, "m", 0.5, timestamp=1000, step=0)  # another value
    assert [m.value for m in client.get_metric_history(run.info.run_id, "m")][-1] == 0.5


points = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.sampled_from([0.0, 1.0, -2.5]),
        st.integers(0, 3),
        st.integers(0, 3),
    ),
    max_size=30,
)


@given(batches=st.lists(points, max_size=4))
def test_appending_keeps_the_first_of_identical_points_in_order(
    tmp_path_factory, batches: list[list[tuple[str, float, int, int]]]
) -> None:
    path = tmp_path_factory.mktemp("points") / "metrics.arrow"
    for batch in batches:
        metrics_file.append_points(path, batch)
    table = metrics_file.read_table(path)
    stored = (
        []
        if table is None
        else list(
            zip(
                *(table.column(c).to_pylist() for c in ("key", "value", "step", "timestamp")),
                strict=True,
            )
        )
    )
    expected = list(dict.fromkeys(point for batch in batches for point in batch))
    assert stored == expected


def stored_rows(run_dir: Path) -> list[tuple[str, float, int, int]]:
    table = metrics_file.read_table(run_dir / "metrics.arrow")
    columns = ("key", "value", "step", "timestamp")
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


def test_a_write_that_fails_halfway_stores_nothing_and_its_retry_stores_once(repo: Path) -> None:
    with mltrack.start_run() as run:
        mltrack.log_metric("loss", 0.5, step=1, timestamp=1000)
    run_id = run.info.run_id
    server = Repository.open(repo)  # another process's view, writing through as a server does
    server.runs.write_through = True
    run_dir = server.runs.locate(run_id)
    before = stored_rows(run_dir)
    refused = pytest.raises(StoreWriteError, match="Nothing of this change was stored; retry it")
    # The journal cannot be created (a file has the name of its directory).
    journal = server.runs.journals.path(run_id)
    journal.parent.write_text("")
    with refused, server.runs.updating(run_id) as live:
        live.log_metric("loss", 0.25, 2, 2000)
    journal.parent.unlink()
    assert MltrackClient().get_run(run_id).data.metrics == {"loss": 0.5}
    for _ in range(2):
        with server.runs.updating(run_id) as live:
            live.log_metric("loss", 0.25, 2, 2000)
    # Compacting: run.yaml cannot be replaced (its temporary's name is taken) after
    # metrics.arrow's temporary was written: neither file changes, the journal stays.
    obstacle = temp_path(run_dir / "run.yaml")
    obstacle.mkdir()
    with refused, server.runs.updating(run_id, compact=True) as live:
        live.log_metric("loss", 0.125, 3, 3000)
    assert stored_rows(run_dir) == before
    assert journal.is_file()
    obstacle.rmdir()
    server.runs.live(run_id).compact()
    assert not journal.exists()
    assert stored_rows(run_dir) == [*before, ("loss", 0.25, 2, 2000)]
    assert MltrackClient().get_run(run_id).data.metrics == {"loss": 0.25}
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.arrow", "run.yaml"]


def test_metric_arrays_hold_the_same_points_as_the_history(repo: Path) -> None:
    """The chart's columnar read and get_metric_history agree, flushed or not yet."""
    import mltrack
    from mltrack.tracking.context import current_repository

    def as_columns(run_id: str) -> tuple[list[float], list[int], list[int]]:
        values, steps, stamps = current_repository().runs.metric_arrays(run_id, "loss")
        return values.tolist(), steps.tolist(), stamps.tolist()

    def from_history(run_id: str) -> tuple[list[float], list[int], list[int]]:
        history = MltrackClient().get_metric_history(run_id, "loss")
        return [m.value for m in history], [m.step for m in history], [m.timestamp for m in history]

    with mltrack.start_run() as run:
        for step in range(5):
            mltrack.log_metric("loss", 1 / (step + 1), step=step, timestamp=1000 + step)
            mltrack.log_metric("other", step, step=step)
        unflushed = as_columns(run.info.run_id)
        assert unflushed == from_history(run.info.run_id)
        assert unflushed[1] == [0, 1, 2, 3, 4]
    assert as_columns(run.info.run_id) == from_history(run.info.run_id) == unflushed
    assert current_repository().runs.metric_arrays(run.info.run_id, "absent")[0].tolist() == []
