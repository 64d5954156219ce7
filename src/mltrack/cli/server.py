"""``mltrack server``: MLflow's tracking REST API over this repository; ``mltrack ui``: the web UI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mltrack.cli.context import AppContext, fd_option, pass_app


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
    "artifact_root",
    metavar="URI",
    default=None,
    help="Accepted for MLflow compatibility and ignored: artifacts are stored in each "
    "run's directory in the repository and committed with the run.",
)
@click.option(
    "--artifacts-destination",
    metavar="PATH",
    default=None,
    help="A directory for files clients upload through mlflow-artifacts paths that are not "
    "in a run (e.g. mlflow.artifacts.log_artifact to a bare path); not committed. Files "
    "of runs still go to the run's directory. Default: such uploads are refused.",
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
    "--auth",
    is_flag=True,
    help="Require a user name and password or a token on every request, and check "
    "MLflow's per-experiment and per-model permissions (see `mltrack users`).",
)
@click.option(
    "--auth-db",
    metavar="PATH",
    type=click.Path(dir_okay=False),
    default=None,
    help="The credentials database (default: .git/mltrack/auth.db, never committed).",
)
@click.option(
    "--auth-default-permission",
    type=click.Choice(["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"]),
    default="READ",
    show_default=True,
    help="What users may do with experiments and models nobody granted them anything on.",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Serve HTTPS with this private key (with --ssl-certfile).",
)
@click.option(
    "--ssl-certfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Serve HTTPS with this certificate chain (with --ssl-keyfile).",
)
@click.option(
    "--mlflow-ui",
    is_flag=True,
    help="Also serve MLflow's own web UI, from the MLflow installed beside mltrack, at "
    "/mlflow/ (mltrack's UI stays at /).",
)
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
    artifacts_destination: str | None,
    host: str,
    port: int,
    workers: int,
    init: bool,
    allowed_hosts: str | None,
    cors_allowed_origins: str | None,
    fd: int | None,
    auth: bool,
    auth_db: str | None,
    auth_default_permission: str,
    ssl_keyfile: str | None,
    ssl_certfile: str | None,
    mlflow_ui: bool,
    log_level: str,
) -> None:
    """Serve MLflow's REST API so the stock MLflow client logs into this repository.

    \b
    mltrack server --backend-store-uri /path/to/repo --port 5000
    export MLFLOW_TRACKING_URI=http://127.0.0.1:5000

    Every run the client ends becomes a commit; registered versions are git tags.
    With --auth, users log in as with MLflow's basic-auth app, and their commits
    carry their name.
    """
    from mltrack.http_guard import parse_list
    from mltrack.server.app import serve
    from mltrack.server.config import ServerConfig, destination_path, open_backend
    from mltrack.server.mlflow_ui import build_directory

    if bool(ssl_keyfile) != bool(ssl_certfile):
        raise click.UsageError("--ssl-keyfile and --ssl-certfile go together.")
    if auth_db and not auth:
        raise click.UsageError("--auth-db needs --auth.")
    root = open_backend(backend_store_uri or app.repo_path, init=init)
    credentials = _prepare_auth(root, auth_db) if auth else None
    if artifact_root:
        click.echo(
            f"Note: --default-artifact-root {artifact_root} is ignored; artifacts are stored "
            "in each run's directory under .mltrack/ and committed with the run.",
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
        auth_db=credentials,
        default_permission=auth_default_permission,
        ssl_keyfile=Path(ssl_keyfile) if ssl_keyfile else None,
        ssl_certfile=Path(ssl_certfile) if ssl_certfile else None,
        artifacts_destination=destination_path(artifacts_destination),
        mlflow_ui=build_directory() if mlflow_ui else None,
    )
    if not auth and not _is_loopback(host):
        click.echo(
            f"Warning: serving on {host}:{port} without --auth. Anyone who can reach this "
            f"address can read, change and delete every experiment, run, artifact and "
            f"registered model in {root}, upload files into it, and commit to it. "
            "Pass --auth (see `mltrack users`).",
            err=True,
        )
    click.echo(
        f"mltrack server: serving {root} on {config.scheme}://{host}:{port} "
        f"({workers} worker{'s' if workers > 1 else ''}"
        f"{', authentication on' if auth else ''}"
        f"{f', MLflow UI at {config.scheme}://{host}:{port}/mlflow/' if mlflow_ui else ''}"
        "); press Ctrl+C to stop.",
        err=True,
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


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _prepare_auth(root: Path, auth_db: str | None) -> Path:
    """The credentials database, with the ``admin`` user created on first start.

    Its password comes from MLTRACK_AUTH_ADMIN_PASSWORD, else a prompt on a terminal;
    there is never a default password.
    """
    from mltrack.server.credentials import ADMIN, open_credentials

    credentials = open_credentials(root, auth_db)
    if not credentials.has_users():
        password = os.environ.get("MLTRACK_AUTH_ADMIN_PASSWORD")
        if not password:
            if not (sys.stdin.isatty() and sys.stdout.isatty()):
                raise click.ClickException(
                    f"--auth needs a password for the first user, {ADMIN!r}: set "
                    "MLTRACK_AUTH_ADMIN_PASSWORD, or start the server in a terminal to be asked."
                )
            password = click.prompt(
                f"Password for the new admin user {ADMIN!r}",
                hide_input=True,
                confirmation_prompt=True,
            )
        credentials.create_user(ADMIN, password, is_admin=True)
        click.echo(f"Created the admin user {ADMIN!r} in {credentials.path}.", err=True)
    return credentials.path


COMMANDS = [server, ui]
