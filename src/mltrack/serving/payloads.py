"""Every request body MLflow's scoring server reads, turned into model input plus params.

- ``application/json``: an object with exactly one of ``dataframe_split``,
  ``dataframe_records``, ``instances`` or ``inputs``, and optional ``params``
  (MLflow 2/3); also MLflow 1's ``{"columns": [...], "data": [[...]]}``, which
  MLflow 3 rejects but our users' docs still send, read as ``dataframe_split``,
  and MLflow 1's ``format=pandas-split`` / ``format=pandas-records`` content-type
  parameters. A body without a Content-Type, or with the form encoding ``curl -d``
  sends by default, is read as JSON when it is JSON.
- ``text/csv``: a header line, then one line per row.
- ``application/vnd.apache.parquet`` (or ``application/x-parquet``).

Tabular input is cast to the signature's column types first (see
:mod:`mltrack.serving.casting`); every problem is a :class:`BadRequest`,
:class:`UnsupportedMediaType` or :class:`SchemaEnforcementError` that says what
to send instead. Nothing here knows about HTTP frameworks: ``mltrack models
predict`` reads files through the same functions.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from typing import Any

from mltrack.exceptions import BadRequest, SchemaEnforcementError, UnsupportedMediaType
from mltrack.models.signature import ModelSignature
from mltrack.serving.casting import cast_column, frame_for_schema, is_named_column_schema
from mltrack.types import ColSpec, DataType, Schema, TensorSpec

__all__ = [
    "FORMAT_KEYS",
    "MediaType",
    "ModelInput",
    "check_csv_header",
    "csv_column_types",
    "csv_error",
    "csv_header",
    "csv_without_rows",
    "from_json",
    "load_json",
    "media_type",
    "parse_body",
    "parse_csv",
    "parse_parquet",
    "records_to_columns",
    "table_frame",
]

FORMAT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_LEGACY_KEYS = ("columns", "data", "index")
_SPLIT_KEYS = {"columns", "data", "index"}
_FORMS = (
    "Send a JSON object with exactly one of dataframe_split, dataframe_records, instances or "
    'inputs (or the legacy {"columns": [...], "data": [[...]]}), and optionally params, e.g. '
    '{"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}.'
)
_MEDIA = {
    "application/json": "json",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
_SUPPORTED = "application/json, text/csv or application/vnd.apache.parquet"
_CURL_DEFAULT = "application/x-www-form-urlencoded"  # what `curl -d` sends without -H


@dataclass(frozen=True)
class ModelInput:
    """What ``PyFuncModel.predict`` is called with."""

    data: Any
    params: dict[str, Any] | None = None


@dataclass(frozen=True)
class MediaType:
    kind: str  # json, csv, parquet, or unknown (curl's default: read as JSON if it is JSON)
    orient: str | None = None  # MLflow 1's format=pandas-split / pandas-records


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------- content types


def media_type(header: str | None) -> MediaType | None:
    """The body format a Content-Type header names; None when there is no header."""
    if header is None or not header.strip():
        return None
    media, *parameters = header.split(";")
    media = media.strip().lower()
    if media == _CURL_DEFAULT:
        return MediaType("unknown")
    kind = _MEDIA.get(media)
    if kind is None:
        raise UnsupportedMediaType(f"Content-Type {media!r} is not supported: send {_SUPPORTED}.")
    orient = None
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        key, value = key.strip().lower(), value.strip().strip('"').lower()
        if not key:
            continue
        if key == "charset" and value in ("utf-8", "utf8") and kind != "parquet":
            continue
        if key == "charset":
            raise UnsupportedMediaType(
                f"charset={value} is not supported: send {media} encoded as UTF-8."
            )
        if key == "format" and kind == "json" and value in ("pandas-split", "pandas-records"):
            orient = value.removeprefix("pandas-")
            continue
        raise UnsupportedMediaType(
            f"Content-Type parameter {key}={value} is not supported: send {media}"
            + (" (optionally with charset=utf-8)." if kind != "parquet" else ".")
        )
    return MediaType(kind, orient)


def parse_body(
    body: bytes, content_type: str | None, signature: ModelSignature | None
) -> ModelInput:
    """A request body in any supported format as model input."""
    schema = signature.inputs if signature is not None else None
    media = media_type(content_type)
    if media is None or media.kind == "unknown":
        try:
            document = load_json(body)
        except BadRequest:
            sent = "no Content-Type header" if media is None else f"Content-Type {_CURL_DEFAULT}"
            raise UnsupportedMediaType(
                f"The request has {sent} and its body is not JSON: set Content-Type to "
                f"{_SUPPORTED} (with curl: -H 'Content-Type: application/json')."
            ) from None
        return from_json(document, schema)
    if media.kind == "csv":
        return _checked(parse_csv(body, schema), None)
    if media.kind == "parquet":
        return _checked(parse_parquet(body, schema), None)
    return from_json(load_json(body), schema, media.orient)


# ---------------------------------------------------------------------- JSON


def load_json(body: bytes) -> Any:
    """The JSON document in ``body`` (UTF-8)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(
            f"The request body is not UTF-8 (byte {error.start}): send JSON encoded as UTF-8."
        ) from None
    if not text.strip():
        raise BadRequest(f"The request body is empty. {_FORMS}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequest(
            f"The request body is not valid JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno}. {_FORMS}"
        ) from None
    except RecursionError:
        raise BadRequest("The request body is JSON nested too deeply to read.") from None
    except ValueError as error:  # e.g. an integer literal with too many digits
        raise BadRequest(f"The request body is not valid JSON: {error}.") from None


def from_json(document: Any, schema: Schema | None, orient: str | None = None) -> ModelInput:
    """A parsed JSON request (every MLflow form) as model input."""
    if orient == "records":
        return _checked(frame_for_schema(records_to_columns(document, "the body"), schema), None)
    if not isinstance(document, dict):
        raise BadRequest(f"The request body is {_kind(document)}, not a JSON object. {_FORMS}")
    params = document.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadRequest(
            f'params must be an object of name: value pairs, e.g. {{"predict_method": '
            f'"predict_proba"}}; got {_kind(params)}.'
        )
    unknown = sorted(set(document) - set(FORMAT_KEYS) - set(_LEGACY_KEYS) - {"params"})
    if unknown:
        raise BadRequest(f"Unknown key(s) {unknown} in the request body. {_FORMS}")
    keys = [key for key in FORMAT_KEYS if key in document]
    legacy = [key for key in _LEGACY_KEYS if key in document]
    if len(keys) + bool(legacy) > 1:
        raise BadRequest(
            f"The request body has more than one input format: {keys + legacy}. {_FORMS}"
        )
    if legacy:
        return _checked(
            _split({k: document[k] for k in legacy}, "the legacy split body", schema), params
        )
    if not keys:
        raise BadRequest(f"The request body has no input. {_FORMS}")
    key = keys[0]
    value = document[key]
    if key == "dataframe_split":
        data = _split(value, key, schema)
    elif key == "dataframe_records":
        data = frame_for_schema(records_to_columns(value, key), schema)
    else:
        data = _inputs(value, key, schema)
    return _checked(data, params)


def _checked(data: Any, params: dict[str, Any] | None) -> ModelInput:
    rows = _row_count(data)
    if rows == 0:
        raise BadRequest("The request has no rows of input: send at least one row.")
    return ModelInput(data, params)


def _row_count(data: Any) -> int | None:
    shape = getattr(data, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) else 1
    if isinstance(data, (list, dict)):
        return len(data)
    return None


def _split(value: Any, key: str, schema: Schema | None) -> Any:
    if not isinstance(value, dict):
        raise BadRequest(
            f"{key} must be an object with 'columns' and 'data' (pandas' split orient); got "
            f"{_kind(value)}."
        )
    unknown = sorted(set(value) - _SPLIT_KEYS)
    if unknown:
        raise BadRequest(
            f"{key} has unknown key(s) {unknown}: it takes 'columns', 'data' and optionally 'index'."
        )
    data = value.get("data")
    if not isinstance(data, list):
        raise BadRequest(
            f"{key} needs 'data': a list of rows, e.g. [[5.1, 3.5], [4.9, 3.0]]; got {_kind(data)}."
        )
    columns = value.get("columns")
    if columns is None:
        first = data[0] if data else []
        columns = list(range(len(first) if isinstance(first, list) else 1))
    elif not isinstance(columns, list) or not all(
        isinstance(c, (str, int)) and not isinstance(c, bool) for c in columns
    ):
        raise BadRequest(f"{key} 'columns' must be a list of column names.")
    _unique_columns(columns, key)
    width = len(columns)
    if width == 1 and not any(isinstance(row, list) for row in data):
        data = [[row] for row in data]
    for number, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            size = f"{len(row)} values" if isinstance(row, list) else _kind(row)
            raise BadRequest(
                f"{key} row {number} has {size}, but there are {width} columns {columns}: "
                "every row of 'data' must be a list with one value per column."
            )
    transposed = [list(column) for column in zip(*data, strict=True)] if data else [[]] * width
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        raise BadRequest(f"{key} 'index' must be a list with one entry per row of 'data'.")
    if index is not None and not all(isinstance(i, (str, int, float)) for i in index):
        raise BadRequest(f"{key} 'index' entries must be strings or numbers.")
    return frame_for_schema(dict(zip(columns, transposed, strict=True)), schema, index)


def records_to_columns(records: Any, key: str) -> dict[Any, list[Any]]:
    """A list of ``{column: value}`` records as columns; a record without a column gives None."""
    if not isinstance(records, list):
        raise BadRequest(
            f'{key} must be a list of records, e.g. [{{"a": 1.0, "b": 2.0}}]; got {_kind(records)}.'
        )
    names: dict[Any, None] = {}
    for number, record in enumerate(records):
        if not isinstance(record, dict):
            raise BadRequest(
                f"{key} item {number} is {_kind(record)}: every record must be an object of "
                "column: value."
            )
        names.update(dict.fromkeys(record))
    return {name: [record.get(name) for record in records] for name in names}


def _column_dict(value: dict[str, Any], key: str) -> dict[str, list[Any]]:
    if all(not isinstance(v, (list, dict)) for v in value.values()):
        return {name: [v] for name, v in value.items()}  # one row
    lengths = {name: len(v) if isinstance(v, list) else None for name, v in value.items()}
    if None in lengths.values() or len(set(lengths.values())) > 1:
        raise BadRequest(
            f"{key} columns must all be lists of the same length (or all single values); got "
            + ", ".join(
                f"{name!r}: {'not a list' if n is None else f'{n} values'}"
                for name, n in lengths.items()
            )
            + "."
        )
    return value


def _inputs(value: Any, key: str, schema: Schema | None) -> Any:
    """``instances`` and ``inputs``: columns, records, a tensor, or raw values for custom models."""
    if isinstance(value, dict):
        if schema is not None and schema.is_tensor_spec:
            return {name: _array(v, key) for name, v in value.items()}
        return frame_for_schema(_column_dict(value, key), schema)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return frame_for_schema(records_to_columns(value, key), schema)
    if schema is None:
        return _array(value, key) if isinstance(value, list) else value
    if schema.is_tensor_spec:
        spec = schema.inputs[0]
        assert isinstance(spec, TensorSpec)
        return _tensor(_array(value, key), spec)
    names = schema.input_names()
    if names:
        if (
            len(names) == 1
            and isinstance(value, list)
            and not any(isinstance(v, list) for v in value)
        ):
            return frame_for_schema({names[0]: value}, schema)
        raise SchemaEnforcementError(
            f"The model expects named columns {names}, but {key} sent values without column "
            f'names. Send {{"dataframe_split": {{"columns": {json.dumps(names)}, "data": [[...]]}}}} '
            "or a list of records."
        )
    return _unnamed_columns(value, key, schema)


def _array(value: Any, key: str) -> Any:
    import numpy as np

    try:
        return np.asarray(value)
    except (ValueError, TypeError):
        raise BadRequest(
            f"{key} is ragged: every row of a list of lists must have the same length."
        ) from None


_TENSOR_TYPES = {
    "float64": DataType.double,
    "float32": DataType.float,
    "int64": DataType.long,
    "int32": DataType.integer,
    "bool": DataType.boolean,
}


def _tensor(array: Any, spec: TensorSpec) -> Any:
    """A JSON array as the tensor's dtype when that loses nothing (enforcement checks the rest)."""
    type_name = _TENSOR_TYPES.get(spec.dtype)
    if type_name is None or array.dtype.name == spec.dtype or array.dtype.kind not in "biuf":
        return array
    return cast_column(spec.name or "input", array, type_name)


def _unnamed_columns(value: Any, key: str, schema: Schema) -> Any:
    import pandas as pd

    rows = value if isinstance(value, list) else [value]
    if rows and all(isinstance(row, list) for row in rows):
        return pd.DataFrame(rows)
    specs = [spec for spec in schema.inputs if isinstance(spec, ColSpec)]
    if len(specs) == 1:
        return pd.DataFrame({0: cast_column(key, rows, specs[0].type)})
    return pd.DataFrame([rows])


# ---------------------------------------------------------------------- CSV and Parquet

_ARROW_TYPES = {
    DataType.double: "float64",
    DataType.float: "float32",
    DataType.long: "int64",
    DataType.integer: "int32",
    DataType.boolean: "bool_",
    DataType.string: "string",
    DataType.binary: "string",
    DataType.datetime: "string",
}
_CSV_CONVERSION = re.compile(
    r"In CSV column #(?P<column>\d+): (?:Row #(?P<row>\d+): )?CSV conversion error to "
    r"(?P<type>\w+): invalid value '(?P<value>.*)'",
    re.S,
)


def csv_column_types(schema: Schema | None) -> dict[str, Any]:
    """pyarrow types for the CSV columns a named signature types (others are inferred)."""
    import pyarrow as pa

    if not is_named_column_schema(schema):
        return {}
    assert schema is not None
    return {
        spec.name: getattr(pa, _ARROW_TYPES.get(spec.type, "string"))()
        for spec in schema.inputs
        if isinstance(spec, ColSpec) and spec.name is not None
    }


def csv_error(error: Exception, header: list[str], schema: Schema | None) -> Exception:
    """A pyarrow CSV error as a message that names the column (and the line)."""
    text = str(error)
    found = _CSV_CONVERSION.search(text)
    if found is None:
        return BadRequest(
            f"Could not parse the CSV input: {text.splitlines()[0] if text else error}. Send a "
            "header line with the column names, then one comma-separated line per row."
        )
    position = int(found["column"])
    name = header[position] if position < len(header) else f"#{position}"
    specs = schema.inputs if schema is not None else ()
    wanted = {spec.name: spec.type for spec in specs if isinstance(spec, ColSpec) and spec.name}
    type_name = wanted.get(name, found["type"])
    where = f" in CSV row {found['row']}" if found["row"] else ""
    return SchemaEnforcementError(
        f"Column {name!r} expects {type_name} values, but got {found['value']!r}{where}. "
        f"Send {type_name} values for {name!r} as the model signature says."
    )


def csv_header(first_line: bytes) -> list[str]:
    line = first_line.decode("utf-8", "replace").splitlines()
    return next(csv.reader(line[:1]), [])


def _expected_header(schema: Schema | None) -> str:
    names = [
        spec.name
        for spec in (schema.inputs if is_named_column_schema(schema) and schema else ())
        if isinstance(spec, ColSpec) and spec.name
    ]
    return f"the header row {','.join(names)}" if names else "a header row naming the columns"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_csv_header(header: list[str], schema: Schema | None) -> None:
    """Refuse a CSV whose first line holds values where the signature's column names belong."""
    if not is_named_column_schema(schema) or schema is None:
        return
    names = {spec.name for spec in schema.inputs if isinstance(spec, ColSpec)}
    if header and not names & set(header) and all(_is_number(cell) for cell in header):
        raise BadRequest(
            f"The CSV input has no header row: its first line holds values ({','.join(header)}). "
            f"Send {_expected_header(schema)} first, then one line per row."
        )


def csv_without_rows(schema: Schema | None) -> BadRequest:
    """A CSV of one line: it was read as the header, so there is no row to predict."""
    return BadRequest(
        "The CSV input has a header line but no rows (a CSV's first line is always its header): "
        f"send {_expected_header(schema)} first, then one line per row."
    )


def _unique_columns(names: list[Any], what: str) -> None:
    if len(set(names)) != len(names):
        repeated = sorted({str(n) for n in names if names.count(n) > 1})
        raise BadRequest(f"{what} names column(s) {repeated} more than once.")


def parse_csv(body: bytes, schema: Schema | None) -> Any:
    """A CSV body (header line, then rows) as a DataFrame cast to the signature."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    header = csv_header(body[:65536])
    _unique_columns(header, "The CSV header")
    check_csv_header(header, schema)
    try:
        table = pcsv.read_csv(
            pa.BufferReader(body),
            convert_options=pcsv.ConvertOptions(column_types=csv_column_types(schema)),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise csv_error(error, header, schema) from None
    if table.num_rows == 0 and header:
        raise csv_without_rows(schema)
    return table_frame(table, schema, "The CSV header")


def table_frame(table: Any, schema: Schema | None, what: str) -> Any:
    """An Arrow table (CSV or Parquet) as a DataFrame cast to the signature."""
    _unique_columns(table.column_names, what)
    frame = table.to_pandas()
    return frame_for_schema({name: frame[name] for name in frame.columns}, schema)


def parse_parquet(body: bytes, schema: Schema | None) -> Any:
    """A Parquet body as a DataFrame cast to the signature."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(body))
    except (pa.ArrowException, OSError) as error:
        raise BadRequest(
            f"Could not read the Parquet body: {error}. Send a Parquet file's bytes "
            "(e.g. DataFrame.to_parquet())."
        ) from None
    return table_frame(table, schema, "The Parquet file")
