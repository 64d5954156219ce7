"""The parsed form of filters and order_by, and what evaluation reads from records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias

ENTITY_RUNS = "runs"
ENTITY_EXPERIMENTS = "experiments"
ENTITY_REGISTERED_MODELS = "registered_models"
ENTITY_MODEL_VERSIONS = "model_versions"
ENTITY_LOGGED_MODELS = "logged_models"

# The canonical entity prefixes a comparison or order key refers to.
METRIC = "metric"
PARAM = "param"
TAG = "tag"
ATTRIBUTE = "attribute"
DATASET = "dataset"


Value: TypeAlias = "str | int | float | tuple[str, ...] | None"
Expr: TypeAlias = "Comparison | And | Or"


@dataclass(frozen=True)
class Comparison:
    """``<prefix>.<key> <op> <value>`` with aliases resolved (``created`` is ``start_time``).

    ``op`` is upper-case (``LIKE``, ``NOT IN``, ``IS NULL``); ``value`` is a float for
    metrics, an int or float for numeric attributes, a tuple for IN lists, None for IS NULL.
    """

    prefix: str
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class And:
    terms: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    terms: tuple[Expr, ...]


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` clause, e.g. ``OrderKey("metric", "rmse", ascending=False)``."""

    prefix: str
    key: str
    ascending: bool = True


# Records are duck-typed: these protocols say what a filter or a sort reads.


class RunRecord(Protocol):
    """A run as a filter sees it: metrics hold each key's latest value."""

    @property
    def run_id(self) -> str: ...
    @property
    def run_name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def artifact_uri(self) -> str: ...
    @property
    def start_time(self) -> int: ...
    @property
    def end_time(self) -> int | None: ...
    @property
    def metrics(self) -> Mapping[str, float]: ...
    @property
    def params(self) -> Mapping[str, str]: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def datasets(self) -> Sequence[tuple[str, str, str | None]]:
        """(name, digest, context) of each logged input."""
        ...


class ExperimentRecord(Protocol):
    @property
    def experiment_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def creation_time(self) -> int | None: ...
    @property
    def last_update_time(self) -> int | None: ...


class RegisteredModelRecord(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def creation_timestamp(self) -> int | None: ...
    @property
    def last_updated_timestamp(self) -> int | None: ...


class LoggedModelRecord(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def source_run_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def params(self) -> Mapping[str, str]: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def creation_timestamp(self) -> int: ...


class ModelVersionRecord(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def run_id(self) -> str | None: ...
    @property
    def source(self) -> str: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def creation_timestamp(self) -> int | None: ...
    @property
    def last_updated_timestamp(self) -> int | None: ...
