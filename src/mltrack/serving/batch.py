"""Batch scoring of files: ``mltrack models predict -m URI -i IN -o OUT``.

Inputs are read in batches of ``batch_size`` rows, so a file larger than memory
streams through: CSV with pyarrow's streaming reader (the signature's columns
parsed as its types), Parquet by record batches, JSON lines line by line. A
whole JSON document (any payload the scoring server accepts) is read at once
and predicted in batches. Every batch goes through the same casting and
signature checks as a server request.

The output format comes from the extension: ``.csv`` and ``.parquet`` get one
row per input row (``prediction`` or ``prediction_0``, ``prediction_1``, … for
2-D output, or the model's own column names); ``.json`` gets the server's
``{"predictions": [...]}``; ``.jsonl`` one prediction per line. Output files are
written to a temporary file and renamed at the end, so a failure never leaves a
half-written result under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from mltrack.exceptions import BadRequest, InvalidParameterValue, MltrackError
from mltrack.models.pyfunc import load_model
from mltrack.serving.casting import frame_for_schema
from mltrack.serving.payloads import (
    ModelInput,
    check_csv_header,
    csv_column_types,
    csv_error,
    csv_header,
    from_json,
    load_json,
    records_to_columns,
    table_frame,
)
from mltrack.serving.responses import predictions_frame, to_jsonable
from mltrack.serving.served import predict
from mltrack.store.files import temp_path
from mltrack.types import Schema

__all__ = ["FORMATS", "BatchResult", "file_format", "predict_file"]

FORMATS = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
DEFAULT_BATCH_SIZE = 10_000

Progress = Callable[[int, int], None]  # (done, total): bytes for CSV and JSON lines, else rows
Batch = tuple[ModelInput, int, int]


@dataclass(frozen=True)
class BatchResult:
    rows: int
    batches: int


def file_format(path: str | os.PathLike[str], what: str = "input") -> str:
    """csv, json, jsonl or parquet, from the file's extension."""
    suffix = Path(path).suffix.lower()
    found = FORMATS.get(suffix)
    if found is None:
        raise InvalidParameterValue(
            f"Cannot tell the {what} format of {os.fspath(path)!r} from its extension: use "
            + ", ".join(FORMATS)
            + ("." if what == "output" else ", or give the format with --content-type.")
        )
    return found


# ---------------------------------------------------------------------- readers


def _rebatched(batches: Iterable[Any], size: int) -> Iterator[Any]:
    """Arrow record batches of any size as tables of exactly ``size`` rows (the last may be short)."""
    import pyarrow as pa

    pending: list[Any] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, size)
            rest = table.slice(size)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


def _csv_batches(path: Path, schema: Schema | None, size: int) -> Iterator[Batch]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with open(path, "rb") as handle:
        header = csv_header(handle.read(65536))
    check_csv_header(header, schema)
    total = path.stat().st_size
    stream = pa.input_stream(str(path))
    try:
        reader = pcsv.open_csv(
            stream, convert_options=pcsv.ConvertOptions(column_types=csv_column_types(schema))
        )
        for table in _rebatched(reader, size):
            yield ModelInput(table_frame(table, schema, "The CSV header")), stream.tell(), total
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise csv_error(error, header, schema) from None
    finally:
        stream.close()


def _parquet_batches(path: Path, schema: Schema | None, size: int) -> Iterator[Batch]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise BadRequest(f"Could not read {path} as Parquet: {error}.") from None
    total = source.metadata.num_rows
    done = 0
    for batch in source.iter_batches(batch_size=size):
        done += batch.num_rows
        table = pa.Table.from_batches([batch])
        yield ModelInput(table_frame(table, schema, "The Parquet file")), done, total


def _json_lines_batches(path: Path, schema: Schema | None, size: int) -> Iterator[Batch]:
    total = path.stat().st_size

    def batch(records: list[dict[str, Any]], done: int) -> Batch:
        columns = records_to_columns(records, f"{path.name} records")
        return ModelInput(frame_for_schema(columns, schema)), done, total

    with open(path, "rb") as handle:
        records: list[dict[str, Any]] = []
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = load_json(line)
            except BadRequest as error:
                raise BadRequest(f"{path} line {number}: {error.message}") from None
            if not isinstance(record, dict):
                raise BadRequest(
                    f"{path} line {number} is not an object: each line of a JSON lines file "
                    "is one record, an object of column: value."
                )
            records.append(record)
            if len(records) == size:
                yield batch(records, handle.tell())
                records = []
        if records:
            yield batch(records, total)


def _json_batches(path: Path, schema: Schema | None, size: int) -> Iterator[Batch]:
    raw = path.read_bytes()
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":  # one JSON object per line in a .json file
            yield from _json_lines_batches(path, schema, size)
            return
        document = load_json(raw)  # raises the message every JSON error gets
    except (UnicodeDecodeError, RecursionError, ValueError):
        document = load_json(raw)
    whole = from_json(document, schema)
    data = whole.data
    sliceable = hasattr(data, "iloc") or isinstance(data, list) or getattr(data, "ndim", 0) > 0
    if not sliceable:
        yield whole, 1, 1
        return
    rows = len(data)
    for start in range(0, rows, size):
        part = (
            data.iloc[start : start + size] if hasattr(data, "iloc") else data[start : start + size]
        )
        yield ModelInput(part, whole.params), min(start + size, rows), rows


_READERS = {
    "csv": _csv_batches,
    "parquet": _parquet_batches,
    "json": _json_batches,
    "jsonl": _json_lines_batches,
}


# ---------------------------------------------------------------------- writers


class _Writer(Protocol):
    def write(self, output: Any) -> None: ...

    def close(self) -> None: ...


class _JsonWriter:
    """``{"predictions": [...]}`` written batch by batch (or one prediction per line)."""

    def __init__(self, stream: IO[str], lines: bool) -> None:
        self.stream = stream
        self.lines = lines
        self.state = "new"  # new, list (items written), value (a whole non-list output)

    def write(self, output: Any) -> None:
        value = to_jsonable(output)
        if self.state == "value" or (self.state == "list" and not isinstance(value, list)):
            raise InvalidParameterValue(
                f"The model returns {type(output).__name__}, not one prediction per row, so its "
                "output cannot be split into batches: use a --batch-size larger than the number "
                "of rows."
            )
        items = value if isinstance(value, list) else [value]
        if self.lines:
            for item in items:
                self.stream.write(json.dumps(item, allow_nan=False) + "\n")
            return
        if not isinstance(value, list):
            self.stream.write('{"predictions": ' + json.dumps(value, allow_nan=False))
            self.state = "value"
            return
        for item in items:
            prefix = '{"predictions": [' if self.state == "new" else ", "
            self.stream.write(prefix + json.dumps(item, allow_nan=False))
            self.state = "list"

    def close(self) -> None:
        if self.lines:
            return
        ending = {"new": '{"predictions": []}', "list": "]}", "value": "}"}[self.state]
        self.stream.write(ending + "\n")


class _CsvWriter:
    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.header = True

    def write(self, output: Any) -> None:
        predictions_frame(output).to_csv(self.stream, header=self.header, index=False)
        self.header = False

    def close(self) -> None:
        pass


class _ParquetWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: Any = None

    def write(self, output: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(predictions_frame(output), preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        elif table.schema != self.writer.schema:
            try:
                table = table.cast(self.writer.schema)
            except (pa.ArrowInvalid, ValueError) as error:
                raise MltrackError(
                    f"The model's output changed type between batches ({error}); write JSON "
                    "(-o FILE.json) or use one batch."
                ) from None
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@contextlib.contextmanager
def _open_output(output: str | os.PathLike[str] | IO[str], kind: str) -> Iterator[_Writer]:
    writer: _Writer
    if not isinstance(output, (str, os.PathLike)):
        writer = _JsonWriter(output, lines=kind == "jsonl")
        yield writer
        writer.close()
        return
    path = Path(output)
    tmp = temp_path(path)
    try:
        if kind == "parquet":
            writer = _ParquetWriter(tmp)
            yield writer
            writer.close()
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                writer = (
                    _CsvWriter(handle) if kind == "csv" else _JsonWriter(handle, kind == "jsonl")
                )
                yield writer
                writer.close()
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# ---------------------------------------------------------------------- the one entry point


def predict_file(
    model_uri: str,
    input_path: str | os.PathLike[str],
    output: str | os.PathLike[str] | IO[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    input_format: str | None = None,
    params: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> BatchResult:
    """Predict every row of ``input_path`` with the model at ``model_uri``, into ``output``
    (a path, whose extension picks the format, or a text stream that gets JSON)."""
    if batch_size < 1:
        raise InvalidParameterValue(f"batch_size must be at least 1, not {batch_size}.")
    source = Path(input_path)
    kind = input_format or file_format(source)
    if kind not in _READERS:
        raise InvalidParameterValue(f"Unknown input format {kind!r}: use {', '.join(_READERS)}.")
    if not source.is_file():
        raise InvalidParameterValue(f"Input file {source} does not exist.")
    out_kind = file_format(output, "output") if isinstance(output, (str, os.PathLike)) else "json"
    model = load_model(model_uri)
    signature = model.metadata.signature
    schema = signature.inputs if signature is not None else None
    rows = batches = 0
    with _open_output(output, out_kind) as writer:
        for model_input, done, total in _READERS[kind](source, schema, batch_size):
            merged = {**(model_input.params or {}), **(params or {})} or None
            writer.write(predict(model, ModelInput(model_input.data, merged)))
            rows += len(model_input.data) if hasattr(model_input.data, "__len__") else 1
            batches += 1
            if progress is not None:
                progress(done, total)
        if rows == 0:
            raise BadRequest(f"{source} has no rows to predict.")
    return BatchResult(rows, batches)
