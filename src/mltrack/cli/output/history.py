"""How the CLI prints history: the run timeline and the diff of two revisions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from mltrack.cli.output import emit, format_value, to_json
from mltrack.cli.output.runs import print_comparison

if TYPE_CHECKING:
    from mltrack.registry.revision_diff import RegistryChange
    from mltrack.store.revisions import TimelineEntry
    from mltrack.tracking.compare import RevisionDiff

__all__ = ["print_revision_diff", "print_timeline"]


def print_timeline(entries: Sequence[TimelineEntry], output_format: str) -> None:
    """One line per run commit (and its metrics summary); JSON/CSV rows for scripts."""
    if output_format == "json":
        click.echo(to_json([e.__dict__ for e in entries]))
        return
    if output_format == "csv":
        columns = [
            "commit",
            "time",
            "author",
            "run_id",
            "experiment_id",
            "status",
            "code_commit",
            "subject",
        ]
        emit([e.__dict__ for e in entries], columns, "csv")
        return
    for entry in entries:
        when = dt.datetime.fromtimestamp(entry.time).strftime("%Y-%m-%d %H:%M")
        code = f" code {entry.code_commit[:10]}" if entry.code_commit else ""
        click.echo(
            f"{entry.commit[:10]} {when} {entry.author}: {entry.subject} [run {entry.run_id[:8]}{code}]"
        )
        if entry.summary:
            click.echo(f"    {entry.summary}")
    if not entries:
        click.echo("No runs committed yet.")


def _cell(value: Any) -> str:
    return format_value(value).replace("|", "\\|") if value is not None else "—"


def _what(change: RegistryChange) -> str:
    """A change's detail with the version it replaces, as one line."""
    detail = change.detail
    if change.replaced is not None and "was version" not in detail:
        detail += f" (replacing version {change.replaced})"
    return detail


def _metric_moves(change: RegistryChange) -> str:
    """``acc: 0.5 -> 0.7 (+0.2)`` for every metric of the compared runs."""
    if change.comparison is None:
        return ""
    moves = []
    for row in change.comparison.metrics:
        if change.comparison.a is None:
            moves.append(f"{row.key}={format_value(row.b)}")
            continue
        delta = f" ({row.delta:+.4g})" if row.delta is not None and row.changed else ""
        moves.append(f"{row.key}: {format_value(row.a)} -> {format_value(row.b)}{delta}")
    return ", ".join(moves)


def _registry_markdown(changes: Sequence[RegistryChange]) -> list[str]:
    lines = [
        f"#### Registry: {len(changes)} change(s)",
        "",
        "| model | change | version | what | metrics |",
        "|---|---|---|---|---|",
    ]
    for change in changes:
        version = f"v{change.version}" if change.version is not None else ""
        lines.append(
            f"| {_cell(change.model)} | {change.change} | {version} | {_cell(_what(change))} "
            f"| {_cell(_metric_moves(change) or None)} |"
        )
    lines.append("")
    for change in changes:
        comparison = change.comparison
        if comparison is None or comparison.a is None or change.replaced is None:
            continue
        if not any(row.changed for row in [*comparison.metrics, *comparison.params]):
            continue
        lines += [
            f"##### {_cell(change.model)} v{change.version} against v{change.replaced} "
            f"({_cell(change.detail)})",
            "",
            f"| | v{change.replaced} (run `{comparison.a.run_id[:8]}`) "
            f"| v{change.version} (run `{comparison.b.run_id[:8] if comparison.b else '—'}`) | Δ |",
            "|---|---|---|---|",
        ]
        for row in comparison.metrics:
            mark = "**" if row.changed else ""
            delta = f"{row.delta:+.4g}" if row.delta is not None and row.changed else ""
            lines.append(
                f"| {mark}metrics.{row.key}{mark} | {_cell(row.a)} | {_cell(row.b)} | {delta} |"
            )
        for row in comparison.params:
            if row.changed:
                lines.append(f"| **params.{row.key}** | {_cell(row.a)} | {_cell(row.b)} | |")
        lines.append("")
    return lines


def _markdown(diff: Any, registry: Sequence[RegistryChange] = ()) -> str:
    cell = _cell

    def delta(row: Any) -> str:
        if row.delta is None or not row.changed:
            return ""
        return f"{row.delta:+.4g}"

    lines = [f"### mltrack: `{diff.a.label}` → `{diff.b.label}`", ""]
    for comparison in diff.experiments:
        a = cell(comparison.a.run_name) if comparison.a else "(none)"
        b = cell(comparison.b.run_name) if comparison.b else "(none)"
        lines += [f"#### {comparison.title}", ""]
        if not any(row.changed for row in [*comparison.metrics, *comparison.params]):
            lines += [f"No differences in params or metrics between {a} and {b}.", ""]
            continue
        lines += [
            f"| | `{diff.a.label}`: {a} | `{diff.b.label}`: {b} | Δ |",
            "|---|---|---|---|",
        ]
        for row in comparison.metrics:
            mark = "**" if row.changed else ""
            lines.append(
                f"| {mark}metrics.{row.key}{mark} | {cell(row.a)} | {cell(row.b)} | {delta(row)} |"
            )
        for row in comparison.params:
            if row.changed:
                lines.append(f"| **params.{row.key}** | {cell(row.a)} | {cell(row.b)} | |")
        lines.append("")
    if diff.added:
        lines += [
            f"#### {len(diff.added)} new run(s)",
            "",
            "| run | status | metrics |",
            "|---|---|---|",
        ]
        for run in diff.added:
            metrics = ", ".join(f"{k}={format_value(v)}" for k, v in sorted(run.metrics.items()))
            lines.append(
                f"| {cell(run.run_name)} (`{run.run_id[:8]}`) | {run.status} | {metrics} |"
            )
        lines.append("")
    if diff.removed:
        lines.append(
            f"{len(diff.removed)} run(s) removed: "
            + ", ".join(f"`{r.run_id[:8]}`" for r in diff.removed)
        )
    if diff.changed:
        lines.append(
            f"{len(diff.changed)} run(s) changed: "
            + ", ".join(f"`{c.b.run_id[:8]}`" for c in diff.changed if c.b)
        )
    runs_changed = bool(diff.experiments or diff.added or diff.removed or diff.changed)
    if not runs_changed and not registry:
        lines.append("No run changes.")
    if registry:
        if runs_changed:
            lines.append("")
        lines += _registry_markdown(registry)
    return "\n".join(lines).rstrip() + "\n"


def print_revision_diff(
    result: RevisionDiff, output_format: str, registry: Sequence[RegistryChange] = ()
) -> None:
    """Each experiment's latest finished runs side by side, then the runs added, removed,
    changed, then the registry changes (versions registered, stage and alias moves)."""
    if output_format == "json":
        click.echo(to_json({**result.to_dict(), "registry": [c.to_dict() for c in registry]}))
    elif output_format == "markdown":
        click.echo(_markdown(result, registry), nl=False)
    else:
        for comparison in result.experiments:
            print_comparison(comparison, output_format, result.a.label, result.b.label)
            click.echo()
        rows = (
            [
                {
                    "change": "added",
                    "run_id": r.run_id,
                    "run_name": r.run_name,
                    "status": r.status,
                    "metrics": ", ".join(
                        f"{k}={format_value(v)}" for k, v in sorted(r.metrics.items())
                    ),
                }
                for r in result.added
            ]
            + [
                {
                    "change": "removed",
                    "run_id": r.run_id,
                    "run_name": r.run_name,
                    "status": r.status,
                    "metrics": "",
                }
                for r in result.removed
            ]
            + [
                {
                    "change": "changed",
                    "run_id": c.b.run_id,
                    "run_name": c.b.run_name,
                    "status": c.b.status,
                    "metrics": ", ".join(
                        f"{row.key}: {format_value(row.a)} -> {format_value(row.b)}"
                        for row in c.metrics
                        if row.changed
                    ),
                }
                for c in result.changed
                if c.b is not None
            ]
        )
        if rows:
            emit(rows, ["change", "run_id", "run_name", "status", "metrics"], output_format)
        elif not result.experiments and not registry:
            click.echo("No run changes.")
        if registry:
            if rows or result.experiments:
                click.echo()
            registry_rows = [
                {
                    "model": change.model,
                    "change": change.change,
                    "version": change.version,
                    "what": _what(change),
                    "metrics": _metric_moves(change),
                }
                for change in registry
            ]
            emit(registry_rows, ["model", "change", "version", "what", "metrics"], output_format)
