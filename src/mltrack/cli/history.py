"""``mltrack log`` (the run timeline from commits) and ``mltrack diff REV_A [REV_B]`` (for review)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from mltrack.cli.context import AppContext, pass_app
from mltrack.cli.output import emit, format_option, format_value, progress, to_json


@click.command("log")
@click.argument("rev", default="HEAD")
@click.option("-n", "--max-count", type=click.IntRange(min=1), help="Show at most this many runs.")
@format_option()
@pass_app
def log(app: AppContext, rev: str, max_count: int | None, output_format: str) -> None:
    """The timeline of runs rebuilt from git commits, newest first, with their code commits."""
    from mltrack.store.revisions import timeline

    entries = timeline(app.repository(), rev, max_count)
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


def _markdown(diff: Any) -> str:
    def cell(value: Any) -> str:
        return format_value(value).replace("|", "\\|") if value is not None else "—"

    def delta(row: Any) -> str:
        if row.delta is None or not row.changed:
            return ""
        return f"{row.delta:+.4g}"

    lines = [f"### mltrack: `{diff.a.label}` → `{diff.b.label}`", ""]
    for comparison in diff.experiments:
        a = cell(comparison.a.run_name) if comparison.a else "(none)"
        b = cell(comparison.b.run_name) if comparison.b else "(none)"
        lines += [
            f"#### {comparison.title}",
            "",
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
    if not (diff.experiments or diff.added or diff.removed or diff.changed):
        lines.append("No run changes.")
    return "\n".join(lines).rstrip() + "\n"


@click.command("diff")
@click.argument("rev_a")
@click.argument("rev_b", required=False)
@format_option("markdown")
@pass_app
def diff(app: AppContext, rev_a: str, rev_b: str | None, output_format: str) -> None:
    """Params and metrics of two revisions side by side (REV_B defaults to the working tree).

    For each experiment, the latest finished run at REV_A against the one at
    REV_B, then the runs REV_B adds. `--format markdown` prints a pull-request comment.
    """
    from mltrack.cli.output.runs import print_comparison
    from mltrack.tracking.compare import compare_snapshots

    reader = app.repository().revisions
    with progress("Reading revisions") as callback:
        result = compare_snapshots(
            reader.snapshot(rev_a, callback), reader.snapshot(rev_b, callback)
        )
    if output_format == "json":
        click.echo(to_json(result.to_dict()))
    elif output_format == "markdown":
        click.echo(_markdown(result), nl=False)
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
        elif not result.experiments:
            click.echo("No run changes.")


COMMANDS = [log, diff]
