"""What each searchable entity accepts: prefixes, keys, comparators, order keys, tie-breaks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mltrack.search._nodes import (
    ATTRIBUTE,
    DATASET,
    ENTITY_EXPERIMENTS,
    ENTITY_LOGGED_MODELS,
    ENTITY_MODEL_VERSIONS,
    ENTITY_REGISTERED_MODELS,
    ENTITY_RUNS,
    METRIC,
    PARAM,
    TAG,
    OrderKey,
)

NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
NULL_OPS = ("IS NULL", "IS NOT NULL")
LIST_OPS = ("IN", "NOT IN")


@dataclass(frozen=True)
class Field:
    """The comparators and value type of one searchable key."""

    ops: tuple[str, ...]
    numeric: bool = False  # the value is a number literal
    integer: bool = False  # ... a whole number
    quoted_integer: bool = False  # ... or a quoted whole number ('3')


_STRING = Field(STRING_OPS)
_STRING_OR_LIST = Field(STRING_OPS + LIST_OPS)
_NUMBER = Field(NUMERIC_OPS, numeric=True)
_INTEGER = Field(NUMERIC_OPS, numeric=True, integer=True)
_VERSION_NUMBER = Field(NUMERIC_OPS, numeric=True, integer=True, quoted_integer=True)


@dataclass(frozen=True)
class Spec:
    noun: str
    prefixes: Mapping[str, str]  # spelling -> canonical prefix
    prefix_hint: str  # the spellings an error message suggests
    keyed: Mapping[str, Field]  # canonical prefix -> field, for any key (metrics, tags, ...)
    fixed: Mapping[str, Mapping[str, tuple[str, Field]]]  # prefix -> spelling -> (key, field)
    order_prefixes: frozenset[str]  # canonical prefixes order_by accepts
    order_attributes: Mapping[str, str]  # order_by spelling -> canonical key
    record_attrs: Mapping[str, str]  # canonical key -> record attribute, where they differ
    default_order: tuple[OrderKey, ...]  # when order_by is empty
    tiebreak: tuple[OrderKey, ...]  # appended unless the key is already ordered on
    unique_order: bool  # reject order_by naming one key twice (MLflow's SQL stores do)
    numeric_ids: frozenset[str] = frozenset()  # string keys that sort as numbers when digits
    prompts: bool = False  # a missing mlflow.prompt.is_prompt tag means "not a prompt"


_RUN_NAME = ("run_name", _STRING)
_START_TIME = ("start_time", _NUMBER)
_RUNS = Spec(
    noun="runs",
    prefix_hint="metrics., params., tags., attributes. or datasets.",
    prefixes={
        **dict.fromkeys(("metric", "metrics"), METRIC),
        **dict.fromkeys(("parameter", "parameters", "param", "params"), PARAM),
        **dict.fromkeys(("tag", "tags"), TAG),
        **dict.fromkeys(("attribute", "attributes", "attr", "run"), ATTRIBUTE),
        **dict.fromkeys(("dataset", "datasets"), DATASET),
    },
    keyed={
        METRIC: _NUMBER,
        PARAM: Field(STRING_OPS + NULL_OPS),
        TAG: Field(STRING_OPS + NULL_OPS),
    },
    fixed={
        ATTRIBUTE: {
            "run_id": ("run_id", _STRING_OR_LIST),
            "run_name": _RUN_NAME,
            **dict.fromkeys(("run name", "Run name", "Run Name"), _RUN_NAME),
            "status": ("status", _STRING),
            "user_id": ("user_id", _STRING),
            "artifact_uri": ("artifact_uri", _STRING),
            "start_time": _START_TIME,
            **dict.fromkeys(("created", "Created"), _START_TIME),
            "end_time": ("end_time", _NUMBER),
        },
        DATASET: {key: (key, _STRING_OR_LIST) for key in ("name", "digest", "context")},
    },
    order_prefixes=frozenset({METRIC, PARAM, TAG, ATTRIBUTE}),
    order_attributes={
        **{k: k for k in ("run_id", "run_name", "status", "user_id", "artifact_uri")},
        **{k: k for k in ("start_time", "end_time")},
        **dict.fromkeys(("created", "Created"), "start_time"),
    },
    record_attrs={},
    default_order=(),
    tiebreak=(OrderKey(ATTRIBUTE, "start_time", False), OrderKey(ATTRIBUTE, "run_id")),
    unique_order=True,
)
_EXPERIMENTS = Spec(
    noun="experiments",
    prefix_hint="tags. or attribute.",
    prefixes={"attribute": ATTRIBUTE, "tag": TAG, "tags": TAG},
    keyed={TAG: Field(STRING_OPS + NULL_OPS)},
    fixed={
        ATTRIBUTE: {
            "name": ("name", _STRING),
            "experiment_id": ("experiment_id", Field(("=", "!=", *LIST_OPS))),
            "creation_time": ("creation_time", _INTEGER),
            "last_update_time": ("last_update_time", _INTEGER),
        }
    },
    order_prefixes=frozenset({ATTRIBUTE}),
    order_attributes={k: k for k in ("name", "experiment_id", "creation_time", "last_update_time")},
    record_attrs={},
    default_order=(
        OrderKey(ATTRIBUTE, "creation_time", False),
        OrderKey(ATTRIBUTE, "experiment_id"),
    ),
    tiebreak=(OrderKey(ATTRIBUTE, "experiment_id", False),),
    unique_order=False,
    numeric_ids=frozenset({"experiment_id"}),
)
_REGISTERED_MODELS = Spec(
    noun="registered models",
    prefix_hint="tags. or attribute.",
    prefixes={"attribute": ATTRIBUTE, "tag": TAG, "tags": TAG},
    keyed={TAG: _STRING},
    fixed={ATTRIBUTE: {"name": ("name", _STRING_OR_LIST)}},
    order_prefixes=frozenset({ATTRIBUTE}),
    order_attributes={
        "name": "name",
        "timestamp": "last_updated_timestamp",  # MLflow's SQL store orders it so
        "last_updated_timestamp": "last_updated_timestamp",
    },
    record_attrs={},
    default_order=(),
    tiebreak=(OrderKey(ATTRIBUTE, "name"),),
    unique_order=True,
    prompts=True,
)
_MODEL_VERSIONS = Spec(
    noun="model versions",
    prefix_hint="tags. or attribute.",
    prefixes={"attribute": ATTRIBUTE, "tag": TAG, "tags": TAG},
    keyed={TAG: _STRING},
    fixed={
        ATTRIBUTE: {
            "name": ("name", _STRING_OR_LIST),
            "run_id": ("run_id", _STRING_OR_LIST),
            "source_path": ("source_path", _STRING),
            "version_number": ("version_number", _VERSION_NUMBER),
        }
    },
    order_prefixes=frozenset({ATTRIBUTE}),
    order_attributes={
        k: k for k in ("name", "version_number", "creation_timestamp", "last_updated_timestamp")
    },
    record_attrs={"version_number": "version", "source_path": "source"},
    default_order=(
        OrderKey(ATTRIBUTE, "last_updated_timestamp", False),
        OrderKey(ATTRIBUTE, "name"),
        OrderKey(ATTRIBUTE, "version_number", False),
    ),
    tiebreak=(OrderKey(ATTRIBUTE, "name"), OrderKey(ATTRIBUTE, "version_number", False)),
    unique_order=True,
    prompts=True,
)
_LOGGED_MODEL_TIMESTAMPS = ("creation_timestamp", "last_updated_timestamp")
# MLflow accepts the shorter names too (its search_logged_models example orders by creation_time).
_LOGGED_MODEL_TIME_ALIASES = {
    "creation_time": "creation_timestamp",
    "last_updated_time": "last_updated_timestamp",
}
# MLflow 3 clients find a run's logged model with search_logged_models("name = 'model'").
_LOGGED_MODELS = Spec(
    noun="logged models",
    prefix_hint="params., tags. or attributes.",
    prefixes={
        **dict.fromkeys(("attribute", "attributes"), ATTRIBUTE),
        **dict.fromkeys(("param", "params"), PARAM),
        **dict.fromkeys(("tag", "tags"), TAG),
    },
    keyed={PARAM: _STRING, TAG: _STRING},
    fixed={
        ATTRIBUTE: {
            **{
                key: (key, _STRING_OR_LIST)
                for key in ("name", "model_id", "source_run_id", "status", "model_type")
            },
            **{key: (key, _INTEGER) for key in _LOGGED_MODEL_TIMESTAMPS},
            **{alias: (key, _INTEGER) for alias, key in _LOGGED_MODEL_TIME_ALIASES.items()},
        }
    },
    order_prefixes=frozenset({ATTRIBUTE}),
    order_attributes={
        **{
            key: key
            for key in ("name", "model_id", "status", "model_type", *_LOGGED_MODEL_TIMESTAMPS)
        },
        **_LOGGED_MODEL_TIME_ALIASES,
    },
    record_attrs={},
    default_order=(OrderKey(ATTRIBUTE, "creation_timestamp", False),),
    tiebreak=(OrderKey(ATTRIBUTE, "model_id"),),
    unique_order=True,
)
SPECS = {
    ENTITY_RUNS: _RUNS,
    ENTITY_EXPERIMENTS: _EXPERIMENTS,
    ENTITY_REGISTERED_MODELS: _REGISTERED_MODELS,
    ENTITY_MODEL_VERSIONS: _MODEL_VERSIONS,
    ENTITY_LOGGED_MODELS: _LOGGED_MODELS,
}
COMPARATOR_WORDS = ("LIKE", "ILIKE", "IN", "NOT", "IS")
PREFIX_NOUNS = {METRIC: "metrics", PARAM: "params", TAG: "tags", DATASET: "datasets"}
PROMPT_TAG = "mlflow.prompt.is_prompt"


def spec_for(entity: str) -> Spec:
    try:
        return SPECS[entity]
    except KeyError:
        raise ValueError(f"Unknown search entity {entity!r}: use one of {sorted(SPECS)}") from None
