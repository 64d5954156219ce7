"""The ``mltrack`` command line: thin commands over the library.

One error boundary: an :class:`~mltrack.exceptions.MltrackError` becomes a one-line
``Error: …`` on stderr and exit status 1; usage errors exit 2 (click's rule);
``--traceback`` shows the full traceback for debugging.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from mltrack import __version__
from mltrack.cli import (
    artifacts,
    completion,
    experiments,
    history,
    interop,
    maintenance,
    metrics,
    models,
    projects,
    runs,
    server,
    serving,
    users,
)
from mltrack.cli.context import AppContext
from mltrack.exceptions import MltrackError

__all__ = ["AppContext", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="mltrack")
@click.option(
    "-C",
    "--repo",
    "repo_path",
    type=click.Path(file_okay=False),
    default=None,
    help="The git repository to use (default: the one around the current directory).",
)
@click.option("--traceback", is_flag=True, hidden=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, repo_path: str | None, traceback: bool) -> None:
    """MLflow's ML lifecycle, stored in your git repository.

    Runs are committed to git as they finish; models are registered as git
    tags; promotions are commits you can review in a pull request.
    """
    ctx.obj = AppContext(repo_path)
    ctx.meta["traceback"] = traceback


def _register_commands() -> None:
    modules = (
        maintenance,
        experiments,
        runs,
        metrics,
        history,
        models,
        projects,
        server,
        users,
        interop,
    )
    for module in modules:
        for command in module.COMMANDS:
            cli.add_command(command)
    for command in (*artifacts.COMMANDS, *completion.COMMANDS):
        cli.add_command(command)
    for command in projects.RUNS_COMMANDS:
        runs.runs.add_command(command)
    for command in serving.MODELS_COMMANDS:
        models.models.add_command(command)


_register_commands()


class _WarningsToStderr(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"Warning: {record.getMessage()}", err=True)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point with the one error boundary."""
    logger = logging.getLogger("mltrack")
    if not any(isinstance(h, _WarningsToStderr) for h in logger.handlers):
        logger.addHandler(_WarningsToStderr(logging.WARNING))
    logger.propagate = False
    args = sys.argv[1:] if argv is None else argv
    try:
        return cli.main(args=args, prog_name="mltrack", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort as abort:
        if isinstance(abort.__cause__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except MltrackError as error:
        if "--traceback" in args:
            raise
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        click.echo(f"Error: {first}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as error:  # the boundary: never a traceback unless asked for
        if "--traceback" in args:
            raise
        click.echo(
            f"Error: unexpected {type(error).__name__}: {error} (run again with --traceback for details)",
            err=True,
        )
        sys.exit(1)
