"""``mltrack server``: MLflow's tracking REST API over this repository; ``mltrack ui``: the web UI."""

from __future__ import annotations

import os

import click

from mltrack.cli.context import AppContext, pass_app

fd_option = click.option(
    "--fd",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Listen on this already bound socket, inherited as file descriptor N (socket "
    "activation, or a test that bound a free port); --host and --port are then ignored.",
)


@click.command(context_settings={"help_option_names": ["--help"]})
@click.option(
    "--backend-store-uri",
    metavar="PATH",
    default=None,
    help="The git repository to serve (default: the one around the current directory). "
    "Database URIs are refused: runs are files in the repository.",
)
@click.option(
    "--default-artifact-root",
    "--artifacts-destination",
    "artifact_root",
    metavar="URI",
    default=None,
    help="Accepted for MLflow compatibility and ignored: artifacts are stored in each "
    "run's directory in the repository and committed with the run.",
)
@click.option("-h", "--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("-p", "--port", default=5000, show_default=True, type=int, help="Port to bind.")
@click.option(
    "-w",
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes; every write is on disk before it is answered, so they share state.",
)
@click.option(
    "--init", is_flag=True, help="Create the git repository and mltrack store if missing."
)
@click.option(
    "--allowed-hosts",
    envvar="MLFLOW_SERVER_ALLOWED_HOSTS",
    metavar="HOSTS",
    default=None,
    help="Comma-separated Host headers to serve, wildcards allowed (e.g. 'mlflow.corp.com,"
    "10.0.*'; '*' for any). Default: localhost, private networks and the bound address; "
    "others get 403 (DNS rebinding protection).",
)
@click.option(
    "--cors-allowed-origins",
    envvar="MLFLOW_SERVER_CORS_ALLOWED_ORIGINS",
    metavar="ORIGINS",
    default=None,
    help="Comma-separated origins whose pages may write through this server (e.g. "
    "'https://app.corp.com'; '*' for any). Default: localhost only; cross-origin "
    "POST/PUT/PATCH/DELETE from others get 403.",
)
@fd_option
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
    help="How much the server logs (info logs every request).",
)
@pass_app
def server(
    app: AppContext,
    backend_store_uri: str | None,
    artifact_root: str | None,
    host: str,
    port: int,
    workers: int,
    init: bool,
    allowed_hosts: str | None,
    cors_allowed_origins: str | None,
    fd: int | None,
    log_level: str,
) -> None:
    """Serve MLflow's REST API so the stock MLflow client logs into this repository.

    \b
    mltrack server --backend-store-uri /path/to/repo --port 5000
    export MLFLOW_TRACKING_URI=http://127.0.0.1:5000

    Every run the client ends becomes a commit; registered versions are git tags.
    """
    from mltrack.http_guard import parse_list
    from mltrack.server.app import serve
    from mltrack.server.config import ServerConfig, open_backend

    root = open_backend(backend_store_uri or app.repo_path, init=init)
    if artifact_root:
        click.echo(
            f"Note: --default-artifact-root {artifact_root} is ignored; artifacts are stored "
            "in each run's directory under .mltrack/ and committed with the run.",
            err=True,
        )
    click.echo(
        f"mltrack server: serving {root} on http://{host}:{port} "
        f"({workers} worker{'s' if workers > 1 else ''}); press Ctrl+C to stop.",
        err=True,
    )
    config = ServerConfig(
        root,
        host,
        port,
        workers,
        owner_pid=os.getpid(),
        allowed_hosts=parse_list(allowed_hosts),
        cors_allowed_origins=parse_list(cors_allowed_origins),
        fd=fd,
    )
    serve(config, log_level)


@click.command(context_settings={"help_option_names": ["--help"]})
@click.argument("repo", required=False, type=click.Path(file_okay=False))
@click.option("-h", "--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("-p", "--port", default=5000, show_default=True, type=int, help="Port to bind.")
@fd_option
@pass_app
def ui(app: AppContext, repo: str | None, host: str, port: int, fd: int | None) -> None:
    """Browse, chart and compare runs, review the registry and the git history in a browser.

    \b
    mltrack ui                 # the repository around the current directory
    mltrack ui path/to/repo --port 8080

    The same app as `mltrack server` (the REST API is served too); everything
    works offline. Open the printed address in a browser.
    """
    from mltrack.server.app import serve
    from mltrack.server.config import ServerConfig, open_backend

    root = open_backend(repo or app.repo_path)
    click.echo(f"mltrack ui: {root} at http://{host}:{port}/ ; press Ctrl+C to stop.", err=True)
    serve(ServerConfig(root, host, port, 1, owner_pid=os.getpid(), fd=fd))


COMMANDS = [server, ui]
