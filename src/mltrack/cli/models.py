"""``mltrack models …``: the registry on the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mltrack.cli.context import AppContext, pass_app
from mltrack.cli.output import format_option
from mltrack.cli.output.models import (
    print_comparison,
    print_history,
    print_model,
    print_models,
    print_registered,
    print_verification,
    print_versions,
)

if TYPE_CHECKING:
    from mltrack.registry import Registry


def _registry(app: AppContext) -> Registry:
    from mltrack.registry import Registry

    return Registry(app.repository())


@click.group()
def models() -> None:
    """Register, list, promote, alias, compare and verify model versions."""


@models.command("register")
@click.argument("model_uri")
@click.argument("name")
@click.option("--description", default=None, help="Description of the new version.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Version tag (repeatable).")
@format_option()
@pass_app
def register(
    app: AppContext,
    model_uri: str,
    name: str,
    description: str | None,
    tags: tuple[str, ...],
    output_format: str,
) -> None:
    """Register MODEL_URI (runs:/<run>/<path> or models:/m-<id>) as the next version of NAME."""
    parsed = dict(_key_value(t) for t in tags)
    version = _registry(app).create_model_version(
        name, model_uri, tags=parsed, description=description
    )
    print_registered(version, output_format)


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{text!r}: use KEY=VALUE.")
    return key, value


@models.command("list")
@click.option("-f", "--filter", "filter_string", default=None, help="e.g. \"name LIKE 'iris%'\".")
@format_option()
@pass_app
def list_models(app: AppContext, filter_string: str | None, output_format: str) -> None:
    """List registered models with their latest versions and aliases."""
    found = _registry(app).search_registered_models(filter_string, max_results=None)
    print_models(found, output_format)


@models.command("show")
@click.argument("name")
@format_option()
@pass_app
def show(app: AppContext, name: str, output_format: str) -> None:
    """Show a registered model: description, tags, aliases, versions."""
    registry = _registry(app)
    print_model(registry.get_registered_model(name), registry.list_versions(name), output_format)


@models.command("versions")
@click.argument("name")
@format_option()
@pass_app
def versions(app: AppContext, name: str, output_format: str) -> None:
    """List the versions of NAME (deleted versions are not shown)."""
    print_versions(_registry(app).list_versions(name), output_format)


branch_option = click.option(
    "--branch",
    default=None,
    help="Commit the change on this new branch (for a pull request) instead of the current one; the working tree is not touched.",
)


@models.command("promote")
@click.argument("name")
@click.argument("version", type=int)
@click.argument("stage")
@click.option(
    "--archive-existing", is_flag=True, help="Move the versions now in STAGE to Archived."
)
@branch_option
@pass_app
def promote(
    app: AppContext, name: str, version: int, stage: str, archive_existing: bool, branch: str | None
) -> None:
    """Move VERSION of NAME to STAGE (Staging, Production, Archived, None) in a reviewable commit."""
    result = _registry(app).transition_model_version_stage(
        name, version, stage, archive_existing, branch=branch
    )
    where = (
        f"on new branch {branch!r} (open a pull request from it)"
        if branch
        else "on the current branch"
    )
    click.echo(f"{name!r} version {version} is now {result.current_stage}: committed {where}.")


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int, required=False)
@click.option("--delete", "remove", is_flag=True, help="Remove ALIAS instead of setting it.")
@branch_option
@pass_app
def alias(
    app: AppContext, name: str, alias: str, version: int | None, remove: bool, branch: str | None
) -> None:
    """Point ALIAS of NAME at VERSION (models:/NAME@ALIAS), in a reviewable commit."""
    registry = _registry(app)
    where = f"on new branch {branch!r}" if branch else "on the current branch"
    if remove:
        registry.delete_registered_model_alias(name, alias, branch=branch)
        click.echo(f"Removed @{alias} of {name!r}: committed {where}.")
        return
    if version is None:
        raise click.UsageError("Give the VERSION the alias should point at (or --delete).")
    registry.set_registered_model_alias(name, alias, version, branch=branch)
    click.echo(f"@{alias} of {name!r} now points at version {version}: committed {where}.")


@models.command("history")
@click.argument("name")
@format_option()
@pass_app
def history(app: AppContext, name: str, output_format: str) -> None:
    """Registrations, stage and alias changes and deletions of NAME, from tags and commits."""
    print_history(_registry(app).history(name), output_format)


@models.command("compare")
@click.argument("name")
@click.argument("version_a", type=int)
@click.argument("version_b", type=int)
@format_option("markdown")
@pass_app
def compare(app: AppContext, name: str, version_a: int, version_b: int, output_format: str) -> None:
    """Params, metrics, signature and data lineage of two versions side by side."""
    print_comparison(_registry(app).compare(name, version_a, version_b), output_format)


@models.command("verify")
@click.option(
    "--fetch",
    is_flag=True,
    help="Fetch the remote's mltrack/* version tags first (a CI clone made without tags).",
)
@format_option()
@pass_app
def verify(app: AppContext, fetch: bool, output_format: str) -> None:
    """Check every version's files against the sha256 recorded at registration (for CI).

    Exit 1 on a mismatch, on a stage or alias whose pinned model is not the version
    it names, or when versions to check have no tag in this clone (use --fetch).
    """
    registry = _registry(app)
    problems = registry.verify(fetch=fetch)
    print_verification(problems, output_format, registry.unverifiable())
    if problems:
        raise SystemExit(1)


@models.command("delete")
@click.argument("name")
@click.argument("version", type=int, required=False)
@pass_app
def delete(app: AppContext, name: str, version: int | None) -> None:
    """Delete VERSION of NAME (or the whole model): a recorded event; the tags stay in git."""
    registry = _registry(app)
    if version is None:
        registry.delete_registered_model(name)
        click.echo(f"Deleted registered model {name!r} (its version tags stay in git history).")
    else:
        registry.delete_model_version(name, version)
        click.echo(f"Deleted {name!r} version {version} (its tag stays in git history).")


COMMANDS = [models]
