"""``mltrack experiments list|create|rename|delete|restore``."""

from __future__ import annotations

import click

from mltrack.cli.context import AppContext, pass_app
from mltrack.cli.output import emit, format_option, format_time
from mltrack.entities import ViewType
from mltrack.exceptions import ResourceDoesNotExist

VIEWS = {"active": 1, "deleted": 2, "all": 3}


def resolve_experiment(app: AppContext, name_or_id: str) -> str:
    """An experiment id from an id or a name (names win when both could match)."""
    repo = app.repository()
    record = repo.find_experiment(name_or_id)
    if record is not None:
        return record.experiment_id
    if name_or_id.isdigit() and repo.read_experiment(name_or_id) is not None:
        return name_or_id
    raise ResourceDoesNotExist(
        f"No experiment named or numbered {name_or_id!r}. List them with `mltrack experiments list`."
    )


@click.group()
def experiments() -> None:
    """List, create, rename, delete and restore experiments."""


@experiments.command("list")
@click.option(
    "--view",
    type=click.Choice(list(VIEWS)),
    default="active",
    show_default=True,
    help="Active experiments, deleted ones, or all.",
)
@format_option()
@pass_app
def list_experiments(app: AppContext, view: str, output_format: str) -> None:
    """List experiments with their run counts."""
    client = app.client()
    found = client.search_experiments(view_type=VIEWS[view], max_results=None)
    counts: dict[str, int] = {}
    for record in app.repository().runs.records(None, ViewType(VIEWS[view])):
        counts[record.experiment_id] = counts.get(record.experiment_id, 0) + 1
    rows = [
        {
            "experiment_id": e.experiment_id,
            "name": e.name,
            "lifecycle_stage": e.lifecycle_stage,
            "runs": counts.get(e.experiment_id, 0),
            "created": format_time(e.creation_time)
            if output_format == "table"
            else e.creation_time,
            "tags": e.tags,
        }
        for e in found
    ]
    columns = ["experiment_id", "name", "lifecycle_stage", "runs", "created"]
    emit(rows, columns, output_format)


@experiments.command("create")
@click.argument("name")
@pass_app
def create(app: AppContext, name: str) -> None:
    """Create an experiment (committed at once)."""
    experiment_id = app.client().create_experiment(name)
    click.echo(f"Created experiment {name!r} with id {experiment_id}.")


@experiments.command("rename")
@click.argument("experiment")
@click.argument("new_name")
@pass_app
def rename(app: AppContext, experiment: str, new_name: str) -> None:
    """Rename EXPERIMENT (a name or an id) to NEW_NAME."""
    app.client().rename_experiment(resolve_experiment(app, experiment), new_name)
    click.echo(f"Renamed experiment {experiment!r} to {new_name!r}.")


@experiments.command("delete")
@click.argument("experiment")
@pass_app
def delete(app: AppContext, experiment: str) -> None:
    """Mark EXPERIMENT deleted (restorable; `mltrack gc` removes it for good)."""
    app.client().delete_experiment(resolve_experiment(app, experiment))
    click.echo(f"Deleted experiment {experiment!r} (restore with `mltrack experiments restore`).")


@experiments.command("restore")
@click.argument("experiment")
@pass_app
def restore(app: AppContext, experiment: str) -> None:
    """Restore a deleted EXPERIMENT."""
    app.client().restore_experiment(resolve_experiment(app, experiment))
    click.echo(f"Restored experiment {experiment!r}.")


COMMANDS = [experiments]
