"""``mltrack runs list|show|diff|delete|restore``."""

from __future__ import annotations

from typing import Any

import click

from mltrack.cli.context import AppContext, pass_app
from mltrack.cli.experiments import VIEWS, resolve_experiment
from mltrack.cli.output import emit, format_option, format_time, format_value, progress, to_json

rev_option = click.option(
    "--rev", help="Read the runs stored at this git revision (branch, tag, commit)."
)


@click.group()
def runs() -> None:
    """List, show, compare, delete and restore runs."""


def _metrics_summary(metrics: dict[str, float], limit: int = 4) -> str:
    shown = [f"{k}={format_value(v)}" for k, v in sorted(metrics.items())[:limit]]
    return ", ".join(shown) + (" …" if len(metrics) > limit else "")


@runs.command("list")
@click.option(
    "-e",
    "--experiment",
    "experiments",
    multiple=True,
    help="Experiment name or id (repeatable; default: all).",
)
@click.option(
    "-f",
    "--filter",
    "filter_string",
    default="",
    help="MLflow filter, e.g. \"metrics.acc > 0.9 and params.lr = '0.1'\".",
)
@click.option("-o", "--order-by", multiple=True, help="e.g. 'metrics.acc DESC' (repeatable).")
@click.option(
    "-n",
    "--max-results",
    type=click.IntRange(min=1),
    default=None,
    help="Show at most this many runs.",
)
@click.option(
    "--view",
    type=click.Choice(list(VIEWS)),
    default="active",
    show_default=True,
    help="Active runs, deleted ones (restorable until `mltrack gc`), or all.",
)
@rev_option
@format_option()
@pass_app
def list_runs(
    app: AppContext,
    experiments: tuple[str, ...],
    filter_string: str,
    order_by: tuple[str, ...],
    max_results: int | None,
    view: str,
    rev: str | None,
    output_format: str,
) -> None:
    """List runs, newest first (MLflow's filter grammar and order_by)."""
    client = app.client()
    ids = [resolve_experiment(app, e) for e in experiments] or None
    with progress("Reading runs") as callback:
        records = client.search_run_records(
            ids, filter_string, VIEWS[view], list(order_by) or None, callback, rev
        )
    if max_results is not None:
        records = records[:max_results]
    if output_format == "json":
        click.echo(
            to_json(
                [
                    client.runs.to_run(r).to_dictionary()
                    if rev is None
                    else r.to_run().to_dictionary()
                    for r in records
                ]
            )
        )
        return
    rows = [
        {
            "run_id": r.run_id,
            "run_name": r.run_name,
            "experiment_id": r.experiment_id,
            "status": r.status,
            "start_time": format_time(r.start_time) if output_format == "table" else r.start_time,
            "metrics": _metrics_summary(r.metrics) if output_format == "table" else r.metrics,
        }
        for r in records
    ]
    if output_format == "csv":
        metric_keys = sorted({k for r in records for k in r.metrics})
        param_keys = sorted({k for r in records for k in r.params})
        flat = [
            {
                **row,
                **{f"metrics.{k}": r.metrics.get(k) for k in metric_keys},
                **{f"params.{k}": r.params.get(k) for k in param_keys},
            }
            for row, r in zip(rows, records, strict=True)
        ]
        columns = ["run_id", "run_name", "experiment_id", "status", "start_time"]
        emit(
            flat,
            columns + [f"metrics.{k}" for k in metric_keys] + [f"params.{k}" for k in param_keys],
            "csv",
        )
        return
    emit(
        rows,
        ["run_id", "run_name", "experiment_id", "status", "start_time", "metrics"],
        output_format,
    )


def _run_record(app: AppContext, run: str, rev: str | None) -> Any:
    client = app.client()
    run_id = client.resolve_run_id(run, rev)
    if rev is None:
        record = client.repository.runs.get(run_id)
        return record, client.repository.runs.effective_status(record)
    snapshot = client.repository.revisions.snapshot(rev)
    return snapshot.runs[run_id], snapshot.runs[run_id].status


@runs.command("show")
@click.argument("run")
@rev_option
@format_option()
@pass_app
def show(app: AppContext, run: str, rev: str | None, output_format: str) -> None:
    """Show everything about RUN (an id or a unique prefix of one)."""
    record, status = _run_record(app, run, rev)
    details = record.to_run(status).to_dictionary()
    if output_format == "json":
        click.echo(to_json(details))
        return
    info = details["info"]
    rows = [
        {"field": k, "value": info[k]}
        for k in (
            "run_id",
            "run_name",
            "experiment_id",
            "status",
            "user_id",
            "lifecycle_stage",
            "artifact_uri",
        )
    ]
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
    emit(rows, ["field", "value"], output_format)


def emit_comparison(comparison: Any, output_format: str, a_label: str, b_label: str) -> None:
    """Params and metrics of two runs side by side."""
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
    if output_format == "json":
        click.echo(to_json(comparison.to_dict()))
        return
    emit(
        rows,
        ["kind", "key", a_label, b_label, "delta", "changed"],
        output_format,
        title=comparison.title or None,
    )


@runs.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@rev_option
@format_option()
@pass_app
def diff(app: AppContext, run_a: str, run_b: str, rev: str | None, output_format: str) -> None:
    """Params and metrics of RUN_A and RUN_B side by side."""
    from mltrack.tracking.compare import compare_runs

    a, _ = _run_record(app, run_a, rev)
    b, _ = _run_record(app, run_b, rev)
    comparison = compare_runs(a, b, f"{a.run_name} vs {b.run_name}")
    emit_comparison(comparison, output_format, f"a:{a.run_id[:8]}", f"b:{b.run_id[:8]}")


@runs.command("delete")
@click.argument("run")
@pass_app
def delete(app: AppContext, run: str) -> None:
    """Mark RUN deleted (restorable; `mltrack gc` removes it for good)."""
    client = app.client()
    run_id = client.resolve_run_id(run)
    client.delete_run(run_id)
    click.echo(f"Deleted run {run_id} (restore with `mltrack runs restore {run_id[:8]}`).")


@runs.command("restore")
@click.argument("run")
@pass_app
def restore(app: AppContext, run: str) -> None:
    """Restore a deleted RUN."""
    client = app.client()
    run_id = client.resolve_run_id(run)
    client.restore_run(run_id)
    click.echo(f"Restored run {run_id}.")


COMMANDS = [runs]
