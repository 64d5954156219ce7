"""Column and tensor schemas in MLflow's JSON form (used by datasets and model signatures).

A column schema serialises as ``[{"type": "double", "name": "a", "required": true}, …]``
and a tensor schema as ``[{"type": "tensor", "tensor-spec": {"dtype": "float64",
"shape": [-1, 4]}}]`` — byte-for-byte what MLflow writes, so models and
datasets move between the two tools.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mltrack.exceptions import InvalidParameterValue

__all__ = [
    "ColSpec",
    "DataType",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "TensorSpec",
    "infer_schema",
]


class DataType:
    """MLflow's scalar type names."""

    boolean = "boolean"
    integer = "integer"
    long = "long"
    float = "float"
    double = "double"
    string = "string"
    binary = "binary"
    datetime = "datetime"

    ALL = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")

    @staticmethod
    def from_numpy(dtype: Any) -> str:
        """The type name for a numpy (or pandas extension) dtype, as MLflow infers it."""
        kind, size = dtype.kind, getattr(dtype, "itemsize", 8)
        if kind == "b":
            return DataType.boolean
        if kind in "iu":
            if size < 4 or (kind == "i" and size == 4):
                return DataType.integer
            if size < 8 or (kind == "i" and size == 8):
                return DataType.long
        if kind == "f":
            return DataType.float if size <= 4 else DataType.double
        if kind == "U":
            return DataType.string
        if kind == "S":
            return DataType.binary
        if kind == "M":
            return DataType.datetime
        raise InvalidParameterValue(f"Unsupported data type {dtype} for a schema.")

    @staticmethod
    def numpy_name(type_name: str) -> str:
        return {
            "boolean": "bool",
            "integer": "int32",
            "long": "int64",
            "float": "float32",
            "double": "float64",
            "string": "object",
            "binary": "object",
            "datetime": "datetime64[ns]",
        }[type_name]


@dataclass(frozen=True)
class ColSpec:
    type: str
    name: str | None = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass(frozen=True)
class TensorSpec:
    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "tensor",
            "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)},
        }
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass(frozen=True)
class Schema:
    """An ordered list of ColSpec or of TensorSpec (never mixed)."""

    inputs: tuple[ColSpec | TensorSpec, ...] = field(default_factory=tuple)

    @property
    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return bool(self.inputs) and all(spec.name is not None for spec in self.inputs)

    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs if spec.name is not None]

    def to_dict(self) -> list[dict[str, Any]]:
        return [spec.to_dict() for spec in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, items: list[dict[str, Any]]) -> Schema:
        specs: list[ColSpec | TensorSpec] = []
        for item in items:
            if item.get("type") == "tensor":
                spec = item["tensor-spec"]
                specs.append(TensorSpec(spec["dtype"], tuple(spec["shape"]), item.get("name")))
            else:
                type_name = item["type"]
                if isinstance(
                    type_name, dict
                ):  # arrays/objects: keep MLflow's nested form as a string
                    type_name = json.dumps(type_name)
                specs.append(ColSpec(type_name, item.get("name"), item.get("required", True)))
        return cls(tuple(specs))


@dataclass(frozen=True)
class ParamSpec:
    name: str
    dtype: str
    default: Any
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.dtype, "default": self.default, "shape": self.shape}


@dataclass(frozen=True)
class ParamSchema:
    params: tuple[ParamSpec, ...] = ()

    def to_json(self) -> str:
        return json.dumps([p.to_dict() for p in self.params])

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        return cls(
            tuple(
                ParamSpec(
                    p["name"],
                    p["type"],
                    p.get("default"),
                    tuple(p["shape"]) if p.get("shape") else None,
                )
                for p in json.loads(text)
            )
        )


def _column_type(series: Any) -> str:
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype) or (
        dtype.kind == "O" and pd.api.types.is_string_dtype(series)
    ):
        return DataType.string
    if dtype.kind == "O":
        series = series.infer_objects()
        dtype = series.dtype
        if dtype.kind == "O":
            values = [v for v in series.tolist() if v is not None]
            if values and all(isinstance(v, str) for v in values):
                return DataType.string
            if values and all(isinstance(v, (bytes, bytearray)) for v in values):
                return DataType.binary
            raise InvalidParameterValue(f"Cannot infer a schema type for column {series.name!r}.")
    if getattr(dtype, "kind", None) == "M" or str(dtype).startswith("datetime64"):
        return DataType.datetime
    if hasattr(dtype, "numpy_dtype"):  # pandas nullable Int64, Float64, boolean …
        return DataType.from_numpy(dtype.numpy_dtype)
    return DataType.from_numpy(dtype)


def infer_schema(data: Any) -> Schema:
    """The schema of a DataFrame, Series, dict of columns, numpy array or list of records."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, dict) and not all(isinstance(v, np.ndarray) for v in data.values()):
        data = pd.DataFrame(data if all(isinstance(v, list) for v in data.values()) else [data])
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = pd.DataFrame(data)
    if isinstance(data, pd.DataFrame):
        specs: list[ColSpec | TensorSpec] = []
        for name in data.columns:
            column = data[name]
            required = not bool(column.isna().any())
            specs.append(ColSpec(_column_type(column), str(name), required))
        return Schema(tuple(specs))
    if isinstance(data, dict):
        return Schema(
            tuple(
                TensorSpec(str(array.dtype), (-1, *array.shape[1:]), str(name))
                for name, array in data.items()
            )
        )
    if isinstance(data, list):
        data = np.asarray(data)
    if isinstance(data, np.ndarray):
        dtype = "object" if data.dtype.kind in "OUS" else str(data.dtype)
        return Schema((TensorSpec(dtype, (-1, *data.shape[1:])),))
    raise InvalidParameterValue(
        f"Cannot infer a schema from {type(data).__name__}: use a pandas DataFrame, a dict or a numpy array."
    )
