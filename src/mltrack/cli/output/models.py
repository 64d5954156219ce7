"""How the CLI prints the registry: models, versions, history, comparisons, verification."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from mltrack.cli.output import emit, format_time, to_json

if TYPE_CHECKING:
    from mltrack.registry import ModelVersion, RegisteredModel, RegistryEvent

__all__ = [
    "print_comparison",
    "print_history",
    "print_model",
    "print_models",
    "print_registered",
    "print_verification",
    "print_versions",
]

_VERSION_COLUMNS = ["version", "stage", "aliases", "run_id", "source", "created", "description"]


def _version_rows(versions: Sequence[ModelVersion], output_format: str) -> list[dict[str, Any]]:
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


def print_registered(version: ModelVersion, output_format: str) -> None:
    if output_format == "json":
        click.echo(to_json(version.to_dict()))
    else:
        click.echo(
            f"Registered {version.name!r} version {version.version} "
            f"(tag {version.tag}, commit {version.commit[:12]})."
        )


def print_models(found: Sequence[RegisteredModel], output_format: str) -> None:
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


def print_model(
    model: RegisteredModel, versions: Sequence[ModelVersion], output_format: str
) -> None:
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


def print_versions(found: Sequence[ModelVersion], output_format: str) -> None:
    if output_format == "json":
        click.echo(to_json([v.to_dict() for v in found]))
        return
    emit(_version_rows(found, output_format), _VERSION_COLUMNS, output_format)


def print_history(events: Sequence[RegistryEvent], output_format: str) -> None:
    table = output_format == "table"
    rows = [
        {
            "when": dt.datetime.fromtimestamp(e.time).strftime("%Y-%m-%d %H:%M")
            if table
            else e.time,
            "commit": e.commit[:10] if table else e.commit,
            "author": e.author,
            "event": e.kind,
            "version": e.version,
            "detail": e.detail,
        }
        for e in events
    ]
    emit(rows, ["when", "commit", "author", "event", "version", "detail"], output_format)


def print_comparison(result: dict[str, Any], output_format: str) -> None:
    """Two versions side by side: metrics, params, signature, data and source run."""
    a, b, runs = result["a"], result["b"], result["runs"]
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
        from mltrack.registry.report import comparison_markdown  # the registry imports lazily

        click.echo(comparison_markdown(a.name, result))
    else:
        from mltrack.registry.report import comparison_rows

        la, lb = f"v{a.version}", f"v{b.version}"
        rows = [
            {
                "kind": row.kind,
                "key": row.key,
                la: row.a,
                lb: row.b,
                "delta": row.delta,
                "changed": "*" if row.changed else "",
            }
            for row in comparison_rows(result)
        ]
        columns = ["kind", "key", la, lb, "delta", "changed"]
        emit(rows, columns, output_format, title=f"{a.name}: {la} vs {lb}")


def print_verification(
    problems: Sequence[str], output_format: str, unverifiable: Sequence[str] = ()
) -> None:
    if output_format == "json":
        report = {"ok": not problems, "problems": list(problems)}
        click.echo(to_json({**report, "unverifiable": list(unverifiable)}))
        return
    for problem in problems:
        click.echo(problem)
    for note in unverifiable:
        click.echo(f"unverifiable: {note}")
    click.echo(
        f"{len(problems)} problem(s) found."
        if problems
        else "All registered versions match their recorded hashes."
    )
