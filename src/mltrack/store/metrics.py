"""``metrics.arrow``: every logged point of a run in one Arrow IPC file.

One row per point, columns ``key`` (string), ``value`` (float64), ``step``
(int64), ``timestamp`` (int64, ms), in logging order. Appending rewrites the
file atomically (old rows are memory-mapped, not copied into Python objects),
so a reader never sees a torn file and a crash loses at most the points that
were still buffered in memory.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from functools import cache
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrack.entities import Metric
from mltrack.exceptions import CorruptStore
from mltrack.store.files import atomic_write

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "append_points",
    "appended",
    "history",
    "new_points",
    "numbers",
    "prepare_writes",
    "read_table",
    "schema",
    "serialize",
    "to_text",
]

Point = tuple[str, float, int, int]  # key, value, step, timestamp


@cache
def schema() -> pa.Schema:
    """The file's columns (built once: ``fsck`` compares 10,000 files with it)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("key", pa.string()),
            ("value", pa.float64()),
            ("step", pa.int64()),
            ("timestamp", pa.int64()),
        ]
    )


def prepare_writes() -> None:
    """Load now what appending points needs, so a flush at interpreter exit still works.

    pyarrow imports pandas lazily on the first array it builds, and importing
    pandas registers a threading exit hook, which Python refuses once shutdown
    has begun: a run's last flush from an ``atexit`` handler would fail and its
    points would be lost. Call this while the process is still running. It also
    serializes one point in memory, so the first real flush does not pay for
    pyarrow's first-use set-up (a few milliseconds) at the end of the run.
    """
    serialize(_table_of([("", 0.0, 0, 0)]))


# Files up to this size are read into memory; larger ones are memory-mapped (a long history's
# rows are then paged in, not copied). For a small file a mapping costs several times the read:
# ``fsck`` reads 10,000 of them.
_MAP_FROM_BYTES = 1 << 20


def read_table(path: Path | str, label: str | None = None) -> pa.Table | None:
    """The file's rows; None if the run has no metrics file yet.

    ``label`` names the file in errors (the repository-relative path).
    """
    import pyarrow as pa

    where = label or str(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            data = handle.read() if size <= _MAP_FROM_BYTES else None
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CorruptStore(where, f"not a readable Arrow IPC file ({error})") from None
    try:
        if data is not None:
            table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
        else:
            with pa.memory_map(str(path), "r") as source:
                table = pa.ipc.open_file(source).read_all()
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptStore(where, f"not a readable Arrow IPC file ({error})") from None
    if not table.schema.equals(schema()):
        raise CorruptStore(where, f"unexpected columns {table.schema.names}")
    return table


def _table_of(points: Sequence[Point]) -> pa.Table:
    import pyarrow as pa

    keys, values, steps, timestamps = zip(*points, strict=True) if points else ((), (), (), ())
    return pa.Table.from_arrays(
        [
            pa.array(keys, pa.string()),
            pa.array(values, pa.float64()),
            pa.array(steps, pa.int64()),
            pa.array(timestamps, pa.int64()),
        ],
        schema=schema(),
    )


def append_points(path: Path, points: Sequence[Point], *, durable: bool = True) -> int:
    """Add ``points`` after the file's existing rows (the caller holds the run's lock).

    A point identical to one already stored (same key, value, timestamp and
    step) is stored once, as MLflow does: clients re-send points (a retried
    request, MLflow's ``log_model`` linking a step's metrics to the model).
    Returns how many points were added.

    ``durable=False`` skips the fsync: the new file is visible to every process at
    once but reaches the disk later (the caller syncs it with ``files.sync_file``).
    """
    if not points:
        return 0
    old = read_table(path)
    table = appended(old, points)
    if table is None:
        return 0
    atomic_write(path, memoryview(serialize(table)), durable=durable)
    return table.num_rows - (old.num_rows if old is not None else 0)


def appended(stored: pa.Table | None, points: Sequence[Point]) -> pa.Table | None:
    """``stored`` (a file's rows) followed by those of ``points`` it lacks; None if none.

    A writer that keeps the table it wrote can pass it back as ``stored`` while
    the file is unchanged, so a server never re-reads its own writes.
    """
    import pyarrow as pa

    fresh = new_points(stored, points)
    if not fresh:
        return None
    new = _table_of(fresh)
    # One record batch per file: appending a batch per flush would make every later
    # read and rewrite pay for thousands of tiny batches.
    return pa.concat_tables([stored, new]).combine_chunks() if stored is not None else new


def new_points(table: pa.Table | None, points: Sequence[Point]) -> list[Point]:
    """``points`` less those stored in ``table`` or repeated among them, in logging order.

    Points logged later than everything stored (the usual case) are told apart
    by their timestamp alone; only the others are compared with the stored rows
    of the same timestamps.
    """
    import numpy as np

    distinct = list(dict.fromkeys(points))
    if table is None or not table.num_rows:
        return distinct
    stamps = numbers(table.column("timestamp"))
    latest = int(stamps.max())
    if all(point[3] > latest for point in distinct):
        return distinct
    wanted = [point[3] for point in distinct if point[3] <= latest]
    rows = np.nonzero(np.isin(stamps, np.array(wanted, dtype=np.int64)))[0].tolist()
    keys = table.column("key")
    values = numbers(table.column("value"))
    steps = numbers(table.column("step"))
    stored = {
        (keys[row].as_py(), float(values[row]), int(steps[row]), int(stamps[row])) for row in rows
    }
    return [point for point in distinct if point not in stored]


def serialize(table: pa.Table) -> pa.Buffer:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=1 << 20)
    return sink.getvalue()


def numbers(column: pa.ChunkedArray) -> Any:
    """A float64 or int64 column as one numpy array, read from its data buffers: pyarrow's
    ``to_numpy`` imports pandas (~0.4 s of CPU), which a process that only reads a history
    (a notebook's first ``get_metric_history``) would otherwise pay for nothing."""
    import numpy as np

    dtypes = {"double": np.float64, "int64": np.int64}
    parts = []
    for chunk in column.chunks:
        dtype = dtypes.get(str(chunk.type))
        if dtype is None or chunk.null_count:
            return column.to_numpy()
        data = chunk.buffers()[1]
        parts.append(
            np.frombuffer(data, dtype=dtype, count=len(chunk), offset=chunk.offset * 8)
            if len(chunk)
            else np.zeros(0, dtype=dtype)
        )
    if not parts:
        return np.zeros(0, dtype=dtypes.get(str(column.type), np.float64))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _key_mask(column: pa.ChunkedArray, key: str) -> Any:
    """Boolean numpy mask of the rows whose key is ``key``, read from the string
    buffers directly (``pyarrow.compute`` alone takes ~35 ms to import)."""
    import numpy as np

    wanted = np.frombuffer(key.encode("utf-8"), dtype=np.uint8)
    masks = []
    for chunk in column.chunks:
        if chunk.type != "string" or chunk.null_count:
            masks.append(np.array([value == key for value in chunk.to_pylist()], dtype=bool))
            continue
        _, offsets_buffer, data_buffer = chunk.buffers()
        offsets = np.frombuffer(
            offsets_buffer, dtype=np.int32, count=len(chunk) + 1, offset=chunk.offset * 4
        )
        starts = offsets[:-1]
        mask = (offsets[1:] - starts) == len(wanted)
        if len(wanted) and mask.any():
            data = np.frombuffer(data_buffer, dtype=np.uint8)
            candidates = np.nonzero(mask)[0]
            same = (data[starts[candidates, None] + np.arange(len(wanted))] == wanted).all(axis=1)
            mask[candidates] = same
        masks.append(mask)
    return np.concatenate(masks) if masks else np.zeros(0, dtype=bool)


def columns(table: pa.Table | None, key: str) -> tuple[Any, Any, Any]:
    """Values, steps and timestamps of ``key``'s stored points as numpy arrays, in logging order."""
    import numpy as np

    if table is None or not table.num_rows:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=float), empty, empty
    mask = _key_mask(table.column("key"), key)
    every = bool(mask.all())
    values, steps, stamps = (
        array if every else array[mask]
        for array in (numbers(table.column(name)) for name in ("value", "step", "timestamp"))
    )
    return values, steps, stamps


def history(table: pa.Table | None, key: str, run_id: str | None) -> list[Metric]:
    """All stored points of ``key``, in logging order, as Metric records."""
    values, steps, stamps = (array.tolist() for array in columns(table, key))
    # Building 100k small objects triggers the cyclic GC dozens of times for
    # nothing (they hold no cycles); pausing it makes this several times faster.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return list(map(Metric, repeat(key), values, stamps, steps, repeat(run_id, len(values))))
    finally:
        if enabled:
            gc.enable()


def to_text(path: Path) -> str:
    """The file as sorted, tab-separated text (``git diff``'s textconv driver)."""
    table = read_table(path)
    lines = ["key\tstep\ttimestamp\tvalue"]
    if table is not None:
        rows = sorted(
            zip(
                table.column("key").to_pylist(),
                table.column("step").to_pylist(),
                table.column("timestamp").to_pylist(),
                table.column("value").to_pylist(),
                strict=True,
            )
        )
        lines += [f"{k}\t{s}\t{t}\t{v!r}" for k, s, t, v in rows]
    return "\n".join(lines) + "\n"
