"""``extra_metrics=``: metrics a user defines with ``make_metric``, computed after the built-in ones.

A metric's function is called as MLflow calls it. Its parameters are filled by
name: ``predictions`` and ``targets`` (pandas Series), ``metrics`` (every metric so
far, name -> :class:`MetricValue`), the name of another metric (its
:class:`MetricValue`; metrics are ordered so that it is computed first), a
feature column of the data, or an ``evaluator_config`` key; ``col_mapping`` renames
any of them. A function of exactly two other parameters is MLflow's older form,
``(eval_df, builtin_metrics)``. It returns a number or a :class:`MetricValue`:
aggregates become metrics (``name``, or ``name/<aggregate>``; ``name/<version>``
with a version), per-row scores go to the ``eval_results_table.json`` table.
"""

from __future__ import annotations

import inspect
import logging
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FunctionType
from typing import Any

from mltrack.exceptions import InvalidParameterValue

__all__ = ["EvaluationMetric", "MetricValue", "compute_extra_metrics", "make_metric"]

logger = logging.getLogger("mltrack")

_NO_VALUE = object()


def _numeric(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def standard_aggregations(scores: Sequence[float]) -> dict[str, float]:
    import numpy as np

    return {
        "mean": float(np.mean(scores)),
        "variance": float(np.var(scores)),
        "p90": float(np.percentile(scores, 90)),
    }


@dataclass
class MetricValue:
    """A metric's value: per-row ``scores`` (and ``justifications``) and ``aggregate_results``.

    Numeric scores without aggregates get their mean, variance and 90th percentile.
    """

    scores: list[Any] | None = None
    justifications: list[str | None] | None = None
    aggregate_results: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if (
            self.aggregate_results is None
            and isinstance(self.scores, (list, tuple))
            and self.scores
            and all(_numeric(s) for s in self.scores)
        ):
            self.aggregate_results = standard_aggregations(self.scores)


@dataclass
class EvaluationMetric:
    """A metric for ``extra_metrics`` (what ``make_metric`` returns)."""

    eval_fn: Callable[..., Any]
    name: str
    greater_is_better: bool
    long_name: str | None = None
    version: str | None = None
    metric_details: str | None = None
    metric_metadata: dict[str, Any] | None = None
    genai_metric_args: dict[str, Any] | None = field(default=None, repr=False)

    def __str__(self) -> str:
        parts = [f"name={self.name}", f"greater_is_better={self.greater_is_better}"]
        parts += [f"{k}={v}" for k in ("long_name", "version") if (v := getattr(self, k))]
        return f"EvaluationMetric({', '.join(parts)})"


def make_metric(
    *,
    eval_fn: Callable[..., Any],
    greater_is_better: bool,
    name: str | None = None,
    long_name: str | None = None,
    version: str | None = None,
    metric_details: str | None = None,
    metric_metadata: dict[str, Any] | None = None,
    genai_metric_args: dict[str, Any] | None = None,
) -> EvaluationMetric:
    """A metric for ``evaluate(..., extra_metrics=[...])`` (MLflow's ``make_metric``)."""
    if name is None:
        if isinstance(eval_fn, FunctionType) and eval_fn.__name__ == "<lambda>":
            raise InvalidParameterValue(
                "`name` must be specified if `eval_fn` is a lambda function."
            )
        if not hasattr(eval_fn, "__name__"):
            raise InvalidParameterValue(
                "`name` must be specified if `eval_fn` does not have a `__name__` attribute."
            )
        name = str(eval_fn.__name__)
    if "/" in name:
        raise InvalidParameterValue(
            f"Invalid metric name '{name}'. Metric names cannot include forward slashes ('/')."
        )
    return EvaluationMetric(
        eval_fn, name, greater_is_better, long_name, version, metric_details, metric_metadata,
        genai_metric_args,
    )  # fmt: skip


def _full_name(metric: EvaluationMetric) -> str:
    return f"{metric.name}/{metric.version}" if metric.version else metric.name


@dataclass
class _Context:
    eval_df: Any  # prediction, target columns
    features: Any
    config: dict[str, Any]
    values: dict[str, MetricValue]  # built-in and computed metrics, by full name
    pending: set[str]


def _arguments(metric: EvaluationMetric, context: _Context) -> list[Any] | None:
    """The arguments for the metric's function, or None while a metric it uses is not computed."""
    import copy

    parameters = inspect.signature(metric.eval_fn).parameters
    names = list(parameters)
    if len(names) == 2 and names[0] != "predictions" and names[1] != "targets":
        aggregates = _aggregates(context.values)
        return [context.eval_df.copy(), aggregates]
    mapping = context.config.get("col_mapping") or {}
    arguments: list[Any] = []
    missing: list[str] = []
    for name, parameter in parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        column = mapping.get(name, name)
        value: Any = _NO_VALUE
        if not isinstance(column, str):
            value = column
        elif column == "predictions":
            value = context.eval_df["prediction"].copy()
        elif column == "targets":
            value = context.eval_df["target"].copy()
        elif column == "metrics":
            value = copy.deepcopy(context.values)
        elif column in context.features.columns:
            value = context.features[column].copy()
        elif column in context.config:
            value = context.config[column]
        elif (found := _metric_named(context.values, column)) is not None:
            value = found
        elif column in context.pending:
            return None  # computed later; try again then
        elif parameter.default is not parameter.empty:
            value = parameter.default
        if value is _NO_VALUE:
            missing.append(name)
        arguments.append(value)
    if missing:
        raise InvalidParameterValue(
            f"Metric '{metric.name}' requires {missing}: name a feature column, another metric, "
            "an evaluator_config key, or map it with evaluator_config={'col_mapping': {...}}."
        )
    return arguments


def _metric_named(values: dict[str, MetricValue], name: str) -> MetricValue | None:
    for full, value in values.items():
        if full.split("/")[0] == name:
            return value
    return None


def _aggregates(values: dict[str, MetricValue], prefix: str = "") -> dict[str, Any]:
    """Metric name -> value, as logged: ``name`` or ``name/<aggregate>``.

    MLflow's ``metric_prefix`` prefixes an aggregate's name too (``val_error/val_mean``).
    """
    out: dict[str, Any] = {}
    for full, value in values.items():
        for aggregate, number in (value.aggregate_results or {}).items():
            if number is None:
                continue
            if aggregate == full.split("/")[0]:
                out[f"{prefix}{full}"] = number
            else:
                out[f"{prefix}{full}/{prefix}{aggregate}"] = number
    return out


def _checked(metric: EvaluationMetric, index: int, returned: Any) -> MetricValue | None:
    where = f"Did not log metric '{metric.name}' at index {index} in the `extra_metrics` parameter"
    if returned is None:
        logger.warning("%s because it returned None.", where)
        return None
    if _numeric(returned):
        return MetricValue(aggregate_results={metric.name: returned})
    if not isinstance(returned, MetricValue):
        logger.warning("%s because it did not return a MetricValue.", where)
        return None
    if returned.scores is not None and not isinstance(returned.scores, list):
        logger.warning("%s because it must return MetricValue with scores as a list.", where)
        return None
    aggregates = returned.aggregate_results
    if aggregates is not None and (
        not isinstance(aggregates, dict)
        or not all(isinstance(k, str) and (v is None or _numeric(v)) for k, v in aggregates.items())
    ):
        logger.warning(
            "%s because it must return MetricValue with aggregate_results as a dict of numbers.",
            where,
        )
        return None
    return returned


def compute_extra_metrics(
    metrics: Sequence[EvaluationMetric],
    y_pred: Any,
    y_true: Any,
    features: Any,
    builtin: dict[str, Any],
    config: dict[str, Any],
    prefix: str = "",
) -> tuple[dict[str, Any], dict[str, MetricValue]]:
    """The extra metrics' aggregates (name -> value, named as logged with ``prefix``) and each
    extra metric's value by full name."""
    import pandas as pd

    values = {name: MetricValue(aggregate_results={name: value}) for name, value in builtin.items()}
    eval_df = pd.DataFrame({"prediction": list(y_pred), "target": list(y_true)})
    remaining = list(enumerate(metrics))
    context = _Context(eval_df, features, config, values, {m.name for _, m in remaining})
    computed: dict[str, MetricValue] = {}
    while remaining:
        waiting = []
        for index, metric in remaining:
            arguments = _arguments(metric, context)
            if arguments is None:
                waiting.append((index, metric))
                continue
            context.pending.discard(metric.name)
            value = _checked(metric, index, metric.eval_fn(*arguments))
            if value is not None:
                values[_full_name(metric)] = value
                computed[_full_name(metric)] = value
        if len(waiting) == len(remaining):
            names = [m.name for _, m in waiting]
            raise InvalidParameterValue(
                f"The metrics {names} depend on each other in a cycle: none can be computed."
            )
        remaining = waiting
    return _aggregates(computed, prefix), computed
