"""How the CLI prints runs: a list, one run, two runs side by side."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from mltrack.cli.output import emit, emit_csv, format_time, format_value, to_json
from mltrack.cli.output.artifacts import artifact_names

if TYPE_CHECKING:
    from mltrack.entities import FileInfo, Run
    from mltrack.store.records import RunRecord
    from mltrack.tracking.compare import RunComparison

__all__ = ["print_comparison", "print_run", "print_runs"]

_LIST_COLUMNS = ["run_id", "run_name", "experiment", "status", "start_time"]
_CSV_INFO = (*_LIST_COLUMNS, "experiment_id")
_SHOWN_INFO = (
    "run_id",
    "run_name",
    "experiment_id",
    "status",
    "user_id",
    "lifecycle_stage",
    "artifact_uri",
)


def _metrics_summary(metrics: dict[str, float], limit: int = 4) -> str:
    shown = [f"{k}={format_value(v)}" for k, v in sorted(metrics.items())[:limit]]
    return ", ".join(shown) + (" …" if len(metrics) > limit else "")


def print_runs(
    records: Sequence[RunRecord],
    to_run: Callable[[RunRecord], Run],
    experiment_names: dict[str, str],
    output_format: str,
) -> None:
    """A table with experiment names and a metrics summary; CSV with the experiment id too and a
    column per metric and param; JSON: MLflow's run dictionaries (experiment ids)."""
    if output_format == "json":
        click.echo(to_json([to_run(r).to_dictionary() for r in records]))
        return
    table = output_format == "table"
    rows = [
        {
            "run_id": r.run_id,
            "run_name": r.run_name,
            "experiment": experiment_names.get(r.experiment_id, r.experiment_id),
            "experiment_id": r.experiment_id,
            "status": r.status,
            "start_time": format_time(r.start_time) if table else r.start_time,
            "metrics": _metrics_summary(r.metrics) if table else r.metrics,
        }
        for r in records
    ]
    if output_format != "csv":
        emit(rows, [*_LIST_COLUMNS, "metrics"], output_format)
        return
    metric_keys = sorted({k for r in records for k in r.metrics})
    param_keys = sorted({k for r in records for k in r.params})
    columns = [*_LIST_COLUMNS, "experiment_id", *(f"metrics.{k}" for k in metric_keys)]
    emit_csv(
        columns + [f"params.{k}" for k in param_keys],
        (
            [
                *(row[c] for c in _CSV_INFO),
                *map(r.metrics.get, metric_keys),
                *map(r.params.get, param_keys),
            ]
            for row, r in zip(rows, records, strict=True)
        ),
    )


def print_run(
    record: RunRecord, status: str, artifacts: Sequence[FileInfo], output_format: str
) -> None:
    """Every field of one run, one per row, and its top-level artifacts (JSON: MLflow's run dictionary)."""
    details = record.to_run(status).to_dictionary()
    if output_format == "json":
        click.echo(to_json(details))
        return
    info = details["info"]
    rows: list[dict[str, Any]] = [{"field": k, "value": info[k]} for k in _SHOWN_INFO]
    rows += [
        {"field": "start_time", "value": format_time(info["start_time"])},
        {"field": "end_time", "value": format_time(info["end_time"])},
        {
            "field": "code",
            "value": ", ".join(f"{k}={v}" for k, v in details["code"].items() if v is not None),
        },
    ]
    rows += [{"field": f"params.{k}", "value": v} for k, v in sorted(record.params.items())]
    rows += [{"field": f"metrics.{k}", "value": v} for k, v in sorted(record.metrics.items())]
    rows += [{"field": f"tags.{k}", "value": v} for k, v in sorted(record.tags.items())]
    rows += [
        {"field": f"inputs.{d['dataset']['name']}", "value": f"digest {d['dataset']['digest']}"}
        for d in details["inputs"]["dataset_inputs"]
    ]
    rows.append({"field": "artifacts", "value": artifact_names(artifacts)})
    emit(rows, ["field", "value"], output_format)


def print_comparison(
    comparison: RunComparison, output_format: str, a_label: str, b_label: str
) -> None:
    """Params and metrics of two runs side by side."""
    if output_format == "json":
        click.echo(to_json(comparison.to_dict()))
        return
    rows = [
        {
            "kind": kind,
            "key": row.key,
            a_label: row.a,
            b_label: row.b,
            "delta": row.delta,
            "changed": "*" if row.changed else "",
        }
        for kind, rows_of_kind in (("param", comparison.params), ("metric", comparison.metrics))
        for row in rows_of_kind
    ]
    emit(
        rows,
        ["kind", "key", a_label, b_label, "delta", "changed"],
        output_format,
        title=comparison.title or None,
    )
