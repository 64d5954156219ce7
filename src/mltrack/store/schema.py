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


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
        type_checker=base.TYPE_CHECKER.redefine("integer", lambda _, v: _is_integer(v)),
    )
    return strict(schema)


@cache
def _checker(kind: str) -> Check:
    root = load_schema(kind)
    return _compile(root, root)


def _compile(node: dict[str, Any], root: dict[str, Any]) -> Check:
    """Python source that checks ``node``, compiled once: one function per schema, its
    keywords inlined (no call per keyword and value), so 10,000 run.yaml check in a blink."""
    code = _CheckCode(root)
    code.emit(node, "v", 1)
    source = "def check(v):\n" + "\n".join(code.lines) + "\n    return True\n"
    namespace = dict(code.constants, math=math)
    exec(compile(source, f"<schema check {node.get('$id', '')}>", "exec"), namespace)
    check: Check = namespace["check"]
    return check


_TYPE_TESTS = {
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    "integer": "(isinstance({v}, int) and not isinstance({v}, bool))",
    "number": "(isinstance({v}, (int, float)) and not isinstance({v}, bool))",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
}


class _CheckCode:
    """Emits the statements of a check: each returns False as soon as the value fails."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._names = 0
        self._refs: list[str] = []

    def name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def constant(self, value: Any) -> str:
        name = self.name("C")
        self.constants[name] = value
        return name

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def emit(self, node: dict[str, Any], v: str, depth: int) -> None:
        unknown = set(node) - _ANNOTATIONS - _KEYWORDS
        if unknown:
            raise ValueError(
                f"schema keyword(s) {sorted(unknown)} not supported by the fast checker"
            )
        if "$ref" in node:
            ref = node["$ref"]
            if ref in self._refs:
                raise ValueError(f"recursive $ref {ref!r} not supported by the fast checker")
            target: Any = self.root
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            self._refs.append(ref)
            self.emit(target, v, depth)
            self._refs.pop()
        if "type" in node:
            names = node["type"] if isinstance(node["type"], list) else [node["type"]]
            test = " or ".join(_TYPE_TESTS[name].format(v=v) for name in names)
            self.line(depth, f"if not ({test}): return False")
        if "enum" in node:
            allowed = node["enum"]
            if all(type(a) is str for a in allowed):
                self.line(
                    depth,
                    f"if type({v}) is not str or {v} not in {self.constant(frozenset(allowed))}: return False",
                )
            else:
                options = self.constant(tuple(allowed))
                self.line(
                    depth,
                    f"if not any({v} == a and type({v}) is type(a) for a in {options}): return False",
                )
        if "const" in node:
            expected = self.constant(node["const"])
            self.line(
                depth, f"if not ({v} == {expected} and type({v}) is type({expected})): return False"
            )
        if "pattern" in node:
            search = self.constant(re.compile(node["pattern"]).search)
            self.line(depth, f"if isinstance({v}, str) and {search}({v}) is None: return False")
        if "minLength" in node:
            self.line(
                depth,
                f"if isinstance({v}, str) and len({v}) < {int(node['minLength'])}: return False",
            )
        if "maxLength" in node:
            self.line(
                depth,
                f"if isinstance({v}, str) and len({v}) > {int(node['maxLength'])}: return False",
            )
        number = _TYPE_TESTS["number"].format(v=v)
        # NaN compares False both ways: it passes a bound, as in jsonschema.
        if "minimum" in node:
            self.line(
                depth, f"if {number} and {v} < {self.constant(node['minimum'])}: return False"
            )
        if "exclusiveMinimum" in node:
            self.line(
                depth,
                f"if {number} and {v} <= {self.constant(node['exclusiveMinimum'])}: return False",
            )
        if "required" in node:
            present = " and ".join(f"{name!r} in {v}" for name in node["required"]) or "True"
            self.line(depth, f"if isinstance({v}, dict) and not ({present}): return False")
        if "propertyNames" in node:
            self._property_names(node["propertyNames"], v, depth)
        if "properties" in node:
            self._properties(node, v, depth)
        elif "additionalProperties" in node:
            self._additional(node["additionalProperties"], v, depth, known=None)
        if "items" in node:
            item = self.name("x")
            self.line(depth, f"if isinstance({v}, list):")
            self.line(depth + 1, f"for {item} in {v}:")
            self.emit(node["items"], item, depth + 2)

    def _property_names(self, sub: dict[str, Any], v: str, depth: int) -> None:
        # Names already checked are remembered: a store repeats the same keys.
        valid = self.constant(set())
        key = self.name("k")
        self.line(depth, f"if isinstance({v}, dict):")
        self.line(depth + 1, f"for {key} in {v}:")
        self.line(depth + 2, f"if {key} not in {valid}:")
        self.emit(sub, key, depth + 3)
        self.line(depth + 3, f"if len({valid}) < 100_000: {valid}.add({key})")

    def _properties(self, node: dict[str, Any], v: str, depth: int) -> None:
        properties: dict[str, Any] = node["properties"]
        missing = self.constant(object())
        self.line(depth, f"if isinstance({v}, dict):")
        for name, sub in properties.items():
            item = self.name("p")
            self.line(depth + 1, f"{item} = {v}.get({name!r}, {missing})")
            self.line(depth + 1, f"if {item} is not {missing}:")
            self.line(depth + 2, "pass")
            self.emit(sub, item, depth + 2)
        extra = node.get("additionalProperties", True)
        self._additional(extra, v, depth + 1, known=frozenset(properties), guarded=True)

    def _additional(
        self, extra: Any, v: str, depth: int, known: frozenset[str] | None, guarded: bool = False
    ) -> None:
        if extra is True:
            return
        if not guarded:
            self.line(depth, f"if isinstance({v}, dict):")
            depth += 1
        if extra is False:
            if known is None:
                self.line(depth, f"if {v}: return False")
            else:
                self.line(depth, f"if {v}.keys() - {self.constant(known)}: return False")
            return
        item = self.name("x")
        if known is None:
            self.line(depth, f"for {item} in {v}.values():")
            self.emit(extra, item, depth + 1)
        else:
            key = self.name("k")
            self.line(depth, f"for {key}, {item} in {v}.items():")
            self.line(depth + 1, f"if {key} not in {self.constant(known)}:")
            self.line(depth + 2, "pass")
            self.emit(extra, item, depth + 2)


_KEYWORDS = frozenset(
    {
        "$ref",
        "type",
        "enum",
        "const",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "exclusiveMinimum",
        "required",
        "properties",
        "additionalProperties",
        "propertyNames",
        "items",
    }
)


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
