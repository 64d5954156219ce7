"""Model signatures: inferred from an input example, enforced on every predict.

Enforcement follows MLflow's rules for column schemas (reorder to the schema,
safe numeric widening, refuse lossy conversions) with two deliberate
differences: an input column the signature does not know is an error naming it
(MLflow drops it with a warning), and an integer column is accepted for a
``double`` column when every value is exactly representable (MLflow refuses
int64 there, which trips up JSON and CSV users).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mltrack.exceptions import SchemaEnforcementError
from mltrack.types import (
    ColSpec,
    DataType,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_schema,
)

__all__ = ["ModelSignature", "enforce_params", "enforce_schema", "infer_signature"]

_EXACT_INT_LIMIT = 2**53


@dataclass(frozen=True)
class ModelSignature:
    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs.to_json() if self.inputs else None,
            "outputs": self.outputs.to_json() if self.outputs else None,
            "params": self.params.to_json() if self.params else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSignature:
        def schema(text: Any) -> Schema | None:
            return Schema.from_json(text) if isinstance(text, str) and text else None

        params = data.get("params")
        return cls(
            inputs=schema(data.get("inputs")),
            outputs=schema(data.get("outputs")),
            params=ParamSchema.from_json(params) if isinstance(params, str) and params else None,
        )


def _infer_params(params: dict[str, Any]) -> ParamSchema:
    specs = []
    for name, value in params.items():
        if isinstance(value, bool):
            kind = DataType.boolean
        elif isinstance(value, int):
            kind = DataType.long
        elif isinstance(value, float):
            kind = DataType.double
        else:
            kind = DataType.string
        specs.append(ParamSpec(name, kind, value))
    return ParamSchema(tuple(specs))


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: dict[str, Any] | None = None
) -> ModelSignature:
    """A signature from example inputs and outputs (MLflow's ``infer_signature``)."""
    return ModelSignature(
        inputs=infer_schema(model_input) if model_input is not None else None,
        outputs=infer_schema(model_output) if model_output is not None else None,
        params=_infer_params(params) if params else None,
    )


def _as_frame(data: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, dict):
        if all(np.isscalar(v) or v is None for v in data.values()):
            return pd.DataFrame([data])
        return pd.DataFrame(data)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return pd.DataFrame(data)
    return None


def _convert_column(name: str, series: Any, spec: ColSpec) -> Any:
    """``series`` converted to the spec's type, or SchemaEnforcementError naming the column."""
    import numpy as np
    import pandas as pd

    wanted = spec.type
    if wanted not in DataType.ALL:  # arrays, objects, maps: passed to the model unchecked
        return series
    dtype = series.dtype
    kind = getattr(dtype, "kind", "O")

    def refuse(found: str) -> SchemaEnforcementError:
        return SchemaEnforcementError(
            f"Column {name!r} has type {found}, but the model's signature expects {wanted}; "
            f"convert it before calling predict."
        )

    if wanted in (DataType.string,):
        if kind in "OUS" or isinstance(dtype, pd.StringDtype):
            values = [
                v
                for v in series.tolist()
                if v is not None and not (isinstance(v, float) and np.isnan(v))
            ]
            if all(isinstance(v, str) for v in values):
                return series
        raise refuse(str(dtype))
    if wanted == DataType.binary:
        if kind in "OS" or isinstance(dtype, pd.StringDtype):
            return series
        raise refuse(str(dtype))
    if wanted == DataType.datetime:
        if kind == "M":
            return series.astype("datetime64[ns]")
        if kind == "O" or isinstance(dtype, pd.StringDtype):
            try:
                return pd.to_datetime(series)
            except (ValueError, TypeError):
                raise refuse(str(dtype)) from None
        raise refuse(str(dtype))
    if wanted == DataType.boolean:
        if kind == "b" or (kind == "O" and all(isinstance(v, bool) for v in series.tolist())):
            return series.astype(bool)
        raise refuse(str(dtype))
    target = np.dtype(DataType.numpy_name(wanted))
    if kind not in "iufb" or kind == "b":
        raise refuse("string" if kind in "OUS" or isinstance(dtype, pd.StringDtype) else str(dtype))
    if hasattr(dtype, "numpy_dtype"):  # pandas nullable Int64/Float64
        if series.isna().any() and target.kind in "iu":
            raise SchemaEnforcementError(
                f"Column {name!r} has missing values, but the signature expects {wanted}."
            )
        series = series.astype(dtype.numpy_dtype if not series.isna().any() else "float64")
        dtype = series.dtype
        kind = dtype.kind
    if dtype == target:
        return series
    if target.kind == "f":
        if kind == "f" and dtype.itemsize <= target.itemsize:
            return series.astype(target)
        if kind in "iu":
            values = series.to_numpy()
            small = dtype.itemsize <= (2 if target.itemsize == 4 else 4)
            zero_one = bool(np.isin(values, (0, 1)).all())
            exact = target.itemsize == 8 and bool(
                (np.abs(values.astype(np.float64)) <= _EXACT_INT_LIMIT).all()
            )
            if small or zero_one or exact:
                return series.astype(target)
        raise refuse(str(dtype))
    # integer targets
    if kind == "i" and dtype.itemsize <= target.itemsize:
        return series.astype(target)
    if kind == "u" and dtype.itemsize < target.itemsize:
        return series.astype(target)
    raise refuse(str(dtype))


_EXACT_DTYPES = {
    DataType.double: "float64",
    DataType.float: "float32",
    DataType.long: "int64",
    DataType.integer: "int32",
    DataType.boolean: "bool",
}


def _conforms(frame: Any, specs: list[ColSpec]) -> bool:
    """True when ``frame`` already has exactly the signature's columns, in order, with its
    numeric types: the common case (the scoring server casts first), checked in microseconds."""
    if len(frame) == 0 or len(frame.columns) != len(specs):
        return False
    for column, dtype, spec in zip(frame.columns, frame.dtypes, specs, strict=True):
        wanted = _EXACT_DTYPES.get(spec.type)
        if column != spec.name or wanted is None or dtype != wanted:
            return False
    return True


def _enforce_tensor(data: Any, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd

    spec = schema.inputs[0]
    assert isinstance(spec, TensorSpec)
    if isinstance(data, pd.DataFrame):
        data = data.to_numpy()
    if isinstance(data, list):
        data = np.asarray(data)
    if not isinstance(data, np.ndarray):
        raise SchemaEnforcementError(
            f"The model expects a tensor of {spec.dtype} with shape {list(spec.shape)}; got {type(data).__name__}."
        )
    expected = np.dtype(spec.dtype) if spec.dtype not in ("object", "str") else None
    if expected is not None and data.dtype != expected:
        if (
            data.dtype.kind in "iuf"
            and expected.kind == "f"
            and np.can_cast(data.dtype, expected, "safe")
        ):
            data = data.astype(expected)
        else:
            raise SchemaEnforcementError(
                f"The model expects a tensor of {expected}; got {data.dtype}. Convert the input first."
            )
    if len(data.shape) != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape, data.shape, strict=True)
    ):
        raise SchemaEnforcementError(
            f"The model expects input of shape {list(spec.shape)} (-1 = any); got {list(data.shape)}."
        )
    return data


def enforce_schema(data: Any, schema: Schema | None) -> Any:
    """``data`` checked against ``schema`` and converted as the model expects it."""
    if schema is None or not schema.inputs:
        return data
    if schema.is_tensor_spec:
        return _enforce_tensor(data, schema)
    frame = _as_frame(data)
    if frame is None:
        import pandas as pd

        if schema.has_input_names():
            expected_names = ", ".join(schema.input_names())
            raise SchemaEnforcementError(
                f"The model expects named columns ({expected_names}); got {type(data).__name__} "
                "without column names. Pass a DataFrame or a list of records."
            )
        if data is None:
            raise SchemaEnforcementError("The model received no input.")
        frame = pd.DataFrame(data)
    if not schema.has_input_names():
        specs = list(schema.inputs)
        if len(frame.columns) != len(specs):
            raise SchemaEnforcementError(
                f"The model expects {len(specs)} column(s); got {len(frame.columns)}."
            )
        out = frame.copy()
        for column, spec in zip(frame.columns, specs, strict=True):
            assert isinstance(spec, ColSpec)
            out[column] = _convert_column(str(column), frame[column], spec)
        return out
    expected = [
        spec for spec in schema.inputs if isinstance(spec, ColSpec) and spec.name is not None
    ]
    if _conforms(frame, expected):
        return frame
    names = [str(spec.name) for spec in expected]
    columns = [str(c) for c in frame.columns]
    missing = [spec.name for spec in expected if spec.required and spec.name not in columns]
    extra = [c for c in columns if c not in names]
    if missing:
        raise SchemaEnforcementError(
            f"Model input is missing column(s) {missing}; the signature expects {names}."
            + (f" Unexpected column(s): {extra}." if extra else "")
        )
    if extra:
        raise SchemaEnforcementError(
            f"Model input has column(s) {extra} that the signature does not define ({names})."
        )
    if len(frame) == 0:
        raise SchemaEnforcementError("Model input has no rows.")
    frame = frame.rename(columns={c: str(c) for c in frame.columns})
    out = {}
    for spec in expected:
        column = str(spec.name)
        if column in frame.columns:
            out[column] = _convert_column(column, frame[column], spec)
    import pandas as pd

    return pd.DataFrame(out, index=frame.index)


def enforce_params(
    params: dict[str, Any] | None, schema: ParamSchema | None
) -> dict[str, Any] | None:
    """Params with defaults filled in; unknown params are an error naming them."""
    if schema is None:
        return params
    given = dict(params or {})
    known = {spec.name: spec for spec in schema.params}
    unknown = [k for k in given if k not in known]
    if unknown:
        raise SchemaEnforcementError(
            f"Unknown param(s) {unknown}; the model accepts {sorted(known)}."
        )
    out = {}
    for name, spec in known.items():
        value = given.get(name, spec.default)
        if (
            spec.dtype in (DataType.double, DataType.float)
            and isinstance(value, int)
            and not isinstance(value, bool)
        ):
            value = float(value)
        elif spec.dtype in (DataType.long, DataType.integer) and not (
            isinstance(value, int) and not isinstance(value, bool)
        ):
            raise SchemaEnforcementError(
                f"Param {name!r} must be an integer; got {json.dumps(value, default=str)}."
            )
        out[name] = value
    return out
