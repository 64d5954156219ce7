"""Model output in MLflow's response shapes: ``{"predictions": ...}``.

Like MLflow's ``predictions_to_json``: a 1-D array is a list (labels), a 2-D
array a list of rows (probabilities, multi-output), a Series or DataFrame a list
of records, a dict an object of lists, a scalar itself; datetimes are ISO 8601
text and bytes base64. One deliberate difference: NaN and ±Infinity become
``null`` so that every response is strict JSON (MLflow writes a bare ``NaN``,
which most JSON parsers reject).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from typing import Any

import numpy as np

from mltrack.exceptions import MltrackError

__all__ = ["predictions_frame", "predictions_json", "to_jsonable"]


def _array(array: np.ndarray) -> Any:
    kind = array.dtype.kind
    if kind in "biu":
        return array.tolist()
    if kind == "f":
        if np.isfinite(array).all():
            return array.tolist()
        objects = array.astype(object)
        objects[~np.isfinite(array)] = None
        return objects.tolist()
    if kind == "M":
        import pandas as pd

        texts = [None if np.isnat(v) else pd.Timestamp(v).isoformat() for v in array.reshape(-1)]
        return np.array(texts, dtype=object).reshape(array.shape).tolist()
    return (
        [to_jsonable(item) for item in array.tolist()] if array.ndim else to_jsonable(array.item())
    )


def to_jsonable(output: Any) -> Any:
    """Model output as plain JSON values (lists, dicts, str, numbers, bool, None)."""
    if isinstance(output, np.ndarray):
        return _array(output)
    if isinstance(output, (str, bool, int)) or output is None:
        return output
    if isinstance(output, float):
        return output if math.isfinite(output) else None
    if isinstance(output, np.datetime64):
        return _array(np.array([output]))[0]
    if isinstance(output, np.generic):
        return to_jsonable(output.item())
    if isinstance(output, (list, tuple)):
        return [to_jsonable(item) for item in output]
    if isinstance(output, dict):
        return {str(key): to_jsonable(value) for key, value in output.items()}
    if isinstance(output, (bytes, bytearray)):
        return base64.b64encode(output).decode("ascii")
    import pandas as pd

    if output is pd.NaT or output is pd.NA:
        return None
    if isinstance(output, (dt.datetime, dt.date, dt.time)):
        return output.isoformat()
    if isinstance(output, pd.Series):
        output = output.to_frame(name=output.name if output.name is not None else "0")
    if isinstance(output, pd.DataFrame):
        names = [str(column) for column in output.columns]
        if _one_number_dtype(output):  # one 2-D array: no Series per column
            return [dict(zip(names, row, strict=True)) for row in _array(output.to_numpy())]
        columns = [to_jsonable(output[column].to_numpy()) for column in output.columns]
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    raise MltrackError(
        f"The model returned {type(output).__name__}, which cannot be written as JSON; "
        "return a numpy array, a pandas DataFrame or Series, a list or a dict."
    )


def _one_number_dtype(frame: Any) -> bool:
    """Whether every column of ``frame`` has the same numpy bool or number dtype (names unique),
    so that its 2-D array converts exactly as its columns one by one would."""
    dtypes = frame.dtypes.tolist()
    if not dtypes or not frame.columns.is_unique:
        return False
    first = dtypes[0]
    return (
        isinstance(first, np.dtype)
        and first.kind in "biuf"
        and all(dtype == first for dtype in dtypes)
    )


def predictions_json(output: Any) -> bytes:
    """The response body for a model output."""
    return json.dumps({"predictions": to_jsonable(output)}, allow_nan=False).encode()


def predictions_frame(output: Any) -> Any:
    """Model output as a DataFrame with one row per input row (for CSV and Parquet files).

    A 1-D output is the column ``prediction``; a 2-D one the columns
    ``prediction_0``, ``prediction_1``, …; a Series keeps its name; a DataFrame its columns.
    """
    import pandas as pd

    if isinstance(output, pd.DataFrame):
        return output.reset_index(drop=True).rename(columns=str)
    if isinstance(output, pd.Series):
        return output.reset_index(drop=True).to_frame(
            name=str(output.name) if output.name is not None else "prediction"
        )
    if isinstance(output, dict):
        return pd.DataFrame({str(k): np.asarray(v) for k, v in output.items()})
    array = np.asarray(output)
    if array.ndim == 1:
        return pd.DataFrame({"prediction": array})
    if array.ndim == 2:
        return pd.DataFrame({f"prediction_{i}": array[:, i] for i in range(array.shape[1])})
    raise MltrackError(
        f"The model returned {array.ndim}-dimensional output, which does not fit in a table; "
        "write it as JSON (-o FILE.json)."
    )
