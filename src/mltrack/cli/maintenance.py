"""``init``, ``commit``, ``sync``, ``status``, ``fsck``, ``gc``, the Arrow ``textconv`` and model.yaml merge drivers."""

from __future__ import annotations

import re
from pathlib import Path

import click

from mltrack.cli.context import AppContext, pass_app
from mltrack.cli.output import emit, format_option, progress
from mltrack.exceptions import NotAGitRepository


@click.command()
@click.option(
    "--init-git",
    is_flag=True,
    help="Run `git init` first if the directory is not a git repository.",
)
@click.option(
    "--lfs",
    "lfs",
    is_flag=False,
    flag_value="10MB",
    default=None,
    metavar="[=SIZE]",
    help="Commit artifacts of SIZE or more (default 10MB) with git-lfs; sets "
    "artifacts.lfs_threshold in mltrack.yaml and runs `git lfs install --local`.",
)
@click.option(
    "--split-index",
    is_flag=True,
    help="Turn on git's split index in this clone (core.splitIndex): a run's commit then "
    "writes only the index entries that changed, which keeps it fast at 10,000+ runs.",
)
@pass_app
def init(app: AppContext, init_git: bool, lfs: str | None, split_index: bool) -> None:
    """Create the .mltrack/ store in this git repository and commit it (harmless if it exists)."""
    from mltrack.gitstore import GitStore
    from mltrack.store.large_artifacts import parse_size

    threshold = parse_size(lfs) if lfs is not None else None

    try:
        repo = app.repository()
    except NotAGitRepository:
        if not init_git:
            raise
        GitStore.init_repository(Path(app.repo_path or "."))
        repo = app.repository()
    commit = repo.init(threshold, split_index=split_index)
    where = repo.dir
    if commit:
        click.echo(f"Initialised mltrack store in {where} (commit {commit[:12]}).")
    else:
        click.echo(f"mltrack store already initialised in {where}.")
    if threshold is not None:
        click.echo(f"Artifacts of {threshold} bytes or more are committed with git-lfs.")
    if split_index:
        click.echo("git's split index is on in this clone (core.splitIndex).")


@click.command("commit")
@pass_app
def commit_command(app: AppContext) -> None:
    """Commit pending runs, one commit per run (for auto_commit: false, or after a crash).

    A run whose process died while it was RUNNING is recorded as KILLED.
    """
    from mltrack.store.maintenance import commit_pending

    report = commit_pending(app.repository())
    if report.integrated:
        click.echo(f"Put {len(report.integrated)} parked commit(s) on their branch.")
    for run_id in report.finalized:
        click.echo(f"Run {run_id}: its process is gone; recorded as KILLED.")
    for run_id in report.skipped:
        click.echo(f"Run {run_id}: still running, not committed.")
    click.echo(
        f"Committed {len(report.committed)} run(s)"
        + (" and other store changes." if report.other_commit else ".")
    )


@click.command()
@click.argument("remote", required=False)
@click.option("--merge", is_flag=True, help="Merge the remote branch instead of rebasing on it.")
@pass_app
def sync(app: AppContext, remote: str | None, merge: bool) -> None:
    """Fetch, integrate the remote branch, publish new versions and push, atomically.

    Versions never pushed whose numbers another clone already published are renumbered
    (their stage and alias records follow); published versions never are. The branch
    and the mltrack/* tags go in one `git push --atomic`, retried if the remote moved.
    """
    from mltrack.store.sync import sync as run_sync

    report = run_sync(app.repository(), remote, merge=merge)
    where = f"{report.remote}/{report.branch}"
    click.echo(f"Synced with {where} (commit {(report.commit or '')[:12]}).")
    click.echo(f"  runs in: {report.runs_in}, runs out: {report.runs_out}")
    click.echo(f"  versions received: {report.received}, published: {len(report.published)}")
    for tag in report.published:
        click.echo(f"    published {tag}")
    for moved in report.renumbered:
        click.echo(f"    renumbered {moved} (v{moved.old} was already published by another clone)")
    if report.attempts > 1:
        click.echo(f"  the remote moved meanwhile: pushed on attempt {report.attempts}")


@click.command()
@format_option()
@pass_app
def status(app: AppContext, output_format: str) -> None:
    """Show what is not pushed yet (runs, versions, ahead/behind) and parked run commits.

    Compares with the remote branch as last fetched (no network): `mltrack sync` updates it.
    """
    from mltrack.store.team_status import status as team_status

    repo = app.repository()
    team = team_status(repo)
    if team.upstream is not None and output_format == "table":
        if team.fetched:
            click.echo(
                f"Branch is {team.ahead} commit(s) ahead, {team.behind} behind {team.upstream}."
            )
        else:
            click.echo(f"{team.upstream} was never fetched: {team.ahead} commit(s) to push.")
        click.echo(f"Runs not pushed: {len(team.unpushed_runs)}")
        if team.unpublished is None:
            click.echo("Versions not published: unknown until the first `mltrack sync`.")
        else:
            click.echo(f"Versions not published: {len(team.unpublished)}")
            for tag in team.unpublished:
                click.echo(f"  {tag}")
    parked = repo.git.parked_commits()
    rows = [
        {
            "commit": p.sha,
            "branch": p.target.removeprefix("refs/heads/"),
            "run": p.commit.trailer("Mltrack-Run") or "",
            "subject": p.commit.subject,
        }
        for p in parked
    ]
    if output_format != "table":
        emit(rows, ["commit", "branch", "run", "subject"], output_format)
        return
    if not parked:
        click.echo("No run commits waiting: every run is on its branch.")
        return
    click.echo(
        f"{len(parked)} commit(s) saved but not on their branch yet (git's index.lock is held; "
        "the next mltrack command, or `mltrack commit`, puts them there):"
    )
    for row in rows:
        click.echo(f"  {row['commit'][:12]}  {row['branch']}  {row['subject']}")


@click.command()
@format_option()
@pass_app
def fsck(app: AppContext, output_format: str) -> None:
    """Check every file under .mltrack/ against its schema; exit 1 if anything is wrong."""
    from mltrack.store.maintenance import fsck as check

    with progress("Checking runs") as callback:
        problems = check(app.repository(), callback)
    rows = [{"path": p.path, "problem": p.message} for p in problems]
    if output_format != "table":
        emit(rows, ["path", "problem"], output_format)
    else:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"{len(problems)} problem(s) found." if problems else "No problems found.")
    if problems:
        raise SystemExit(1)


_DURATION = re.compile(r"^(\d+)([smhd])$")


def _parse_duration(text: str | None) -> int | None:
    if text is None:
        return None
    match = _DURATION.match(text.strip())
    if not match:
        raise click.BadParameter(f"{text!r}: use a number and a unit, e.g. 30d, 12h, 15m, 45s.")
    seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return seconds * 1000


@click.command()
@click.option("--older-than", help="Only what was deleted at least this long ago (e.g. 30d, 12h).")
@click.option(
    "--run-ids", help="Comma-separated deleted runs to remove (default: all deleted runs)."
)
@click.option("--experiment-ids", help="Comma-separated deleted experiments to remove.")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@pass_app
def gc(
    app: AppContext,
    older_than: str | None,
    run_ids: str | None,
    experiment_ids: str | None,
    dry_run: bool,
) -> None:
    """Remove deleted runs and experiments from the branch for good (one commit).

    Git history still holds them, and registered model versions keep their snapshots.
    """
    from mltrack.store.maintenance import gc as collect

    with progress("Removing runs") as callback:
        report = collect(
            app.repository(),
            older_than_ms=_parse_duration(older_than),
            run_ids=run_ids.split(",") if run_ids else None,
            experiment_ids=experiment_ids.split(",") if experiment_ids else None,
            dry_run=dry_run,
            progress=callback,
        )
    verb = "Would remove" if dry_run else "Removed"
    for run_id in report.runs:
        click.echo(f"{verb} run {run_id}")
    for experiment_id in report.experiments:
        click.echo(f"{verb} experiment {experiment_id}")
    for ref in report.refs:
        click.echo(f"Removed {ref} (a branch or tag now keeps its runs)")
    suffix = f" (commit {report.commit[:12]})" if report.commit else ""
    click.echo(
        f"{verb} {len(report.runs)} run(s) and {len(report.experiments)} experiment(s){suffix}."
    )


@click.command(hidden=True)
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def textconv(path: str) -> None:
    """Print a metrics.arrow file as text (git's diff driver for *.arrow)."""
    from mltrack.store.metrics import to_text

    click.echo(to_text(Path(path)), nl=False)


@click.command("merge-driver", hidden=True)
@click.argument("base", type=click.Path(dir_okay=False))
@click.argument("ours", type=click.Path(exists=True, dir_okay=False))
@click.argument("theirs", type=click.Path(dir_okay=False))
@click.argument("path", required=False)
def merge_driver(base: str, ours: str, theirs: str, path: str | None) -> None:
    """Merge a model.yaml or experiment.yaml key by key (git's merge driver; writes OURS, exit 1
    on a conflict)."""
    from mltrack.store.model_merge import merge_texts, renumbered_from_env

    def read(name: str) -> bytes:
        file = Path(name)
        return file.read_bytes() if file.is_file() else b""

    merged, conflicted = merge_texts(
        read(base), read(ours), read(theirs), renumbered=renumbered_from_env()
    )
    Path(ours).write_bytes(merged)
    if conflicted:
        click.echo(f"mltrack: {path or ours}: the same key was changed on both sides", err=True)
        raise SystemExit(1)


COMMANDS = [init, commit_command, sync, status, fsck, gc, textconv, merge_driver]
