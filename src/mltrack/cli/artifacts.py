"""``mltrack artifacts list|get``: a run's artifact files, in the working tree or at any revision."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mltrack.cli.context import AppContext, pass_app
from mltrack.cli.output import format_option
from mltrack.cli.output.artifacts import print_artifacts

rev_option = click.option(
    "--rev", help="Read the artifacts stored at this git revision (branch, tag, commit)."
)


@click.group()
def artifacts() -> None:
    """List and fetch the artifact files of runs."""


@artifacts.command("list")
@click.argument("run")
@click.argument("path", required=False, default=None)
@rev_option
@format_option()
@pass_app
def list_artifacts(
    app: AppContext, run: str, path: str | None, rev: str | None, output_format: str
) -> None:
    """List the artifacts of RUN (an id or a unique prefix), or those under PATH."""
    client = app.client()
    run_id = client.resolve_run_id(run, rev)
    print_artifacts(run_id, client.artifacts.browse(run_id, path, rev), output_format)


@artifacts.command("get")
@click.argument("run")
@click.argument("path")
@click.option(
    "-o",
    "--output",
    "destination",
    type=click.Path(),
    default=None,
    help="Where to put it: into this directory if it exists, else under this name; '-' writes a "
    "file to stdout. Default: its own name in the current directory.",
)
@rev_option
@pass_app
def get(app: AppContext, run: str, path: str, destination: str | None, rev: str | None) -> None:
    """Copy the artifact file or directory PATH of RUN out of the repository."""
    client = app.client()
    run_id = client.resolve_run_id(run, rev)
    if destination == "-":
        sys.stdout.buffer.write(client.artifacts.read(run_id, path, rev))
        sys.stdout.flush()
        return
    target = Path(destination) if destination is not None else None
    written = client.artifacts.copy_out(run_id, path, target, rev)
    click.echo(f"Wrote {written}", err=True)


COMMANDS = [artifacts]
