"""Compiling a parsed filter into closures, and sorting records by order_by."""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from mltrack.search._entities import (
    LIST_OPS,
    PROMPT_TAG,
    Spec,
    spec_for,
)
from mltrack.search._nodes import (
    ATTRIBUTE,
    DATASET,
    ENTITY_RUNS,
    METRIC,
    PARAM,
    TAG,
    And,
    Comparison,
    Expr,
    OrderKey,
    Value,
)
from mltrack.search._parser import Parser
from mltrack.search._tokens import raise_syntax_error

T = TypeVar("T")
Predicate: TypeAlias = Callable[[Any], bool]


def _like(pattern: str, ignore_case: bool) -> Predicate:
    """SQL LIKE: % any run of characters, _ exactly one; ILIKE ignores case."""
    core = pattern.strip("%")
    if not ignore_case and "%" not in core and "_" not in core:
        # 'x%', '%x', '%x%' and 'x' are string methods, several times faster than a regex
        prefix, suffix = pattern.startswith("%"), pattern.endswith("%")
        if prefix and suffix:
            return lambda lhs: core in lhs
        if suffix:
            return lambda lhs: lhs.startswith(core)
        return (lambda lhs: lhs.endswith(core)) if prefix else (lambda lhs: lhs == core)
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    fullmatch = re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0)).fullmatch
    return lambda lhs: fullmatch(lhs) is not None


# ``value OP lhs`` with the operator mirrored, so that partial() can bind the constant.
_MIRRORED: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.gt,
    "<=": operator.ge,
    ">": operator.lt,
    ">=": operator.le,
}


def _value_test(op: str, value: Value) -> Predicate:
    """A test of a present (non-None) left-hand side."""
    if op in ("LIKE", "ILIKE"):
        return _like(str(value), op == "ILIKE")
    if op in LIST_OPS:
        members = frozenset(value if isinstance(value, tuple) else ())
        return members.__contains__ if op == "IN" else lambda lhs: lhs not in members
    return functools.partial(_MIRRORED[op], value)


def _getter(spec: Spec, prefix: str, key: str) -> Callable[[Any], Any]:
    if prefix == METRIC:
        return lambda record: record.metrics.get(key)
    if prefix == PARAM:
        return lambda record: record.params.get(key)
    if prefix == TAG:
        return lambda record: record.tags.get(key)
    if prefix == ATTRIBUTE:
        return operator.attrgetter(spec.record_attrs.get(key, key))
    raise ValueError(f"No getter for {prefix}.{key} in {spec.noun}")


def _compile_comparison(spec: Spec, comparison: Comparison) -> Predicate:
    prefix, key, op, value = comparison.prefix, comparison.key, comparison.op, comparison.value
    if prefix == DATASET:
        index = ("name", "digest", "context").index(key)
        test = _value_test(op, value)
        return lambda record: any(d[index] is not None and test(d[index]) for d in record.datasets)
    get = _getter(spec, prefix, key)
    if op == "IS NULL":
        return lambda record: get(record) is None
    if op == "IS NOT NULL":
        return lambda record: get(record) is not None
    test = _value_test(op, value)
    # Models without the prompt tag are not prompts (MLflow's registry stores agree).
    missing = (
        prefix == TAG
        and key == PROMPT_TAG
        and spec.prompts
        and (op, value) in (("=", "false"), ("!=", "true"))
    )

    def check(record: Any) -> bool:
        lhs = get(record)
        return missing if lhs is None else test(lhs)

    return check


def _compile(spec: Spec, expr: Expr) -> Predicate:
    if isinstance(expr, Comparison):
        return _compile_comparison(spec, expr)
    parts = [_compile(spec, term) for term in expr.terms]
    return functools.reduce(_both if isinstance(expr, And) else _either, parts)


def _both(first: Predicate, second: Predicate) -> Predicate:
    return lambda record: first(record) and second(record)


def _either(first: Predicate, second: Predicate) -> Predicate:
    return lambda record: first(record) or second(record)


def _comparisons(expr: Expr | None) -> Iterable[Comparison]:
    if isinstance(expr, Comparison):
        yield expr
    elif expr is not None:
        for term in expr.terms:
            yield from _comparisons(term)


def _match_all(record: Any) -> bool:
    return True


@dataclass(frozen=True)
class Filter:
    """A parsed, compiled filter. ``expr`` is the AST (None: match everything)."""

    text: str
    entity: str
    expr: Expr | None
    predicate: Predicate = field(repr=False, compare=False)

    def matches(self, record: Any) -> bool:
        """Whether ``record`` (see the ``*Record`` protocols) satisfies the filter."""
        return self.predicate(record)

    def select(self, records: Iterable[T]) -> list[T]:
        """The records that match, in their order."""
        return list(filter(self.predicate, records))

    def comparisons(self) -> tuple[Comparison, ...]:
        return tuple(_comparisons(self.expr))

    def references(self) -> frozenset[tuple[str, str]]:
        """Every ``(prefix, key)`` the filter reads, e.g. ``("metric", "rmse")``."""
        return frozenset((c.prefix, c.key) for c in _comparisons(self.expr))


def parse_filter(text: str | None, entity: str = ENTITY_RUNS) -> Filter:
    """Parse and compile a ``filter_string``; raise FilterSyntaxError naming the position."""
    spec = spec_for(entity)
    source = text or ""
    expr = Parser(source, spec).parse_filter()
    predicate = _match_all if expr is None else _compile(spec, expr)
    return Filter(source, entity, expr, predicate)


def parse_order_by(clauses: Sequence[str] | None, entity: str = ENTITY_RUNS) -> list[OrderKey]:
    """Parse ``["metrics.rmse DESC", "start_time"]``; a lone string counts as one clause."""
    spec = spec_for(entity)
    if isinstance(clauses, str):
        clauses = [clauses]
    keys: list[OrderKey] = []
    for clause in clauses or ():
        key = Parser(clause, spec).parse_order_key()
        if spec.unique_order and any((k.prefix, k.key) == (key.prefix, key.key) for k in keys):
            raise_syntax_error(
                f"order_by names {key.prefix} '{key.key}' twice; keep one clause", clause, 0
            )
        keys.append(key)
    return keys


def _numeric_id(value: str) -> tuple[int, int, str]:
    return (0, int(value), "") if value.isascii() and value.isdigit() else (1, 0, value)


def _sort_value(spec: Spec, key: OrderKey) -> Callable[[Any], Any]:
    get = _getter(spec, key.prefix, key.key)
    if key.key in spec.numeric_ids:
        return lambda record: None if get(record) is None else _numeric_id(str(get(record)))
    return get


def _stable_sort(records: list[T], get: Callable[[T], Any], ascending: bool) -> list[T]:
    """Sort on one key: values first (stable), then NaN, then None, in both directions."""
    present: list[tuple[Any, T]] = []
    nans: list[T] = []
    missing: list[T] = []
    for record in records:
        value = get(record)
        if value is None:
            missing.append(record)
        elif isinstance(value, float) and math.isnan(value):
            nans.append(record)
        else:
            present.append((value, record))
    present.sort(key=operator.itemgetter(0), reverse=not ascending)
    return [record for _, record in present] + nans + missing


def sort_records(records: Sequence[T], order: list[OrderKey], entity: str = ENTITY_RUNS) -> list[T]:
    """Sort by ``order`` (from parse_order_by), then by the entity's tie-break."""
    spec = spec_for(entity)
    keys = list(order) or list(spec.default_order)
    ordered = {(k.prefix, k.key) for k in keys}
    keys += [k for k in spec.tiebreak if (k.prefix, k.key) not in ordered]
    result = list(records)
    for key in reversed(keys):
        result = _stable_sort(result, _sort_value(spec, key), key.ascending)
    return result
