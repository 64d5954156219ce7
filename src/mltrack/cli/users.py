"""``mltrack users``: the accounts of a team server (``mltrack server --auth``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from mltrack.cli.context import AppContext, pass_app
from mltrack.cli.output import emit, format_option

if TYPE_CHECKING:
    from mltrack.server.credentials import Credentials

_auth_db = click.option(
    "--auth-db",
    metavar="PATH",
    type=click.Path(dir_okay=False),
    default=None,
    help="The credentials database (default: .git/mltrack/auth.db of the repository).",
)
_password_stdin = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (one line) instead of asking.",
)


def _credentials(app: AppContext, auth_db: str | None) -> Credentials:
    from mltrack.server.credentials import open_credentials

    return open_credentials(app.repo_path, auth_db)


def _password(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))


@click.group()
def users() -> None:
    """Manage who may use `mltrack server --auth`, and their git identity.

    \b
    mltrack users create alice --email alice@example.com --display-name "Alice Liddell"
    mltrack users token alice        # an API token for MLFLOW_TRACKING_TOKEN
    """


@users.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Let the user do everything, users included.")
@click.option("--email", default=None, help="The email address their commits carry.")
@click.option("--display-name", default=None, help="The name their commits carry.")
@_password_stdin
@_auth_db
@pass_app
def create(
    app: AppContext,
    username: str,
    admin: bool,
    email: str | None,
    display_name: str | None,
    password_stdin: bool,
    auth_db: str | None,
) -> None:
    """Create a user (asks for the password)."""
    credentials = _credentials(app, auth_db)
    password = _password(password_stdin, f"Password for {username}")
    user = credentials.create_user(
        username, password, is_admin=admin, email=email, display_name=display_name
    )
    click.echo(f"Created user {user.username!r}{' (admin)' if user.is_admin else ''}.")


@users.command("update")
@click.argument("username")
@click.option("--admin/--no-admin", default=None, help="Make the user an admin, or not.")
@click.option("--email", default=None, help="The email address their commits carry.")
@click.option("--display-name", default=None, help="The name their commits carry.")
@_auth_db
@pass_app
def update(
    app: AppContext,
    username: str,
    admin: bool | None,
    email: str | None,
    display_name: str | None,
    auth_db: str | None,
) -> None:
    """Change a user's admin flag, email or display name."""
    user = _credentials(app, auth_db).update_user(
        username, is_admin=admin, email=email, display_name=display_name
    )
    click.echo(f"Updated user {user.username!r}.")


@users.command("delete")
@click.argument("username")
@_auth_db
@pass_app
def delete(app: AppContext, username: str, auth_db: str | None) -> None:
    """Delete a user, their tokens and their permissions."""
    _credentials(app, auth_db).delete_user(username)
    click.echo(f"Deleted user {username!r}.")


@users.command("list")
@format_option()
@_auth_db
@pass_app
def list_users(app: AppContext, output_format: str, auth_db: str | None) -> None:
    """List the users."""
    credentials = _credentials(app, auth_db)
    rows: list[dict[str, Any]] = [
        {
            "username": user.username,
            "admin": user.is_admin,
            "email": user.email,
            "display_name": user.display_name,
            "tokens": credentials.token_count(user.username),
        }
        for user in credentials.list_users()
    ]
    emit(rows, ["username", "admin", "email", "display_name", "tokens"], output_format)


@users.command("passwd")
@click.argument("username")
@_password_stdin
@_auth_db
@pass_app
def passwd(app: AppContext, username: str, password_stdin: bool, auth_db: str | None) -> None:
    """Set a user's password (asks for it)."""
    credentials = _credentials(app, auth_db)
    credentials.get_user(username)
    credentials.set_password(username, _password(password_stdin, f"New password for {username}"))
    click.echo(f"Changed the password of {username!r}.")


@users.command("token")
@click.argument("username")
@click.option("--revoke", is_flag=True, help="Revoke all of the user's tokens instead.")
@_auth_db
@pass_app
def token(app: AppContext, username: str, revoke: bool, auth_db: str | None) -> None:
    """Print a new API token for a user (it is shown only this once).

    The MLflow client sends it from MLFLOW_TRACKING_TOKEN.
    """
    credentials = _credentials(app, auth_db)
    if revoke:
        count = credentials.revoke_tokens(username)
        click.echo(f"Revoked {count} token{'s' if count != 1 else ''} of {username!r}.")
        return
    click.echo(credentials.create_token(username))


COMMANDS = [users]
