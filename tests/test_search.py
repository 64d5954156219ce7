"""mltrack.search: the filter and order_by grammar, its errors and its evaluation.

The expected matches below agree with MLflow 3.17 (checked against its SQLite store by
``tests/mlflow_crosscheck_search.py`` on the same data).
"""

from __future__ import annotations

import functools
import math
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mltrack import search
from mltrack.exceptions import FilterSyntaxError, InvalidParameterValue
from mltrack.search import (
    ENTITY_EXPERIMENTS,
    ENTITY_MODEL_VERSIONS,
    ENTITY_REGISTERED_MODELS,
    ENTITY_RUNS,
    And,
    Comparison,
    Expr,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
    sort_records,
)

NAN = math.nan


# --- Records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    run_id: str
    run_name: str
    status: str = "FINISHED"
    user_id: str = "alice"
    artifact_uri: str = ""
    start_time: int = 0
    end_time: int | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    datasets: Sequence[tuple[str, str, str | None]] = ()


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    run_id: str | None = None
    source: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None


RUNS = [
    Run(
        "id1",
        "r1",
        "FINISHED",
        "alice",
        "file:///a/id1/artifacts",
        1000,
        2000,
        metrics={"a": 0.5, "b": -1.0, "n": NAN},
        params={"lr": "0.1", "model": "cnn"},
        tags={"team": "Vision", "mlflow.runName": "r1"},
        datasets=(("train-ds", "d1", "train"), ("eval-ds", "d2", "eval")),
    ),
    Run(
        "id2",
        "r2",
        "RUNNING",
        "bob",
        "file:///a/id2/artifacts",
        2000,
        None,
        metrics={"a": 1.5, "n": 3.0},
        params={"lr": "0.01", "model": "CNN-large"},
        tags={"team": "nlp", "note": "it's", "mlflow.runName": "r2"},
        datasets=(("train-ds", "d1", None),),
    ),
    Run(
        "id3",
        "r3",
        "FAILED",
        "alice",
        "file:///a/id3/artifacts",
        1000,
        1500,
        params={"model": "rnn"},
        tags={"mlflow.runName": "r3"},
    ),
    Run(
        "id4",
        "Run_4%",
        "FINISHED",
        "carol",
        "file:///a/id4/artifacts",
        3000,
        3500,
        metrics={"a": 1e-3, "val-loss/x:1": 2.0, "b": -2.0},
        params={"a b": "x", "model": ""},
        tags={"weird key": "100%", "team": "nlp", "mlflow.runName": "Run_4%"},
    ),
    Run(
        "id5",
        "RunX",
        "KILLED",
        "bob",
        "file:///a/id5/artifacts",
        2000,
        2500,
        metrics={"a": 0.5},
        params={"lr": "1"},
        tags={"team": "vision", "mlflow.runName": "RunX"},
    ),
]
ALL = "r1 r2 r3 Run_4% RunX"


def matching(text: str, entity: str = ENTITY_RUNS, records: Sequence[Any] = RUNS) -> set[str]:
    selected = parse_filter(text, entity).select(records)
    if entity == ENTITY_MODEL_VERSIONS:
        return {f"{r.name}/{r.version}" for r in selected}
    return {getattr(r, "run_name", None) or r.name for r in selected}


def rejection(text: str, entity: str = ENTITY_RUNS) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text, entity)
    return caught.value


# --- Runs: accepted filters ---------------------------------------------------------------

ACCEPTED_RUN_FILTERS = [
    # everything
    ("", ALL),
    ("   ", ALL),
    # metrics: every comparator, every number form, NaN and missing
    ("metrics.a > 0.1", "r1 r2 RunX"),
    ("metrics.a >= 0.5", "r1 r2 RunX"),
    ("metrics.a < 1", "r1 Run_4% RunX"),
    ("metrics.a <= 0.5", "r1 Run_4% RunX"),
    ("metrics.a = 0.5", "r1 RunX"),
    ("metrics.a != 0.5", "r2 Run_4%"),
    ("metric.a > 0", "r1 r2 Run_4% RunX"),
    ("metrics.a>0", "r1 r2 Run_4% RunX"),
    ("metrics.b < -0.5", "r1 Run_4%"),
    ("metrics.b >-1.5", "r1"),
    ("metrics.a > .4", "r1 r2 RunX"),
    ("metrics.a > 1.", "r2"),
    ("metrics.a > -.5", "r1 r2 Run_4% RunX"),
    ("metrics.a > 1e-2", "r1 r2 RunX"),
    ("metrics.a > 1E-2", "r1 r2 RunX"),
    ("metrics.a < 2e0", "r1 r2 Run_4% RunX"),
    ("metrics.a < 15e-1", "r1 Run_4% RunX"),
    ("metrics.a > 00001", "r2"),
    ("metrics.a < 1e500", "r1 r2 Run_4% RunX"),
    ("metrics.a = 1", ""),
    ("metrics.n != 1", "r1 r2"),
    ("metrics.n = 1", ""),
    ("metrics.n > 0", "r2"),
    ("metrics.n < 0", ""),
    ("metrics.missing != 1", ""),
    # quoted and dotted keys
    ("metrics.`val-loss/x:1` > 1", "Run_4%"),
    ('metrics."val-loss/x:1" > 1', "Run_4%"),
    ("metrics.'val-loss/x:1' > 1", "Run_4%"),
    ("`metrics`.`val-loss/x:1` > 1", "Run_4%"),
    ("`metrics`.a > 1", "r2"),
    ("metrics.a.b > 1", ""),
    ("metrics.1abc > 1", ""),
    ("metrics.and > 1", ""),
    ("metrics.in > 1", ""),
    ("tags.mlflow.runName = 'r1'", "r1"),
    ("tags.`mlflow.runName` = 'r1'", "r1"),
    ("tags.\"mlflow.runName\" = 'r1'", "r1"),
    ("tags.`weird key` = '100%'", "Run_4%"),
    ("params.`a b` = 'x'", "Run_4%"),
    ("params.`a``b` = 'x'", ""),
    # params and tags: strings, LIKE, ILIKE, IS NULL
    ("params.lr = '0.1'", "r1"),
    ('params.lr = "0.1"', "r1"),
    ("param.lr != '0.1'", "r2 RunX"),
    ("parameter.lr = '0.01'", "r2"),
    ("parameters.model LIKE 'cnn%'", "r1"),
    ("params.model LIKE 'CNN%'", "r2"),
    ("params.model ILIKE 'cnn%'", "r1 r2"),
    ("params.model like '%n_'", "r1 r3"),
    ("params.model Like 'r_n'", "r3"),
    ("params.model iLike '%LARGE'", "r2"),
    ("params.model LIKE '%'", "r1 r2 r3 Run_4%"),
    ("params.model LIKE '%N%'", "r2"),
    ("params.model LIKE '%nn'", "r1 r3"),
    ("params.model LIKE 'cnn'", "r1"),
    ("params.model LIKE 'c%n'", "r1"),
    ("params.model LIKE '%%'", "r1 r2 r3 Run_4%"),
    ("params.model LIKE ''", "Run_4%"),
    ("params.model = ''", "Run_4%"),
    ("params.model != 'cnn'", "r2 r3 Run_4%"),
    ("params.lr IS NULL", "r3 Run_4%"),
    ("params.lr is null", "r3 Run_4%"),
    ("params.lr IS NOT NULL", "r1 r2 RunX"),
    ("params.lr is not null", "r1 r2 RunX"),
    ("params.lr IS NOT  NULL", "r1 r2 RunX"),
    ("tags.team = 'Vision'", "r1"),
    ("tag.team != 'nlp'", "r1 RunX"),
    ("tags.team LIKE 'V%'", "r1"),
    ("tags.team ILIKE 'v%'", "r1 RunX"),
    ("tags.team IS NULL", "r3"),
    ("tags.team IS NOT NULL", "r1 r2 Run_4% RunX"),
    ("tags.`weird key` LIKE '%\\%'", ""),
    ("tags.`weird key` LIKE '1__%'", "Run_4%"),
    ('tags.note = "it\'s"', "r2"),
    ("tags.note = 'it''s'", "r2"),
    ('tags.note LIKE "%""%"', ""),
    # attributes, with and without a prefix, and their aliases
    ("attributes.status = 'FINISHED'", "r1 Run_4%"),
    ("attribute.status != 'FINISHED'", "r2 r3 RunX"),
    ("attr.status LIKE 'F%'", "r1 r3 Run_4%"),
    ("run.status ILIKE 'running'", "r2"),
    ("status = 'FAILED'", "r3"),
    ("user_id = 'alice'", "r1 r3"),
    ("artifact_uri LIKE '%id1/artifacts'", "r1"),
    ("run_name = 'r2'", "r2"),
    ("run_name LIKE 'r_'", "r1 r2 r3"),
    ("run_name LIKE 'Run\\_%'", ""),
    ("attributes.run_name ILIKE 'R%'", ALL),
    ("`Run name` = 'r1'", "r1"),
    ("\"run name\" = 'r1'", "r1"),
    ("attributes.`Run Name` = 'r1'", "r1"),
    ("run_id = 'id1'", "r1"),
    ("run_id != 'id1'", "r2 r3 Run_4% RunX"),
    ("run_id IN ('id1', 'id2')", "r1 r2"),
    ("run_id in ('id1')", "r1"),
    ("run_id NOT IN ('id1', 'id2')", "r3 Run_4% RunX"),
    ("run_id not in ('id3',)", "r1 r2 Run_4% RunX"),
    ("run_id Not In ('id3')", "r1 r2 Run_4% RunX"),
    ("run_id IN (\"id1\", 'id2')", "r1 r2"),
    ("start_time > 1500", "r2 Run_4% RunX"),
    ("start_time >= 1000", ALL),
    ("start_time = 1000", "r1 r3"),
    ("start_time != 1000", "r2 Run_4% RunX"),
    ("start_time > 1500.5", "r2 Run_4% RunX"),
    ("created > 1500", "r2 Run_4% RunX"),
    ("Created <= 1000", "r1 r3"),
    ("attributes.created > 0", ALL),
    ("end_time > 0", "r1 r3 Run_4% RunX"),
    ("end_time != 0", "r1 r3 Run_4% RunX"),
    ("end_time = -5", ""),
    # datasets: any of the run's datasets
    ("datasets.name = 'train-ds'", "r1 r2"),
    ("dataset.name != 'train-ds'", "r1"),
    ("datasets.digest LIKE 'd%'", "r1 r2"),
    ("datasets.context = 'train'", "r1"),
    ("datasets.context != 'train'", "r1"),
    ("datasets.context IN ('train', 'eval')", "r1"),
    ("datasets.context NOT IN ('train')", "r1"),
    ("datasets.name NOT IN ('train-ds')", "r1"),
    ("datasets.name ILIKE 'TRAIN%'", "r1 r2"),
    # AND, case-insensitively and without spaces
    ("metrics.a > 0 AND params.model = 'cnn'", "r1"),
    ("metrics.a > 0 and params.model = 'cnn'", "r1"),
    ("metrics.a > 0 And tags.team = 'nlp'", "r2 Run_4%"),
    ("params.model='cnn'AND metrics.a>0", "r1"),
    ("metrics.a > 0 AND metrics.a < 1 AND tags.team IS NOT NULL", "r1 Run_4% RunX"),
    ("params.lr = '0.1'\n\tAND\n metrics.a > 0", "r1"),
    # OR and parentheses (mltrack's extension); AND binds tighter
    ("metrics.a > 1 OR params.model = 'rnn'", "r2 r3"),
    ("metrics.a > 1 or params.model = 'rnn'", "r2 r3"),
    ("(metrics.a > 1)", "r2"),
    ("((metrics.a > 1))", "r2"),
    ("(metrics.a > 1 OR status = 'FAILED') AND user_id = 'alice'", "r3"),
    ("metrics.a > 1 OR status = 'FAILED' AND user_id = 'alice'", "r2 r3"),
    ("status = 'FAILED' AND user_id = 'alice' OR metrics.a > 1", "r2 r3"),
    ("status = 'KILLED' OR (run_id IN ('id1') AND metrics.a >= 0.5)", "r1 RunX"),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED_RUN_FILTERS)
def test_accepted_run_filters(text: str, expected: str) -> None:
    assert matching(text) == set(expected.split())


def test_no_filter_matches_everything() -> None:
    for text in (None, ""):
        parsed = parse_filter(text)
        assert parsed.expr is None
        assert parsed.references() == frozenset()
        assert all(parsed.matches(run) for run in RUNS)


# --- Runs: rejected filters ---------------------------------------------------------------

REJECTED_RUN_FILTERS = [
    # values of the wrong type
    ("metrics.a = '0.5'", "Expected numeric value type for metric 'a'", 12),
    ("metrics.a = '0.5'", "remove the quotes", 12),
    ("metrics.a > nan", "Expected numeric value type for metric 'a', got nan", 12),
    ("params.lr = 0.1", "Expected a quoted string value for param 'lr', got 0.1", 12),
    ("params.lr = x", "write 'x'", 12),
    ("params.lr = NULL", "Expected a quoted string value", 12),
    ("params.lr = `x`", "Backticks quote keys, not values", 12),
    ("tags.team = 1", "Expected a quoted string value for tag 'team'", 12),
    ("run_id = 1", "Expected a quoted string value for attribute 'run_id'", 9),
    ("start_time > '1'", "Expected numeric value type for attribute 'start_time'", 13),
    ("datasets.name = 1", "Expected a quoted string value for dataset 'name'", 16),
    ("metrics.a > 1_000", "Expected numeric value type", 12),
    # comparators
    (
        "params.lr < '1'",
        "Invalid comparator '<' for params (use =, !=, LIKE, ILIKE, IS NULL, IS NOT NULL)",
        10,
    ),
    ("tags.team > 'a'", "Invalid comparator '>' for tags", 10),
    ("metrics.a LIKE 1", "Invalid comparator 'LIKE' for metrics (use =, !=, <, <=, >, >=)", 10),
    ("metrics.a IS NULL", "Invalid comparator 'IS NULL' for metrics", 10),
    ("metrics.a => 1", "Invalid comparator '=>'", 10),
    ("metrics.a == 1", "Invalid comparator '=='", 10),
    ("metrics.a <> 1", "Invalid comparator '<>'", 10),
    ("metrics.a IN (1)", "Invalid comparator 'IN' for metrics", 10),
    ("params.lr IN ('0.1')", "Invalid comparator 'IN' for params", 10),
    ("params.lr NOT LIKE '0%'", "Invalid comparator 'NOT LIKE' for params", 10),
    ("params.lr RLIKE '0'", "Expected a comparator after params.lr", 10),
    ("params.lr IS 'x'", "Expected NULL or NOT NULL after IS", 13),
    ("params.lr NOT NULL", "Invalid comparator 'NOT NULL'", 10),
    ("params.lr 'x'", "Expected a comparator after params.lr", 10),
    ("status > 'A'", "Invalid comparator '>' for attribute 'status' (use =, !=, LIKE, ILIKE)", 7),
    ("status IS NULL", "Invalid comparator 'IS NULL' for attribute 'status'", 7),
    ("start_time LIKE 1", "Invalid comparator 'LIKE' for attribute 'start_time'", 11),
    ("datasets.name < 'x'", "Invalid comparator '<' for dataset 'name'", 14),
    ("datasets.name IS NULL", "Invalid comparator 'IS NULL' for dataset 'name'", 14),
    # IN and NOT IN: only run_id and datasets, only with a list of strings
    ("status IN ('a')", "IN and NOT IN work only on run_id, datasets.name", 7),
    ("start_time IN (1)", "Invalid comparator 'IN' for attribute 'start_time'", 11),
    ("run_id IN ()", "The list after IN is empty", 10),
    ("run_id IN (1, 2)", "Expected a quoted string in the list after IN, got '1'", 11),
    ("run_id IN ('a', b)", "Expected a quoted string in the list after IN, got 'b'", 16),
    ("run_id IN ('a' 'b')", "Expected ',' or ')' in the list, got 'b'", 15),
    ("run_id IN ('a',,)", "Expected a quoted string in the list after IN, got ','", 15),
    ("run_id IN 'a'", "Expected a list of quoted strings after IN", 10),
    ("run_id IN ['a']", "Unexpected character '['", 10),
    ("run_id = ('a')", "A list of values needs IN or NOT IN, not '='", 9),
    ("run_id IN ('a'", "Expected ',' or ')' in the list, got the end of the text", 14),
    # identifiers
    (
        "foo.a > 1",
        "Unknown entity 'foo' (use metrics., params., tags., attributes. or datasets.)",
        0,
    ),
    ("Metrics.a > 1", "Unknown entity 'Metrics'", 0),
    ('"metrics".a > 1', "Only backticks can quote an entity name", 0),
    ("rmse > 1", "Invalid attribute key 'rmse'", 0),
    ("rmse > 1", "write metrics.rmse, params.rmse or tags.rmse", 0),
    ("`val loss` > 1", "write metrics.`val loss`", 0),
    ("lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage'", 0),
    ("attributes.foo = 'x'", "Invalid attribute key 'foo'", 0),
    ("datasets.foo = 'x'", "Invalid dataset key 'foo' (valid keys: context, digest, name)", 0),
    ("run name = 'r1'", "Invalid attribute key 'run'", 0),
    ("run name = 'r1'", "quote a key that has spaces: `run name`", 0),
    ("'run name' = 'r1'", "Expected a comparison such as metrics.rmse < 1, got 'run name'", 0),
    ("metrics. a > 1", "Expected a key right after 'metrics.'", 8),
    ("metrics.", "Expected a key right after 'metrics.'", 8),
    ("metrics .a > 1", "Invalid attribute key 'metrics'", 0),
    ("metrics.val-loss > 1", "Unexpected character '-'", 11),
    ("metrics.a$b > 1", "Unexpected character '$'", 9),
    ("1 = metrics.a", "Expected a comparison such as metrics.rmse < 1, got '1'", 0),
    # values
    ("metrics.a =", "Expected a value after '='", 11),
    ("metrics.a = AND params.lr = '1'", "Expected numeric value type for metric 'a', got AND", 12),
    ("params.lr != ", "Expected a value after '!='", 13),
    (
        "metrics.a > - 1",
        "Unexpected character '-' (write a negative number without a space: -1)",
        12,
    ),
    ("metrics.a > +1", "Unexpected character '+'", 12),
    ("metrics.a > 1.5e+3", "Unexpected character '+'", 16),
    ("metrics.a > 1.e5", "Expected numeric value type for metric 'a', got 1.e5", 12),
    ("metrics.a > 0x10", "Expected numeric value type for metric 'a', got 0x10", 12),
    ("metrics.a>1and params.lr='1'", "Expected numeric value type for metric 'a', got 1and", 10),
    ("params.lr = 'unterminated", "Unterminated string: add the closing '", 12),
    ('params.lr = "unterminated', 'Unterminated string: add the closing "', 12),
    ("params.`lr = '1'", "Unterminated quoted key: add the closing `", 7),
    ("params.lr = 'it\\'s'", "A backslash does not escape a quote; write the quote twice", 15),
    # conjunctions and structure
    ("AND metrics.a > 1", "Expected a comparison such as metrics.rmse < 1, got 'AND'", 0),
    (
        "metrics.a > 1 AND",
        "Expected a comparison such as metrics.rmse < 1 after 'AND', got the end",
        17,
    ),
    ("metrics.a > 1 AND AND params.lr = '1'", "after 'AND', got 'AND'", 18),
    ("metrics.a > 1 OR", "after 'OR', got the end of the text", 16),
    (
        "params.model = 'cnn' params.lr = '0.1'",
        "Expected AND, OR or the end of the filter, got 'params.lr'",
        21,
    ),
    ("metrics.a > 1 2", "Expected AND, OR or the end of the filter, got '2'", 14),
    ("params.model = 'cnn' 'x'", "Expected AND, OR or the end of the filter, got 'x'", 21),
    ("metrics.a > 1 AND NOT metrics.a > 2", "Invalid attribute key 'NOT'", 18),
    ("metrics.a > 1;", "Unexpected character ';'", 13),
    ("metrics.a > 1 -- comment", "Unexpected character '-'", 14),
    ("metrics.a > 1 /* comment */", "Unexpected character '/'", 14),
    ("(metrics.a > 1", "Expected ')' to close the '(' at position 0, got the end of the text", 14),
    ("metrics.a > 1)", "Unmatched ')'", 13),
    ("()", "Expected a comparison such as metrics.rmse < 1, got ')'", 1),
    (
        "metrics.a > 1 ANDparams.b = 'x'",
        "Expected AND, OR or the end of the filter, got 'ANDparams.b'",
        14,
    ),
]


@pytest.mark.parametrize(("text", "fragment", "position"), REJECTED_RUN_FILTERS)
def test_rejected_run_filters(text: str, fragment: str, position: int) -> None:
    error = rejection(text)
    assert fragment in error.message
    assert error.position == position
    assert f"(at position {position})" in error.message
    assert error.message.endswith(f"{text}\n{' ' * position}^")


def test_filter_errors_are_invalid_parameter_values() -> None:
    error = rejection("params.lr < '1'")
    assert isinstance(error, InvalidParameterValue)
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert error.http_status == 400


# --- Runs: the parsed form ----------------------------------------------------------------


def test_ast_resolves_aliases_and_types() -> None:
    parsed = parse_filter(
        "metric.a > 1 AND `Run name` LIKE 'x%' AND created >= 5 AND run_id IN ('a',) "
        "AND params.p IS NOT NULL AND datasets.context != 'eval' AND end_time < 2.5"
    )
    assert parsed.expr == And(
        (
            Comparison("metric", "a", ">", 1.0),
            Comparison("attribute", "run_name", "LIKE", "x%"),
            Comparison("attribute", "start_time", ">=", 5),
            Comparison("attribute", "run_id", "IN", ("a",)),
            Comparison("param", "p", "IS NOT NULL", None),
            Comparison("dataset", "context", "!=", "eval"),
            Comparison("attribute", "end_time", "<", 2.5),
        )
    )
    assert isinstance(parsed.comparisons()[0].value, float)
    assert isinstance(parsed.comparisons()[2].value, int)


def test_ast_precedence_and_grouping() -> None:
    a, b, c = (Comparison("metric", k, "=", 1.0) for k in "abc")
    assert parse_filter("metrics.a = 1 OR metrics.b = 1 AND metrics.c = 1").expr == Or(
        (a, And((b, c)))
    )
    assert parse_filter("(metrics.a = 1 OR metrics.b = 1) AND metrics.c = 1").expr == And(
        (Or((a, b)), c)
    )


def test_references_list_what_a_filter_reads() -> None:
    parsed = parse_filter(
        "metrics.rmse < 1 AND (tags.`mlflow.runName` = 'x' OR created > 3) AND metrics.rmse > 0"
    )
    assert parsed.references() == {
        ("metric", "rmse"),
        ("tag", "mlflow.runName"),
        ("attribute", "start_time"),
    }
    assert [c.key for c in parsed.comparisons()] == ["rmse", "mlflow.runName", "start_time", "rmse"]
    assert parsed.entity == ENTITY_RUNS
    assert parsed.text.startswith("metrics.rmse")


def test_select_keeps_record_order() -> None:
    assert [r.run_id for r in parse_filter("metrics.a >= 0.5").select(RUNS)] == [
        "id1",
        "id2",
        "id5",
    ]
    assert [r.run_id for r in parse_filter("metrics.a >= 0.5").select(reversed(RUNS))] == [
        "id5",
        "id2",
        "id1",
    ]


def test_unknown_entity_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="Unknown search entity 'jobs'"):
        parse_filter("name = 'x'", "jobs")


# --- Experiments, registered models, model versions -------------------------------------

EXPERIMENTS = [
    Experiment("0", "Default", {}, 100, 100),
    Experiment("1", "exp-a", {"k": "v"}, 200, 300),
    Experiment("2", "exp-b", {"k": "V2"}, 200, None),
    Experiment("10", "other", {}, None, 50),
]
MODELS = [
    RegisteredModel("m1", {"k": "v"}, 10, 40),
    RegisteredModel("m2", {"k": "w"}, 20, 30),
    RegisteredModel("n3", {}, 30, 30),
    RegisteredModel("prompt1", {"mlflow.prompt.is_prompt": "true"}, 40, 10),
]
VERSIONS = [
    ModelVersion("m1", 1, "id1", "src/1", {"k": "v"}, 10, 10),
    ModelVersion("m1", 2, "id2", "src/2", {}, 20, 40),
    ModelVersion("m2", 1, "id1", "other/1", {"k": "vv"}, 30, 30),
    ModelVersion("n3", 1, None, "src/3", {}, 40, 40),
    ModelVersion("p", 1, None, "src/p", {"mlflow.prompt.is_prompt": "true"}, 50, 5),
]

ACCEPTED_OTHER_FILTERS = [
    (ENTITY_EXPERIMENTS, "name = 'exp-a'", "exp-a"),
    (ENTITY_EXPERIMENTS, "attribute.name = 'exp-a'", "exp-a"),
    (ENTITY_EXPERIMENTS, "`name` = 'exp-a'", "exp-a"),
    (ENTITY_EXPERIMENTS, "name LIKE 'exp-%'", "exp-a exp-b"),
    (ENTITY_EXPERIMENTS, "name ILIKE 'EXP-%'", "exp-a exp-b"),
    (ENTITY_EXPERIMENTS, "name != 'exp-a'", "Default exp-b other"),
    (ENTITY_EXPERIMENTS, "experiment_id = '1'", "exp-a"),
    (ENTITY_EXPERIMENTS, "experiment_id != '1'", "Default exp-b other"),
    (ENTITY_EXPERIMENTS, "experiment_id IN ('1', '2')", "exp-a exp-b"),
    (ENTITY_EXPERIMENTS, "experiment_id NOT IN ('1')", "Default exp-b other"),
    (ENTITY_EXPERIMENTS, "creation_time > 150", "exp-a exp-b"),
    (ENTITY_EXPERIMENTS, "creation_time != 150", "Default exp-a exp-b"),
    (ENTITY_EXPERIMENTS, "last_update_time <= 100", "Default other"),
    (ENTITY_EXPERIMENTS, "tags.k = 'v'", "exp-a"),
    (ENTITY_EXPERIMENTS, "tag.k != 'v'", "exp-b"),
    (ENTITY_EXPERIMENTS, "tags.k ILIKE 'v%'", "exp-a exp-b"),
    (ENTITY_EXPERIMENTS, "tags.k IS NULL", "Default other"),
    (ENTITY_EXPERIMENTS, "tags.k IS NOT NULL", "exp-a exp-b"),
    (ENTITY_EXPERIMENTS, "name LIKE 'exp-%' AND tags.k = 'v'", "exp-a"),
    (ENTITY_EXPERIMENTS, "name = 'exp-a' OR experiment_id = '10'", "exp-a other"),
    (ENTITY_REGISTERED_MODELS, "name = 'm1'", "m1"),
    (ENTITY_REGISTERED_MODELS, "attribute.name = 'm1'", "m1"),
    (ENTITY_REGISTERED_MODELS, "name LIKE 'm%'", "m1 m2"),
    (ENTITY_REGISTERED_MODELS, "name IN ('m1', 'n3')", "m1 n3"),
    (ENTITY_REGISTERED_MODELS, "name NOT IN ('m1')", "m2 n3 prompt1"),
    (ENTITY_REGISTERED_MODELS, "tags.k = 'v'", "m1"),
    (ENTITY_REGISTERED_MODELS, "tag.k != 'v'", "m2"),
    (ENTITY_REGISTERED_MODELS, "tags.k LIKE '_'", "m1 m2"),
    (ENTITY_REGISTERED_MODELS, "tags.`mlflow.prompt.is_prompt` != 'true'", "m1 m2 n3"),
    (ENTITY_REGISTERED_MODELS, "tag.`mlflow.prompt.is_prompt` = 'false'", "m1 m2 n3"),
    (ENTITY_REGISTERED_MODELS, "tag.`mlflow.prompt.is_prompt` = 'true'", "prompt1"),
    (
        ENTITY_REGISTERED_MODELS,
        "name LIKE 'm%' AND tag.`mlflow.prompt.is_prompt` != 'true'",
        "m1 m2",
    ),
    (ENTITY_MODEL_VERSIONS, "name = 'm1'", "m1/1 m1/2"),
    (ENTITY_MODEL_VERSIONS, "attribute.name IN ('m2', 'n3')", "m2/1 n3/1"),
    (ENTITY_MODEL_VERSIONS, "run_id = 'id1'", "m1/1 m2/1"),
    (ENTITY_MODEL_VERSIONS, "run_id IN ('id1', 'id2')", "m1/1 m1/2 m2/1"),
    (ENTITY_MODEL_VERSIONS, "run_id NOT IN ('id1')", "m1/2"),
    (ENTITY_MODEL_VERSIONS, "run_id LIKE '%'", "m1/1 m1/2 m2/1"),
    (ENTITY_MODEL_VERSIONS, "source_path LIKE 'src/%'", "m1/1 m1/2 n3/1 p/1"),
    (ENTITY_MODEL_VERSIONS, "source_path = 'other/1'", "m2/1"),
    (ENTITY_MODEL_VERSIONS, "version_number = 1", "m1/1 m2/1 n3/1 p/1"),
    (ENTITY_MODEL_VERSIONS, "version_number > 1", "m1/2"),
    (ENTITY_MODEL_VERSIONS, "version_number = '2'", "m1/2"),
    (ENTITY_MODEL_VERSIONS, "tags.k LIKE 'v%'", "m1/1 m2/1"),
    (ENTITY_MODEL_VERSIONS, "tag.`mlflow.prompt.is_prompt` != 'true'", "m1/1 m1/2 m2/1 n3/1"),
    (ENTITY_MODEL_VERSIONS, "name = 'm1' AND version_number >= 2", "m1/2"),
]
RECORDS = {
    ENTITY_EXPERIMENTS: EXPERIMENTS,
    ENTITY_REGISTERED_MODELS: MODELS,
    ENTITY_MODEL_VERSIONS: VERSIONS,
}


@pytest.mark.parametrize(("entity", "text", "expected"), ACCEPTED_OTHER_FILTERS)
def test_accepted_filters_of_other_entities(entity: str, text: str, expected: str) -> None:
    assert matching(text, entity, RECORDS[entity]) == set(expected.split())


REJECTED_OTHER_FILTERS = [
    (
        ENTITY_EXPERIMENTS,
        "attributes.name = 'x'",
        "Unknown entity 'attributes' (use tags. or attribute.)",
        0,
    ),
    (ENTITY_EXPERIMENTS, "metrics.a > 1", "Unknown entity 'metrics'", 0),
    (ENTITY_EXPERIMENTS, "name > 'x'", "Invalid comparator '>' for attribute 'name'", 5),
    (ENTITY_EXPERIMENTS, "name IN ('a')", "IN and NOT IN work only on experiment_id", 5),
    (ENTITY_EXPERIMENTS, "name IS NULL", "Invalid comparator 'IS NULL' for attribute 'name'", 5),
    (
        ENTITY_EXPERIMENTS,
        "experiment_id LIKE '1'",
        "Invalid comparator 'LIKE' for attribute 'experiment_id' (use =, !=, IN, NOT IN)",
        14,
    ),
    (ENTITY_EXPERIMENTS, "experiment_id = 1", "Expected a quoted string value", 16),
    (
        ENTITY_EXPERIMENTS,
        "creation_time > 5.5",
        "Invalid value for numeric attribute 'creation_time': 5.5",
        16,
    ),
    (ENTITY_EXPERIMENTS, "creation_time > '5'", "Expected numeric value type", 16),
    (ENTITY_EXPERIMENTS, "creation_time LIKE 5", "Invalid comparator 'LIKE'", 14),
    (ENTITY_EXPERIMENTS, "tags.k IN ('v')", "Invalid comparator 'IN' for tags", 7),
    (
        ENTITY_EXPERIMENTS,
        "lifecycle_stage = 'active'",
        "Invalid attribute key 'lifecycle_stage' (valid keys: creation_time, experiment_id, last_update_time, name); to use a tag write tags.lifecycle_stage",
        0,
    ),
    (ENTITY_REGISTERED_MODELS, "name > 'm'", "Invalid comparator '>' for attribute 'name'", 5),
    (ENTITY_REGISTERED_MODELS, "name = 1", "Expected a quoted string value", 7),
    (
        ENTITY_REGISTERED_MODELS,
        "tags.k IS NULL",
        "Invalid comparator 'IS NULL' for tags (use =, !=, LIKE, ILIKE)",
        7,
    ),
    (
        ENTITY_REGISTERED_MODELS,
        "run_id = 'x'",
        "Invalid attribute key 'run_id' (valid keys: name)",
        0,
    ),
    (ENTITY_REGISTERED_MODELS, "timestamp > 5", "Invalid attribute key 'timestamp'", 0),
    (ENTITY_REGISTERED_MODELS, "params.a = 'x'", "Unknown entity 'params'", 0),
    (ENTITY_MODEL_VERSIONS, "source_path IN ('x')", "IN and NOT IN work only on name, run_id", 12),
    (
        ENTITY_MODEL_VERSIONS,
        "version_number = 1.5",
        "Invalid value for numeric attribute 'version_number'",
        17,
    ),
    (ENTITY_MODEL_VERSIONS, "version_number = 'one'", "Expected numeric value type", 17),
    (ENTITY_MODEL_VERSIONS, "version_number LIKE 1", "Invalid comparator 'LIKE'", 15),
    (ENTITY_MODEL_VERSIONS, "version_number IN (1)", "Invalid comparator 'IN'", 15),
    (ENTITY_MODEL_VERSIONS, "tags.k IS NULL", "Invalid comparator 'IS NULL' for tags", 7),
    (
        ENTITY_MODEL_VERSIONS,
        "current_stage = 'Production'",
        "Invalid attribute key 'current_stage'",
        0,
    ),
    (ENTITY_MODEL_VERSIONS, "alias = 'x'", "Invalid attribute key 'alias'", 0),
    (
        ENTITY_MODEL_VERSIONS,
        "run_id = 1",
        "Expected a quoted string value for attribute 'run_id'",
        9,
    ),
]


@pytest.mark.parametrize(("entity", "text", "fragment", "position"), REJECTED_OTHER_FILTERS)
def test_rejected_filters_of_other_entities(
    entity: str, text: str, fragment: str, position: int
) -> None:
    error = rejection(text, entity)
    assert fragment in error.message
    assert error.position == position


# --- order_by -----------------------------------------------------------------------------


def run_order(clauses: list[str]) -> list[str]:
    return [r.run_name for r in sort_records(RUNS, parse_order_by(clauses))]


ACCEPTED_RUN_ORDERS = [
    ([], "Run_4% r2 RunX r1 r3"),
    (["metrics.a"], "Run_4% RunX r1 r2 r3"),
    (["metrics.a DESC"], "r2 RunX r1 Run_4% r3"),
    (["metrics.a desc"], "r2 RunX r1 Run_4% r3"),
    (["metric.a ASC"], "Run_4% RunX r1 r2 r3"),
    (["metrics.n"], "r2 r1 Run_4% RunX r3"),
    (["metrics.n DESC"], "r2 r1 Run_4% RunX r3"),
    (["params.model"], "Run_4% r2 r1 r3 RunX"),
    (["params.model DESC", "metrics.a"], "r3 r1 r2 Run_4% RunX"),
    (["tags.team DESC"], "RunX Run_4% r2 r1 r3"),
    (["tags.`mlflow.runName` DESC"], "r3 r2 r1 Run_4% RunX"),
    (['tags."mlflow.runName"'], "RunX Run_4% r1 r2 r3"),
    (["tags.mlflow.runName"], "RunX Run_4% r1 r2 r3"),
    (["metrics.`val-loss/x:1`"], "Run_4% r2 RunX r1 r3"),
    (["start_time"], "r1 r3 r2 RunX Run_4%"),
    (["start_time DESC"], "Run_4% r2 RunX r1 r3"),
    (["created"], "r1 r3 r2 RunX Run_4%"),
    (["Created DESC"], "Run_4% r2 RunX r1 r3"),
    (["attributes.start_time", "run_id DESC"], "r3 r1 RunX r2 Run_4%"),
    (["end_time"], "r3 r1 RunX Run_4% r2"),
    (["end_time DESC"], "Run_4% RunX r1 r3 r2"),
    (["status", "user_id DESC"], "r3 Run_4% r1 RunX r2"),
    (["run_name"], "RunX Run_4% r1 r2 r3"),
    (["artifact_uri DESC"], "RunX Run_4% r3 r2 r1"),
    ("metrics.a DESC", "r2 RunX r1 Run_4% r3"),
    ([" metrics.a  DESC "], "r2 RunX r1 Run_4% r3"),
]


@pytest.mark.parametrize(("clauses", "expected"), ACCEPTED_RUN_ORDERS)
def test_accepted_run_orders(clauses: list[str], expected: str) -> None:
    assert run_order(clauses) == expected.split()


def test_parse_order_by_resolves_aliases() -> None:
    assert parse_order_by(["metrics.rmse DESC", "Created", "tags.`a b` asc"]) == [
        OrderKey("metric", "rmse", False),
        OrderKey("attribute", "start_time", True),
        OrderKey("tag", "a b", True),
    ]
    assert parse_order_by(None) == []
    assert parse_order_by(["timestamp"], ENTITY_REGISTERED_MODELS) == [
        OrderKey("attribute", "last_updated_timestamp")
    ]


REJECTED_ORDERS = [
    (ENTITY_RUNS, ["rmse"], "Invalid attribute key 'rmse'", 0),
    (ENTITY_RUNS, ["rmse"], "write metrics.rmse, params.rmse or tags.rmse", 0),
    (ENTITY_RUNS, ["`Run name`"], "Invalid attribute key 'Run name'", 0),
    (ENTITY_RUNS, ["lifecycle_stage"], "Invalid attribute key 'lifecycle_stage'", 0),
    (ENTITY_RUNS, ["datasets.name"], "Runs cannot be ordered by datasets.*", 0),
    (ENTITY_RUNS, ["metrics.a DOWN"], "Invalid ordering 'DOWN': use ASC or DESC", 10),
    (ENTITY_RUNS, ["metrics.a DESC NULLS LAST"], "Unexpected 'NULLS'", 15),
    (ENTITY_RUNS, ["metrics.a, metrics.b"], "Unexpected ','", 9),
    (ENTITY_RUNS, ["metrics.a DESC ASC"], "Unexpected 'ASC'", 15),
    (ENTITY_RUNS, ["metrics.a", "metrics.a DESC"], "order_by names metric 'a' twice", 0),
    (ENTITY_RUNS, ["created", "start_time"], "order_by names attribute 'start_time' twice", 0),
    (ENTITY_RUNS, ["timestamp"], "Invalid attribute key 'timestamp'", 0),
    (ENTITY_RUNS, [""], "Empty order_by clause", 0),
    (ENTITY_RUNS, ["(metrics.a)"], "Expected a key such as metrics.rmse, got '('", 0),
    (ENTITY_RUNS, ["metrics.a 'x'"], "Unexpected 'x'", 10),
    (ENTITY_EXPERIMENTS, ["tags.k"], "Experiments cannot be ordered by tags.*", 0),
    (ENTITY_EXPERIMENTS, ["timestamp"], "Invalid attribute key 'timestamp'", 0),
    (ENTITY_EXPERIMENTS, ["run_id"], "Invalid attribute key 'run_id'", 0),
    (
        ENTITY_REGISTERED_MODELS,
        ["creation_timestamp"],
        "Invalid attribute key 'creation_timestamp' (valid keys: last_updated_timestamp, name, timestamp)",
        0,
    ),
    (ENTITY_REGISTERED_MODELS, ["tags.k"], "cannot be ordered by tags.*", 0),
    (ENTITY_REGISTERED_MODELS, ["timestamp", "last_updated_timestamp"], "twice", 0),
    (ENTITY_MODEL_VERSIONS, ["name", "name DESC"], "order_by names attribute 'name' twice", 0),
    (ENTITY_MODEL_VERSIONS, ["timestamp"], "Invalid attribute key 'timestamp'", 0),
    (ENTITY_MODEL_VERSIONS, ["run_id"], "Invalid attribute key 'run_id'", 0),
]


@pytest.mark.parametrize(("entity", "clauses", "fragment", "position"), REJECTED_ORDERS)
def test_rejected_orders(
    entity: str, clauses: list[str], fragment: str, position: int | None
) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_order_by(clauses, entity)
    assert fragment in caught.value.message
    assert caught.value.position == position


def test_experiments_may_repeat_an_order_key() -> None:
    assert len(parse_order_by(["name", "name DESC"], ENTITY_EXPERIMENTS)) == 2


def test_experiment_ids_sort_as_numbers_when_they_are_digits() -> None:
    ids = ["10", "9", "abc", "\u00b2", "0"]
    records = [Experiment(i, f"e{i}") for i in ids]
    ordered = sort_records(
        records, parse_order_by(["experiment_id"], ENTITY_EXPERIMENTS), ENTITY_EXPERIMENTS
    )
    assert [r.experiment_id for r in ordered] == ["0", "9", "10", "abc", "\u00b2"]


def ordered_names(entity: str, clauses: list[str]) -> list[str]:
    records = sort_records(RECORDS[entity], parse_order_by(clauses, entity), entity)
    if entity == ENTITY_MODEL_VERSIONS:
        return [f"{r.name}/{r.version}" for r in records]
    return [r.name for r in records]


OTHER_ORDERS = [
    (ENTITY_EXPERIMENTS, [], "exp-a exp-b Default other"),
    (ENTITY_EXPERIMENTS, ["name"], "Default exp-a exp-b other"),
    (ENTITY_EXPERIMENTS, ["creation_time"], "Default exp-b exp-a other"),
    (ENTITY_EXPERIMENTS, ["experiment_id"], "Default exp-a exp-b other"),
    (ENTITY_EXPERIMENTS, ["experiment_id DESC"], "other exp-b exp-a Default"),
    (ENTITY_EXPERIMENTS, ["last_update_time DESC"], "exp-a Default other exp-b"),
    (ENTITY_EXPERIMENTS, ["attribute.name DESC"], "other exp-b exp-a Default"),
    (ENTITY_REGISTERED_MODELS, [], "m1 m2 n3 prompt1"),
    (ENTITY_REGISTERED_MODELS, ["name DESC"], "prompt1 n3 m2 m1"),
    (ENTITY_REGISTERED_MODELS, ["timestamp"], "prompt1 m2 n3 m1"),
    (ENTITY_REGISTERED_MODELS, ["last_updated_timestamp DESC", "name DESC"], "m1 n3 m2 prompt1"),
    (ENTITY_MODEL_VERSIONS, [], "m1/2 n3/1 m2/1 m1/1 p/1"),
    (ENTITY_MODEL_VERSIONS, ["name"], "m1/2 m1/1 m2/1 n3/1 p/1"),
    (ENTITY_MODEL_VERSIONS, ["version_number"], "m1/1 m2/1 n3/1 p/1 m1/2"),
    (ENTITY_MODEL_VERSIONS, ["name DESC", "version_number"], "p/1 n3/1 m2/1 m1/1 m1/2"),
    (ENTITY_MODEL_VERSIONS, ["creation_timestamp DESC"], "p/1 n3/1 m2/1 m1/2 m1/1"),
]


@pytest.mark.parametrize(("entity", "clauses", "expected"), OTHER_ORDERS)
def test_orders_of_other_entities(entity: str, clauses: list[str], expected: str) -> None:
    assert ordered_names(entity, clauses) == expected.split()


# --- Hygiene and speed --------------------------------------------------------------------


def test_all_lists_the_public_names() -> None:
    public = {name for name in vars(search) if not name.startswith("_")}
    assert set(search.__all__) == public
    assert all(getattr(search, name) is not None for name in search.__all__)


def test_import_is_light() -> None:
    """Only the standard library and mltrack.exceptions: servers import this module early."""
    code = "import sys, mltrack.search; print(' '.join(sorted(sys.modules)))"
    src = str(Path(search.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": src}
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    ).stdout
    mltrack_modules = {name for name in output.split() if name.startswith("mltrack")}
    assert mltrack_modules <= {"mltrack", "mltrack.exceptions"} | {
        f"mltrack.search{suffix}"
        for suffix in ("", "._nodes", "._entities", "._tokens", "._parser", "._evaluate")
    }
    assert not set(output.split()) & {"numpy", "pandas", "yaml", "git", "pyarrow", "sqlparse"}


def test_matching_ten_thousand_runs() -> None:
    # Speed is measured by benchmarks/ (W4), never asserted in unit tests.
    runs = [
        Run(
            f"id{i}",
            f"run{i}",
            metrics={"a": i / 10_000},
            params={"model": "cnn" if i % 2 else "rnn"},
        )
        for i in range(10_000)
    ]
    parsed = parse_filter("metrics.a > 0.5 AND params.model LIKE 'c%'")
    assert len(parsed.select(runs)) == 2_500


# --- Property: rendered ASTs parse back to the same meaning -------------------------------

KEYS = ["a", "lr", "a b", "it's", "x`y", "mlflow.runName", "and"]
STRINGS = st.text(alphabet="aAb%_'\"\\` x", max_size=4)
NUMBERS = st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.5, 1e-3, 1e20]) | st.floats(
    allow_nan=False, allow_infinity=False, width=32
)
SPELLINGS = {
    "metric": ["metrics", "metric", "`metrics`"],
    "param": ["params", "param", "parameter", "parameters"],
    "tag": ["tags", "tag"],
    "attribute": ["attributes", "attribute", "attr", "run", ""],
    "dataset": ["datasets", "dataset"],
}
ATTRIBUTE_SPELLINGS = {
    "run_name": ["run_name", "`Run name`", '"run name"'],
    "start_time": ["start_time", "created", "Created"],
}


def _quote(text: str, mark: str = "'") -> str:
    return mark + text.replace(mark, mark * 2) + mark


def _number(value: float) -> str:
    return repr(value).replace("e+", "e")


def _case(word: str, upper: bool) -> str:
    return word if upper else word.lower()


@st.composite
def comparisons(draw: st.DrawFn) -> tuple[Comparison, str]:
    """A random valid comparison on runs, and one way of writing it."""
    prefix = draw(st.sampled_from(["metric", "param", "tag", "attribute", "dataset"]))
    upper = draw(st.booleans())
    if prefix == "metric":
        key, op = (
            draw(st.sampled_from(KEYS)),
            draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="])),
        )
        value: Any = float(draw(NUMBERS))
        text_value = _number(value)
    elif prefix in ("param", "tag"):
        key = draw(st.sampled_from(KEYS))
        op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"]))
        value = None if "NULL" in op else draw(STRINGS)
        text_value = "" if value is None else _quote(value, draw(st.sampled_from("'\"")))
    elif prefix == "dataset":
        key = draw(st.sampled_from(["name", "digest", "context"]))
        op, value, text_value = draw(_string_or_list_values())
    else:
        key = draw(st.sampled_from(["run_id", "run_name", "status", "start_time", "end_time"]))
        if key in ("start_time", "end_time"):
            op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
            value = draw(st.integers(-2, 3))
            text_value = str(value)
        elif key == "run_id":
            op, value, text_value = draw(_string_or_list_values())
        else:
            op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE"]))
            value = draw(STRINGS)
            text_value = _quote(value)
    entity = draw(st.sampled_from(SPELLINGS[prefix]))
    key_text = key
    if prefix == "attribute" and key in ATTRIBUTE_SPELLINGS:
        key_text = draw(st.sampled_from(ATTRIBUTE_SPELLINGS[key]))
    elif prefix != "attribute" and not key.replace(".", "").isalnum():
        key_text = _quote(key, draw(st.sampled_from(["`", '"'])))
    identifier = f"{entity}.{key_text}" if entity else key_text
    op_text = " ".join(_case(word, upper) for word in op.split())
    spacing = draw(st.sampled_from([" ", "  ", "\n"]))
    text = f"{identifier}{spacing}{op_text}{spacing}{text_value}".rstrip()
    return Comparison(prefix, key, op, value), text


@st.composite
def _string_or_list_values(draw: st.DrawFn) -> tuple[str, Any, str]:
    op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"]))
    if op in ("IN", "NOT IN"):
        items = draw(st.lists(STRINGS, min_size=1, max_size=3))
        trailing = draw(st.sampled_from(["", ","]))
        return op, tuple(items), "(" + ", ".join(_quote(i) for i in items) + trailing + ")"
    value = draw(STRINGS)
    return op, value, _quote(value)


def expressions() -> st.SearchStrategy[tuple[Expr, str]]:
    def combine(
        children: st.SearchStrategy[tuple[Expr, str]],
    ) -> st.SearchStrategy[tuple[Expr, str]]:
        parts = st.lists(children, min_size=2, max_size=3)
        return st.tuples(st.sampled_from(["AND", "and", "OR", "or"]), parts).map(_join)

    return st.recursive(comparisons(), combine, max_leaves=6)


def _join(drawn: tuple[str, list[tuple[Expr, str]]]) -> tuple[Expr, str]:
    word, parts = drawn
    node = And if word.upper() == "AND" else Or
    texts = [f"({text})" if node is And and isinstance(expr, Or) else text for expr, text in parts]
    return node(tuple(expr for expr, _ in parts)), f" {word} ".join(texts)


def _like(value: str, pattern: str) -> bool:
    """SQL LIKE by dynamic programming: a reference independent of the regex translation."""
    reachable = {0}
    for char in pattern:
        if char == "%":
            reachable = set(range(min(reachable), len(value) + 1)) if reachable else set()
        else:
            reachable = {
                i + 1 for i in reachable if i < len(value) and (char == "_" or value[i] == char)
            }
    return len(value) in reachable


def _compare(lhs: Any, op: str, value: Any) -> bool:
    if op == "LIKE":
        return _like(lhs, value)
    if op == "ILIKE":
        return _like(lhs.lower(), value.lower())
    if op == "IN":
        return lhs in value
    if op == "NOT IN":
        return lhs not in value
    return {
        "=": lhs == value,
        "!=": lhs != value,
        "<": lhs < value,
        "<=": lhs <= value,
        ">": lhs > value,
        ">=": lhs >= value,
    }[op]


def evaluate(expr: Expr, run: Run) -> bool:
    """The meaning of an AST, written plainly."""
    if isinstance(expr, And):
        return all(evaluate(term, run) for term in expr.terms)
    if isinstance(expr, Or):
        return any(evaluate(term, run) for term in expr.terms)
    if expr.prefix == "dataset":
        index = ["name", "digest", "context"].index(expr.key)
        return any(
            d[index] is not None and _compare(d[index], expr.op, expr.value) for d in run.datasets
        )
    lhs = (
        {"metric": run.metrics, "param": run.params, "tag": run.tags}.get(expr.prefix, {}).get(
            expr.key
        )
        if expr.prefix != "attribute"
        else getattr(run, expr.key)
    )
    if expr.op == "IS NULL":
        return lhs is None
    if expr.op == "IS NOT NULL":
        return lhs is not None
    return lhs is not None and _compare(lhs, expr.op, expr.value)


def runs() -> st.SearchStrategy[Run]:
    maybe_strings = st.dictionaries(st.sampled_from(KEYS), STRINGS, max_size=3)
    return st.builds(
        Run,
        run_id=STRINGS,
        run_name=STRINGS,
        status=STRINGS,
        start_time=st.integers(-2, 3),
        end_time=st.none() | st.integers(-2, 3),
        metrics=st.dictionaries(st.sampled_from(KEYS), NUMBERS | st.just(NAN), max_size=3),
        params=maybe_strings,
        tags=maybe_strings,
        datasets=st.lists(st.tuples(STRINGS, STRINGS, st.none() | STRINGS), max_size=2).map(tuple),
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), st.lists(runs(), max_size=6))
def test_rendered_filters_mean_what_the_ast_means(
    drawn: tuple[Expr, str], records: list[Run]
) -> None:
    expr, text = drawn
    parsed = parse_filter(text)
    assert [parsed.matches(r) for r in records] == [evaluate(expr, r) for r in records]
    # The parser reads the same structure back, up to AND/OR chains it flattens.
    assert [parsed.matches(r) for r in records] == [evaluate(parsed.expr, r) for r in records]


# --- Property: garbage parses or raises FilterSyntaxError ---------------------------------

FRAGMENTS = [
    "metrics.",
    "params.",
    "tags.",
    "attributes.",
    "datasets.",
    "tag.",
    "attribute.",
    "a",
    "lr",
    "run_id",
    "status",
    "start_time",
    "name",
    "version_number",
    "experiment_id",
    "creation_time",
    "`",
    "'",
    '"',
    "`a b`",
    "'x'",
    '"y"',
    " ",
    "  ",
    "\n",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "AND",
    "and",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ilike",
    "ASC",
    "DESC",
    "(",
    ")",
    ",",
    ".",
    "-",
    "1",
    "0.5",
    ".5",
    "1e5",
    "1e-3",
    "-2",
    "%",
    "_",
    "\\",
    ";",
    "$",
    "é",
]
GARBAGE = st.text(max_size=40) | st.lists(st.sampled_from(FRAGMENTS), max_size=14).map("".join)
ENTITIES = st.sampled_from(
    [ENTITY_RUNS, ENTITY_EXPERIMENTS, ENTITY_REGISTERED_MODELS, ENTITY_MODEL_VERSIONS]
)


@settings(max_examples=1000)
@given(GARBAGE, ENTITIES)
def test_garbage_filters_parse_or_raise_filter_syntax_errors(text: str, entity: str) -> None:
    try:
        parsed = parse_filter(text, entity)
    except FilterSyntaxError as error:
        assert error.position is not None
        assert 0 <= error.position <= len(text)
        return
    records = RECORDS.get(entity, RUNS)
    parsed.select(records)  # evaluating never fails either


@settings(max_examples=500)
@given(GARBAGE, ENTITIES)
def test_garbage_order_by_parses_or_raises_filter_syntax_errors(text: str, entity: str) -> None:
    try:
        order = parse_order_by([text], entity)
    except FilterSyntaxError as error:
        assert error.position is None or 0 <= error.position <= len(text)
        return
    sort_records(RECORDS.get(entity, RUNS), order, entity)


# --- Property: sorting is a stable total order with NaN and None last ---------------------

ORDER_CLAUSES = st.lists(
    st.sampled_from(
        ["metrics.m", "params.p", "tags.t", "start_time", "end_time", "run_id", "status"]
    ),
    max_size=3,
    unique=True,
).flatmap(lambda keys: st.tuples(*[st.sampled_from([f"{k} ASC", f"{k} DESC", k]) for k in keys]))


def sort_runs() -> st.SearchStrategy[list[Run]]:
    run = st.builds(
        Run,
        run_id=st.sampled_from(["a", "b", "c"]),
        run_name=st.just(""),
        status=st.sampled_from(["FINISHED", "FAILED"]),
        start_time=st.integers(0, 2),
        end_time=st.none() | st.integers(0, 2),
        metrics=st.dictionaries(st.just("m"), st.sampled_from([NAN, -1.0, 0.0, 0.5, math.inf])),
        params=st.dictionaries(st.just("p"), st.sampled_from(["", "x", "X", "y"])),
        tags=st.dictionaries(st.just("t"), st.sampled_from(["a", "b"])),
    )
    return st.lists(run, max_size=12)


def _reference_cmp(keys: list[OrderKey], a: Run, b: Run) -> int:
    """Compare two runs key by key: values (ordered), then NaN, then None."""
    for key in keys:
        x, y = _value(a, key), _value(b, key)
        rx, ry = _rank(x), _rank(y)
        if rx != ry:
            return -1 if rx < ry else 1
        if rx == 0 and x != y:
            return (-1 if x < y else 1) * (1 if key.ascending else -1)
    return 0


def _value(run: Run, key: OrderKey) -> Any:
    if key.prefix == "attribute":
        return getattr(run, key.key)
    return {"metric": run.metrics, "param": run.params, "tag": run.tags}[key.prefix].get(key.key)


def _rank(value: Any) -> int:
    if value is None:
        return 2
    return 1 if isinstance(value, float) and math.isnan(value) else 0


@settings(max_examples=300)
@given(sort_runs(), ORDER_CLAUSES)
def test_sorting_is_a_stable_total_order_with_missing_last(
    records: list[Run], clauses: tuple[str, ...]
) -> None:
    order = parse_order_by(list(clauses))
    result = sort_records(records, order)
    keys = [*order]
    if not any(k.key == "start_time" for k in keys):
        keys.append(OrderKey("attribute", "start_time", False))
    keys.append(OrderKey("attribute", "run_id"))
    expected = sorted(records, key=functools.cmp_to_key(lambda a, b: _reference_cmp(keys, a, b)))
    assert [id(r) for r in result] == [id(r) for r in expected]
    if order:  # NaN, then None, come after every value of the first key, in both directions
        ranks = [_rank(_value(r, order[0])) for r in result]
        assert ranks == sorted(ranks)
    assert sort_records(result, order) == result
