"""``mltrack runs list|show|diff|delete|restore``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mltrack.cli.context import AppContext, pass_app
from mltrack.cli.experiments import VIEWS, resolve_experiment
from mltrack.cli.output import format_option, progress
from mltrack.cli.output.runs import print_comparison, print_run, print_runs

if TYPE_CHECKING:
    from mltrack.entities import Run
    from mltrack.store.records import RunRecord

rev_option = click.option(
    "--rev", help="Read the runs stored at this git revision (branch, tag, commit)."
)


@click.group()
def runs() -> None:
    """List, show, compare, delete and restore runs."""


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
    # At a revision a run's stored status is its status (no process of today owns it).
    to_run = client.runs.to_run if rev is None else _stored
    names = client.runs.experiment_names(rev)
    print_runs(records[:max_results], to_run, names, output_format)


def _stored(record: RunRecord) -> Run:
    return record.to_run()


@runs.command("show")
@click.argument("run")
@rev_option
@format_option()
@pass_app
def show(app: AppContext, run: str, rev: str | None, output_format: str) -> None:
    """Show everything about RUN (an id or a unique prefix of one), naming its artifacts."""
    client = app.client()
    record, status = client.runs.find(run, rev)
    print_run(record, status, client.artifacts.browse(record.run_id, None, rev), output_format)


@runs.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@rev_option
@format_option()
@pass_app
def diff(app: AppContext, run_a: str, run_b: str, rev: str | None, output_format: str) -> None:
    """Params and metrics of RUN_A and RUN_B side by side."""
    comparison = app.client().runs.compare(run_a, run_b, rev)
    a = comparison.a.run_id if comparison.a else ""
    b = comparison.b.run_id if comparison.b else ""
    print_comparison(comparison, output_format, f"a:{a[:8]}", f"b:{b[:8]}")


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
    if client.restore_run(run_id):
        click.echo(f"Restored run {run_id}.")
    else:
        click.echo(f"Run {run_id} is not deleted: nothing to restore.")


COMMANDS = [runs]
