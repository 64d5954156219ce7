"""``mltrack run`` (MLflow Projects) and ``mltrack runs rerun``."""

from __future__ import annotations

from typing import Any

import click

from mltrack.cli.context import AppContext, pass_app

ENV_MANAGERS = ("local", "virtualenv")


def _say(line: str) -> None:
    click.echo(f"mltrack: {line}", err=True)


def _parameters(
    ctx: click.Context, option: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in values:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise click.BadParameter(f"{item!r}: write -P NAME=VALUE.", ctx, option)
        if name in parsed:
            raise click.BadParameter(f"parameter {name!r} is given twice.", ctx, option)
        parsed[name] = value
    return parsed


def experiment_options(function: Any) -> Any:
    """--experiment-name, --experiment-id and --run-name, shared by run and rerun."""
    function = click.option("--run-name", help="Name of the new run (default: a generated name).")(
        function
    )
    function = click.option(
        "--experiment-id", help="Record the run in the experiment with this id."
    )(function)
    return click.option(
        "--experiment-name", help="Record the run in this experiment (created if new)."
    )(function)


@click.command("run")
@click.argument("uri")
@click.option(
    "-e",
    "--entry-point",
    default="main",
    show_default=True,
    help="Entry point of the MLproject, or a .py/.sh file of the project.",
)
@click.option(
    "-v",
    "--version",
    "version",
    metavar="COMMIT",
    help="Run this commit, branch or tag of the project's repository (from a temporary worktree).",
)
@click.option(
    "-P",
    "--param-list",
    "parameters",
    multiple=True,
    metavar="NAME=VALUE",
    callback=_parameters,
    help="A parameter of the entry point (repeatable).",
)
@experiment_options
@click.option(
    "--env-manager",
    type=click.Choice(ENV_MANAGERS),
    help="local: this interpreter; virtualenv: a cached virtualenv from python_env.yaml "
    "(default: virtualenv if the project declares an environment, else local).",
)
@click.option(
    "--require-clean",
    is_flag=True,
    help="Refuse to run a working tree with uncommitted changes to tracked files.",
)
@pass_app
def run_command(
    app: AppContext,
    uri: str,
    entry_point: str,
    version: str | None,
    parameters: dict[str, str],
    experiment_name: str | None,
    experiment_id: str | None,
    run_name: str | None,
    env_manager: str | None,
    require_clean: bool,
) -> None:
    """Run an MLflow project (a directory or git repository) as a tracked run.

    URI is a directory or a git repository on this machine: a path or a file://
    URL, optionally followed by #SUBDIRECTORY. The run is recorded in the
    repository around the current directory (or -C), with the project's commit,
    parameters and environment, and the diff of uncommitted changes if any.
    """
    from mltrack.projects import run

    submitted = run(
        uri,
        entry_point,
        version,
        parameters,
        experiment_name=experiment_name,
        experiment_id=experiment_id,
        run_name=run_name,
        env_manager=env_manager,
        tracking_uri=str(app.repository().root),
        require_clean=require_clean,
        log=_say,
    )
    click.echo(f"Run {submitted.run_id} FINISHED.")


@click.command("rerun")
@click.argument("run")
@click.option("--uri", help="Where the project is now, if it moved (default: the recorded source).")
@experiment_options
@click.option(
    "--env-manager",
    type=click.Choice(ENV_MANAGERS),
    help="Override the recorded environment manager.",
)
@pass_app
def rerun_command(
    app: AppContext,
    run: str,
    uri: str | None,
    experiment_name: str | None,
    experiment_id: str | None,
    run_name: str | None,
    env_manager: str | None,
) -> None:
    """Run project run RUN again: same source, commit, entry point and parameters.

    The new run is recorded in RUN's experiment (unless another is given) with
    the tag mltrack.project.rerun_of=RUN.
    """
    from mltrack.projects import rerun

    submitted = rerun(
        run,
        uri=uri,
        experiment_name=experiment_name,
        experiment_id=experiment_id,
        run_name=run_name,
        env_manager=env_manager,
        tracking_uri=str(app.repository().root),
        log=_say,
    )
    click.echo(f"Run {submitted.run_id} FINISHED (a rerun of {run}).")


COMMANDS = [run_command]
RUNS_COMMANDS = [rerun_command]
