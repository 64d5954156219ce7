"""``mltrack models …``: the registry on the command line."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from mltrack.cli import AppContext, pass_app
from mltrack.cli.output import emit, format_option, format_time, to_json


def _registry(app: AppContext) -> Any:
    from mltrack.registry import Registry

    return Registry(app.repository())


def _version_rows(versions: list[Any], output_format: str) -> list[dict[str, Any]]:
    return [
        {
            "version": v.version,
            "stage": v.current_stage,
            "aliases": ", ".join(v.aliases),
            "run_id": v.run_id,
            "source": v.source,
            "created": format_time(v.creation_timestamp)
            if output_format == "table"
            else v.creation_timestamp,
            "description": v.description,
        }
        for v in versions
    ]


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
    if output_format == "json":
        click.echo(to_json(version.to_dict()))
    else:
        click.echo(
            f"Registered {name!r} version {version.version} (tag {version.tag}, commit {version.commit[:12]})."
        )


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
    if output_format == "json":
        click.echo(to_json([m.to_dict() for m in found]))
        return
    rows = [
        {
            "name": m.name,
            "latest": ", ".join(f"v{v.version} ({v.current_stage})" for v in m.latest_versions),
            "aliases": ", ".join(f"@{a}=v{n}" for a, n in sorted(m.aliases.items())),
            "updated": format_time(m.last_updated_timestamp)
            if output_format == "table"
            else m.last_updated_timestamp,
            "description": m.description,
        }
        for m in found
    ]
    emit(rows, ["name", "latest", "aliases", "updated", "description"], output_format)


@models.command("show")
@click.argument("name")
@format_option()
@pass_app
def show(app: AppContext, name: str, output_format: str) -> None:
    """Show a registered model: description, tags, aliases, versions."""
    registry = _registry(app)
    model = registry.get_registered_model(name)
    versions = registry.list_versions(name)
    if output_format == "json":
        click.echo(to_json({**model.to_dict(), "versions": [v.to_dict() for v in versions]}))
        return
    click.echo(f"{model.name}: {model.description or '(no description)'}")
    if model.tags:
        click.echo("tags: " + ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())))
    if model.aliases:
        click.echo(
            "aliases: " + ", ".join(f"@{a} -> v{n}" for a, n in sorted(model.aliases.items()))
        )
    emit(
        _version_rows(versions, output_format),
        ["version", "stage", "aliases", "run_id", "created"],
        output_format,
    )


@models.command("versions")
@click.argument("name")
@format_option()
@pass_app
def versions(app: AppContext, name: str, output_format: str) -> None:
    """List the versions of NAME (deleted versions are not shown)."""
    registry = _registry(app)
    found = registry.list_versions(name)
    if output_format == "json":
        click.echo(to_json([v.to_dict() for v in found]))
        return
    emit(
        _version_rows(found, output_format),
        ["version", "stage", "aliases", "run_id", "source", "created", "description"],
        output_format,
    )


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
    events = _registry(app).history(name)
    rows = [
        {
            "when": dt.datetime.fromtimestamp(e.time).strftime("%Y-%m-%d %H:%M")
            if output_format == "table"
            else e.time,
            "commit": e.commit[:10] if output_format == "table" else e.commit,
            "author": e.author,
            "event": e.kind,
            "version": e.version,
            "detail": e.detail,
        }
        for e in events
    ]
    emit(rows, ["when", "commit", "author", "event", "version", "detail"], output_format)


@models.command("compare")
@click.argument("name")
@click.argument("version_a", type=int)
@click.argument("version_b", type=int)
@format_option("markdown")
@pass_app
def compare(app: AppContext, name: str, version_a: int, version_b: int, output_format: str) -> None:
    """Params, metrics, signature and data lineage of two versions side by side."""
    from mltrack.registry.report import comparison_markdown, comparison_rows

    result = _registry(app).compare(name, version_a, version_b)
    a, b, runs = result["a"], result["b"], result["runs"]
    la, lb = f"v{a.version}", f"v{b.version}"
    rows = [
        {"kind": row.kind, "key": row.key, la: row.a, lb: row.b, "delta": row.delta}
        for row in comparison_rows(result)
    ]
    if output_format == "json":
        click.echo(
            to_json(
                {
                    "a": a.to_dict(),
                    "b": b.to_dict(),
                    "runs": runs.to_dict(),
                    "signatures": result["signatures"],
                    "datasets": result["datasets"],
                }
            )
        )
    elif output_format == "markdown":
        click.echo(comparison_markdown(name, result))
    else:
        emit(rows, ["kind", "key", la, lb, "delta"], output_format, title=f"{name}: {la} vs {lb}")


@models.command("verify")
@format_option()
@pass_app
def verify(app: AppContext, output_format: str) -> None:
    """Check every version's files against the sha256 recorded at registration (for CI); exit 1 on a mismatch."""
    problems = _registry(app).verify()
    if output_format == "json":
        click.echo(to_json({"ok": not problems, "problems": problems}))
    else:
        for problem in problems:
            click.echo(problem)
        click.echo(
            f"{len(problems)} problem(s) found."
            if problems
            else "All registered versions match their recorded hashes."
        )
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
