"""``mltrack import mlflow`` and ``mltrack export mlflow``: moving in and out of MLflow."""

from __future__ import annotations

import click

from mltrack.cli.context import AppContext, pass_app
from mltrack.cli.output import progress

__all__ = ["COMMANDS"]


@click.group(name="import")
def import_group() -> None:
    """Bring another tracker's history into this repository."""


@import_group.command(name="mlflow")
@click.argument("source")
@click.option(
    "--runs-per-commit",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Commit this many imported runs at once (each keeps its own Mltrack-Run trailer, so "
    "`mltrack log` still lists every run).",
)
@pass_app
def import_mlflow(app: AppContext, source: str, runs_per_commit: int) -> None:
    """Import an MLflow store: an mlruns directory, a sqlite:/// URI or an http:// server.

    Experiments, runs (params, metric histories, tags, dataset inputs, artifacts,
    original times and users), logged models and the model registry. Run and
    logged model ids are kept; runs already here are skipped, so an interrupted
    import resumes and a second one imports nothing twice. Needs MLflow
    (pip install 'mltrack[mlflow]').
    """
    from mltrack.interop.mlflow_import import import_mlflow as run_import

    with progress("Importing runs") as callback:
        report = run_import(app.repository(), source, callback, runs_per_commit)
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(
        f"Imported {report.experiments} experiment(s), {report.runs} run(s), "
        f"{report.logged_models} logged model(s), {report.registered_models} registered "
        f"model(s), {report.versions} version(s); skipped {report.skipped_runs} run(s) and "
        f"{report.skipped_versions} version(s) already here."
    )


@click.group(name="export")
def export_group() -> None:
    """Write this repository's history into another tracker."""


@export_group.command(name="mlflow")
@click.argument("destination")
@pass_app
def export_mlflow(app: AppContext, destination: str) -> None:
    """Export to an MLflow store: an mlruns directory, a sqlite:/// URI or an http:// server.

    Experiments (matched by name), runs with their metric histories, params, tags,
    inputs and artifacts, logged models and the registry (versions in order, with
    stages, aliases, tags and descriptions). MLflow gives runs and logged models new
    ids; parent runs and version sources are rewritten to them. Needs MLflow
    (pip install 'mltrack[mlflow]').
    """
    from mltrack.interop.mlflow_export import export_mlflow as run_export

    with progress("Exporting runs") as callback:
        report = run_export(app.repository(), destination, callback)
    click.echo(
        f"Exported {report.runs} run(s), {report.logged_models} logged model(s) and "
        f"{report.versions} version(s) of {report.registered_models} new registered model(s); "
        f"created {report.experiments} experiment(s)."
    )


COMMANDS = (import_group, export_group)
