"""Casting request columns to the types of the model signature, refusing every lossy cast.

Like MLflow's scoring server, JSON and CSV columns are cast to the signature's
column types before ``predict`` (JSON has one number type; CSV has none), so
``5`` is a fine ``double``. Unlike MLflow, a cast that would lose information —
``2.5`` for a ``long`` column, ``"abc"`` for a ``double``, ``true`` for a number,
an integer beyond 2**53 for a ``double`` — is refused with an error that names
the column and the value; nothing is silently truncated.

A column arrives as a Python list (from JSON) or as a numpy array or pandas
Series (from CSV and Parquet); the result is a numpy array of the signature's
type (``object`` for strings, bytes and nested types).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mltrack.exceptions import SchemaEnforcementError
from mltrack.types import ColSpec, DataType, Schema

__all__ = ["cast_column", "frame_for_schema", "is_named_column_schema"]

_EXACT_INT = 2**53
_NONE = type(None)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def is_named_column_schema(schema: Schema | None) -> bool:
    """True when the signature names its columns (the case every tabular payload is cast for)."""
    return schema is not None and not schema.is_tensor_spec and schema.has_input_names()


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _refuse(name: Any, type_name: str, value: Any, why: str = "") -> SchemaEnforcementError:
    reason = f" ({why})" if why else ""
    return SchemaEnforcementError(
        f"Column {name!r} expects {type_name} values, but got {_describe(value)}{reason}. "
        f"Send {type_name} values for {name!r} as the model signature says."
    )


def _first(values: Sequence[Any], bad: Any) -> Any:
    return next(v for v in values if bad(v))


def _listed(values: Any) -> list[Any]:
    """A column as a Python list, with pandas/numpy missing values as None."""
    if hasattr(values, "to_numpy"):
        values = values.to_numpy(dtype=object, na_value=None)
    out = values.tolist() if isinstance(values, np.ndarray) else list(values)
    return [None if isinstance(v, float) and math.isnan(v) else v for v in out]


def _array(values: Any) -> np.ndarray | None:
    """The column as a numeric/bool/datetime numpy array, or None when it holds Python objects."""
    if hasattr(values, "to_numpy") and getattr(values.dtype, "kind", "O") in "biufM":
        values = values.to_numpy()
    if isinstance(values, np.ndarray) and values.dtype.kind in "biufM":
        return values
    return None


# ---------------------------------------------------------------------- numbers


def _parse_number(name: Any, type_name: str, text: str) -> int | float:
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        raise _refuse(name, type_name, text, "not a number") from None


def _to_float(name: Any, values: Any, type_name: str) -> np.ndarray:
    dtype = np.float32 if type_name == DataType.float else np.float64
    array = _array(values)
    if array is None:
        items = _listed(values)
        kinds = set(map(type, items))
        if kinds <= {float}:
            array = np.array(items, dtype=np.float64)
        else:
            bad = kinds - {float, int, str, _NONE}
            if bad:
                raise _refuse(name, type_name, _first(items, lambda v: type(v) in bad))
            if str in kinds:
                items = [
                    _parse_number(name, type_name, v) if isinstance(v, str) else v for v in items
                ]
            huge = [v for v in items if type(v) is int and abs(v) > _EXACT_INT]
            if huge:
                raise _refuse(name, type_name, huge[0], "too large to be exact as a float")
            array = np.array([math.nan if v is None else v for v in items], dtype=np.float64)
    elif array.dtype.kind == "b":
        raise _refuse(name, type_name, bool(array.flat[0]))
    elif array.dtype.kind == "M":
        raise _refuse(name, type_name, str(array.flat[0]), "a date-time")
    elif array.dtype.kind in "iu" and array.size:
        magnitude = np.abs(array.astype(np.float64))
        if array.dtype.itemsize > 4 and (magnitude > _EXACT_INT).any():
            raise _refuse(
                name, type_name, array.flat[int(np.argmax(magnitude))].item(), "too large"
            )
    if dtype is np.float32:
        finite = np.abs(array[np.isfinite(array)]) if array.size else array
        if finite.size and (finite > _FLOAT32_MAX).any():
            raise _refuse(name, type_name, float(finite.max()), "out of float32 range")
    return array.astype(dtype, copy=False)


def _to_int(name: Any, values: Any, type_name: str) -> np.ndarray:
    dtype = np.int32 if type_name == DataType.integer else np.int64
    info = np.iinfo(dtype)
    array = _array(values)
    if array is None:
        items = _listed(values)
        kinds = set(map(type, items))
        bad = kinds - {int, float, str}
        if bad:
            offender = _first(items, lambda v: type(v) in bad)
            why = "a missing value" if offender is None else ""
            raise _refuse(name, type_name, offender, why)
        if str in kinds:
            items = [_parse_number(name, type_name, v) if isinstance(v, str) else v for v in items]
        for value in items:
            if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
                raise _refuse(name, type_name, value, "not a whole number")
            if not info.min <= value <= info.max:
                raise _refuse(name, type_name, value, f"out of {np.dtype(dtype).name} range")
        return np.array([int(v) for v in items], dtype=dtype)
    kind = array.dtype.kind
    if kind in "bM":
        raise _refuse(name, type_name, array.flat[0].item())
    if kind == "f" and array.size:
        bad_mask = ~np.isfinite(array) | (array != np.round(array))
        if bad_mask.any():
            value = array[bad_mask].flat[0].item()
            raise _refuse(
                name, type_name, value, "a missing value" if math.isnan(value) else "not whole"
            )
    if array.size and (array.min() < info.min or array.max() > info.max):
        raise _refuse(name, type_name, array.max().item(), f"out of {np.dtype(dtype).name} range")
    return array.astype(dtype, copy=False)


# ---------------------------------------------------------------------- other scalars

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def _to_bool(name: Any, values: Any, type_name: str) -> np.ndarray:
    array = _array(values)
    if array is not None:
        if array.dtype.kind == "b" or not array.size:
            return array.astype(bool, copy=False)
        outside = ~np.isin(array, (0, 1)) if array.dtype.kind in "iu" else np.ones_like(array, bool)
        if outside.any():
            raise _refuse(name, type_name, array[outside].flat[0].item())
        return array.astype(bool)
    out = []
    for value in _listed(values):
        if isinstance(value, bool):
            out.append(value)
        elif type(value) is int and value in (0, 1):
            out.append(bool(value))
        elif isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            out.append(value.strip().lower() in _TRUE)
        else:
            raise _refuse(name, type_name, value)
    return np.array(out, dtype=bool)


def _to_str(name: Any, values: Any, type_name: str) -> np.ndarray:
    items = _listed(values)
    bad = set(map(type, items)) - {str, _NONE}
    if bad:
        raise _refuse(name, type_name, _first(items, lambda v: type(v) in bad), "not a string")
    return np.array(items, dtype=object)


def _to_bytes(name: Any, values: Any, type_name: str) -> np.ndarray:
    out: list[bytes | None] = []
    for value in _listed(values):
        if value is None or isinstance(value, bytes):
            out.append(value)
        elif isinstance(value, str):
            try:
                out.append(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                raise _refuse(
                    name, type_name, value, "binary values are sent base64-encoded"
                ) from None
        else:
            raise _refuse(name, type_name, value, "binary values are sent base64-encoded")
    return np.array(out, dtype=object)


def _to_datetime(name: Any, values: Any, type_name: str) -> np.ndarray:
    import pandas as pd

    array = _array(values)
    if array is not None and array.dtype.kind == "M":
        return array.astype("datetime64[ns]")
    items = _listed(values)
    bad = set(map(type, items)) - {str, _NONE}
    if bad:
        raise _refuse(name, type_name, _first(items, lambda v: type(v) in bad), "use ISO 8601 text")
    try:
        parsed = pd.to_datetime(pd.Series(items, dtype=object), format="ISO8601")
    except (ValueError, TypeError, OverflowError) as error:
        raise _refuse(name, type_name, items[0] if items else None, str(error)) from None
    return parsed.to_numpy(dtype="datetime64[ns]")


_CASTS = {
    DataType.double: _to_float,
    DataType.float: _to_float,
    DataType.long: _to_int,
    DataType.integer: _to_int,
    DataType.boolean: _to_bool,
    DataType.string: _to_str,
    DataType.binary: _to_bytes,
    DataType.datetime: _to_datetime,
}


def cast_column(name: Any, values: Any, type_name: str) -> np.ndarray:
    """``values`` as the signature type ``type_name``; SchemaEnforcementError naming the column."""
    cast = _CASTS.get(type_name)
    if cast is None:  # arrays, objects, maps: passed through to the model as Python objects
        items = _listed(values)
        out = np.empty(len(items), dtype=object)
        for position, item in enumerate(items):
            out[position] = item
        return out
    return cast(name, values, type_name)


def _number_block(columns: Mapping[Any, Any]) -> np.ndarray | None:
    """Columns holding only JSON floats (or only ints) as one 2-D array, the dtype pandas
    would infer for each column (float64, int64); None for anything else.

    A 1-row request without a signature otherwise spends most of its time outside the model
    in pandas' per-column inference; a single block is what pandas would consolidate the
    columns into anyway.
    """
    values = list(columns.values())
    if not values or not all(isinstance(column, list) and column for column in values):
        return None
    kind = type(values[0][0])
    if kind is not float and kind is not int:
        return None
    if not all(type(item) is kind for column in values for item in column):
        return None
    try:
        return np.array(values, dtype=np.float64 if kind is float else np.int64).T
    except (OverflowError, ValueError):  # an int beyond int64: pandas' own inference decides
        return None


_COLUMN_INDEXES: dict[tuple[Any, ...], Any] = {}  # column names -> the pandas Index made of them


def _column_index(names: list[Any]) -> Any:
    """A pandas Index of ``names``: a copy of one made before for the same names.

    Making an Index of strings (pandas infers their dtype) is most of a 1-row frame's cost;
    requests to one model send the same columns again and again. A copy, so that a model that
    renames the Index it was given (``columns.name``) changes nothing for the next request.
    """
    import pandas as pd

    key = tuple(names)
    made = _COLUMN_INDEXES.get(key)
    if made is None:
        if len(_COLUMN_INDEXES) >= 64:
            _COLUMN_INDEXES.clear()
        made = _COLUMN_INDEXES[key] = pd.Index(names)
    return made.copy()


def frame_for_schema(
    columns: Mapping[Any, Any], schema: Schema | None, index: Sequence[Any] | None = None
) -> Any:
    """A DataFrame of ``columns`` with each column the signature names cast to its type.

    Columns the signature does not name, and missing ones, are left for the
    signature's enforcement to report; without a named signature the columns are
    passed to pandas as they are.
    """
    import pandas as pd

    if not is_named_column_schema(schema):
        block = _number_block(columns)
        if block is not None:
            return pd.DataFrame(block, columns=_column_index(list(columns)), index=index)
        return pd.DataFrame(dict(columns), index=index)
    assert schema is not None
    specs = {spec.name: spec for spec in schema.inputs if isinstance(spec, ColSpec)}
    out = {}
    for name, values in columns.items():
        spec = specs.get(name)
        out[name] = values if spec is None else cast_column(name, values, spec.type)
    arrays = list(out.values())
    first = arrays[0] if arrays else None
    if (
        isinstance(first, np.ndarray)
        and first.dtype.kind in "biuf"
        and all(
            isinstance(a, np.ndarray) and a.dtype == first.dtype and a.shape == first.shape
            for a in arrays
        )
    ):
        # One 2-D block: pandas and the model then convert it to an array without copying
        # column by column, which is most of a 1-row request's cost outside the model.
        return pd.DataFrame(np.column_stack(arrays), columns=list(out), index=index)
    return pd.DataFrame(out, index=index)
