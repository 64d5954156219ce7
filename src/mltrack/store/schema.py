"""Validation of every stored YAML file against the JSON Schemas in ``schema/``.

The schemas ship inside the wheel as ``mltrack/_schema``; in a source checkout
they are read from the project's top-level ``schema/`` directory.

Reading thousands of runs must stay fast, and jsonschema takes about a
millisecond per run.yaml. So each schema is also compiled into a plain-Python
checker for the small keyword subset our schemas use (compiling refuses any
other keyword). The checker only answers valid / invalid; when it says invalid,
jsonschema produces the messages. Tests check the two agree.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from mltrack.exceptions import CorruptStore, InvalidParameterValue

__all__ = [
    "SCHEMA_NAMES",
    "is_valid",
    "load_schema",
    "problems",
    "schema_dir",
    "validate_for_read",
    "validate_for_write",
]

SCHEMA_NAMES = ("mltrack", "experiment", "run", "model")

Check = Callable[[Any], bool]

_ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description", "default", "examples"}
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_dir() -> Path:
    packaged = Path(__file__).resolve().parent.parent / "_schema"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "schema"


@cache
def load_schema(kind: str) -> dict[str, Any]:
    path = schema_dir() / f"{kind}.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@cache
def _validator(kind: str) -> Any:
    """jsonschema, with the fast checker's strict types: ``1.0`` is not an integer, nor ``1``."""
    import jsonschema

    schema = load_schema(kind)
    base = jsonschema.validators.validator_for(schema)

    def strict_equal(validator: Any, expected: Any, instance: Any, _: Any) -> Any:
        if not (instance == expected and type(instance) is type(expected)):
            yield jsonschema.ValidationError(f"{expected!r} was expected")

    def strict_enum(validator: Any, allowed: Any, instance: Any, _: Any) -> Any:
        if not any(instance == a and type(instance) is type(a) for a in allowed):
            yield jsonschema.ValidationError(f"{instance!r} is not one of {allowed!r}")

    strict = jsonschema.validators.extend(
        base,
        validators={"const": strict_equal, "enum": strict_enum},
        type_checker=base.TYPE_CHECKER.redefine("integer", lambda _, v: _TYPES["integer"](v)),
    )
    return strict(schema)


@cache
def _checker(kind: str) -> Check:
    root = load_schema(kind)
    return _compile(root, root)


def _compile(node: dict[str, Any], root: dict[str, Any]) -> Check:
    unknown = set(node) - _ANNOTATIONS - set(_KEYWORDS)
    if unknown:
        raise ValueError(f"schema keyword(s) {sorted(unknown)} not supported by the fast checker")
    compiled = [_KEYWORDS[key](node, root) for key in _KEYWORDS if key in node]
    checks = [c for c in compiled if c is not None]
    if len(checks) == 1:
        return checks[0]

    def check_all(value: Any) -> bool:
        for check in checks:  # noqa: SIM110 - a loop is faster than all() over a generator
            if not check(value):
                return False
        return True

    return check_all


def _kw_ref(node: dict[str, Any], root: dict[str, Any]) -> Check:
    target: Any = root
    for part in node["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return _compile(target, root)


def _kw_type(node: dict[str, Any], root: dict[str, Any]) -> Check:
    names = node["type"] if isinstance(node["type"], list) else [node["type"]]
    tests = [_TYPES[name] for name in names]
    if len(tests) == 1:
        return tests[0]
    return lambda value: any(test(value) for test in tests)


def _kw_enum(node: dict[str, Any], root: dict[str, Any]) -> Check:
    allowed = node["enum"]
    return lambda value: any(value == a and type(value) is type(a) for a in allowed)


def _kw_const(node: dict[str, Any], root: dict[str, Any]) -> Check:
    expected = node["const"]
    return lambda value: value == expected and type(value) is type(expected)


def _kw_pattern(node: dict[str, Any], root: dict[str, Any]) -> Check:
    search = re.compile(node["pattern"]).search
    return lambda value: not isinstance(value, str) or search(value) is not None


def _kw_min_length(node: dict[str, Any], root: dict[str, Any]) -> Check:
    bound = node["minLength"]
    return lambda value: not isinstance(value, str) or len(value) >= bound


def _kw_max_length(node: dict[str, Any], root: dict[str, Any]) -> Check:
    bound = node["maxLength"]
    return lambda value: not isinstance(value, str) or len(value) <= bound


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kw_minimum(node: dict[str, Any], root: dict[str, Any]) -> Check:
    bound = node["minimum"]
    return lambda value: not _is_number(value) or math.isnan(value) or value >= bound


def _kw_exclusive_minimum(node: dict[str, Any], root: dict[str, Any]) -> Check:
    bound = node["exclusiveMinimum"]
    return lambda value: not _is_number(value) or math.isnan(value) or value > bound


def _kw_required(node: dict[str, Any], root: dict[str, Any]) -> Check:
    names = tuple(node["required"])
    return lambda value: not isinstance(value, dict) or all(name in value for name in names)


def _kw_properties(node: dict[str, Any], root: dict[str, Any]) -> Check:
    props = {name: _compile(sub, root) for name, sub in node["properties"].items()}
    extra = node.get("additionalProperties", True)
    extra_check: Check | None
    if extra is True:
        extra_check = None
    elif extra is False:
        extra_check = lambda value: False  # noqa: E731
    else:
        extra_check = _compile(extra, root)

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for key, item in value.items():
            sub = props.get(key)
            if sub is not None:
                if not sub(item):
                    return False
            elif extra_check is not None and not extra_check(item):
                return False
        return True

    return check


def _kw_additional_properties(node: dict[str, Any], root: dict[str, Any]) -> Check | None:
    if "properties" in node:
        return None  # handled together with properties
    extra = node["additionalProperties"]
    if extra is True:
        return None
    if extra is False:
        return lambda value: not isinstance(value, dict) or not value
    sub = _compile(extra, root)

    def check(value: Any) -> bool:
        if isinstance(value, dict):
            for item in value.values():
                if not sub(item):
                    return False
        return True

    return check


def _kw_property_names(node: dict[str, Any], root: dict[str, Any]) -> Check:
    sub = _compile(node["propertyNames"], root)
    valid: set[str] = set()  # names already checked: a store repeats the same keys

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for name in value:
            if name not in valid:
                if not sub(name):
                    return False
                if len(valid) < 100_000:
                    valid.add(name)
        return True

    return check


def _kw_items(node: dict[str, Any], root: dict[str, Any]) -> Check:
    sub = _compile(node["items"], root)
    return lambda value: not isinstance(value, list) or all(sub(v) for v in value)


_KEYWORDS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Check | None]] = {
    "$ref": _kw_ref,
    "type": _kw_type,
    "enum": _kw_enum,
    "const": _kw_const,
    "pattern": _kw_pattern,
    "minLength": _kw_min_length,
    "maxLength": _kw_max_length,
    "minimum": _kw_minimum,
    "exclusiveMinimum": _kw_exclusive_minimum,
    "required": _kw_required,
    "properties": _kw_properties,
    "additionalProperties": _kw_additional_properties,
    "propertyNames": _kw_property_names,
    "items": _kw_items,
}


def is_valid(kind: str, document: Any) -> bool:
    """Fast yes/no validation of ``document`` against ``schema/<kind>.schema.json``."""
    return _checker(kind)(document)


def _field(path: Any) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def problems(kind: str, document: Any) -> list[str]:
    """Every schema violation in ``document`` as ``field 'a.b': message`` strings."""
    errors = _validator(kind).iter_errors(document)
    return [
        f"field '{_field(error.absolute_path)}': {error.message}"
        for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path)))
    ]


def validate_for_read(kind: str, document: Any, where: str) -> None:
    """Raise CorruptStore naming the file and field when a stored document is invalid."""
    if not isinstance(document, dict):
        raise CorruptStore(where, f"expected a YAML mapping, found {type(document).__name__}")
    if not is_valid(kind, document):
        raise CorruptStore(where, "; ".join(problems(kind, document)[:3]))


def validate_for_write(kind: str, document: Any, where: str) -> None:
    """Refuse to write a document that would not validate (nothing is written)."""
    if not is_valid(kind, document):
        details = "; ".join(problems(kind, document)[:3])
        raise InvalidParameterValue(f"Refusing to write {where}: {details}")
