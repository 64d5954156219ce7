"""``mltrack log`` (the run timeline from commits) and ``mltrack diff REV_A [REV_B]`` (for review)."""

from __future__ import annotations

import click

from mltrack.cli.context import AppContext, pass_app
from mltrack.cli.output import format_option, progress
from mltrack.cli.output.history import print_revision_diff, print_timeline


@click.command("log")
@click.argument("rev", default="HEAD")
@click.option("-n", "--max-count", type=click.IntRange(min=1), help="Show at most this many runs.")
@format_option()
@pass_app
def log(app: AppContext, rev: str, max_count: int | None, output_format: str) -> None:
    """The timeline of runs rebuilt from git commits, newest first, with their code commits."""
    from mltrack.store.revisions import timeline

    print_timeline(timeline(app.repository(), rev, max_count), output_format)


@click.command("diff")
@click.argument("rev_a")
@click.argument("rev_b", required=False)
@format_option("markdown")
@pass_app
def diff(app: AppContext, rev_a: str, rev_b: str | None, output_format: str) -> None:
    """Params and metrics of two revisions side by side (REV_B defaults to the working tree).

    For each experiment, the latest finished run at REV_A against the one at
    REV_B, then the runs REV_B adds, then the registry changes: versions registered,
    stage and alias moves with the replaced version's metrics against the new one's.
    `--format markdown` prints a pull-request comment.
    """
    from mltrack.registry.revision_diff import registry_changes
    from mltrack.tracking.compare import compare_revisions

    repository = app.repository()
    with progress("Reading revisions") as callback:
        result = compare_revisions(repository, rev_a, rev_b, callback)
    print_revision_diff(result, output_format, registry_changes(repository, rev_a, rev_b))


COMMANDS = [log, diff]
