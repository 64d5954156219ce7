"""The team server's users, tokens and permissions: a SQLite file outside the repository.

It lives in the git directory (``.git/mltrack/auth.db`` by default, or
``--auth-db``), which git never commits or pushes. Passwords are stored as
argon2id hashes (``argon2-cffi``, the ``mltrack[auth]`` extra); API tokens are
random 256-bit secrets stored as their SHA-256, shown once when made.

Checking a password costs an argon2 verification (tens of milliseconds, by
design), too much for every request of a training loop. So each process
remembers, for a few minutes, that a password matched the *current* stored hash:
the memo is keyed by the stored hash, so a changed password or a deleted user
is seen by every worker at once, and it holds only a keyed digest of the
password, never the password.

Several worker processes share the file: SQLite in WAL mode with a busy timeout,
one connection per thread.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mltrack.exceptions import (
    InvalidParameterValue,
    MltrackError,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from mltrack.server.permissions import Permission, permission_named

__all__ = ["ADMIN", "Credentials", "User", "default_auth_db", "open_credentials"]

ADMIN = "admin"
TOKEN_PREFIX = "mlt_"
MAX_USERNAME = 255
MAX_PASSWORD = 1024
MEMO_SECONDS = 300.0
MEMO_SIZE = 4096

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    email TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS experiment_permissions (
    experiment_id TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (experiment_id, user_id)
);
CREATE TABLE IF NOT EXISTS registered_model_permissions (
    name TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (name, user_id)
);
"""

# Resource kinds: (table, key column, MLflow's JSON key of the resource).
EXPERIMENT = ("experiment_permissions", "experiment_id")
REGISTERED_MODEL = ("registered_model_permissions", "name")


@dataclass(frozen=True)
class User:
    id: int
    username: str
    is_admin: bool
    email: str = ""
    display_name: str = ""

    def to_json(self) -> dict[str, Any]:
        """MLflow's user shape (``id``, ``username``, ``is_admin``), plus the git identity."""
        return {
            "id": self.id,
            "username": self.username,
            "is_admin": self.is_admin,
            "email": self.email,
            "display_name": self.display_name,
        }


def default_auth_db(private_dir: Path) -> Path:
    """``<git dir>/mltrack/auth.db``: inside ``.git``, so never committed or pushed."""
    return private_dir / "auth.db"


def open_credentials(repo_root: Path | str | None, auth_db: Path | str | None) -> Credentials:
    """The credentials database ``auth_db``, or the default one of the repository."""
    if auth_db:
        return Credentials(Path(auth_db).expanduser())
    from mltrack.gitstore import GitStore

    return Credentials(default_auth_db(GitStore.discover(repo_root).private_dir))


def _hasher() -> Any:
    try:
        from argon2 import PasswordHasher
    except ImportError:
        raise MltrackError(
            "Authentication needs the argon2-cffi package: pip install 'mltrack[auth]'."
        ) from None
    return PasswordHasher()


def check_username(username: Any) -> str:
    if not isinstance(username, str) or not username.strip():
        raise InvalidParameterValue("Username cannot be empty.")
    if len(username) > MAX_USERNAME:
        raise InvalidParameterValue(f"Username is longer than {MAX_USERNAME} characters.")
    if ":" in username or any(ord(c) < 32 or ord(c) == 127 for c in username):
        raise InvalidParameterValue(
            f"Invalid username {username!r}: it may not contain ':' or control characters "
            "(HTTP basic authentication could not send it)."
        )
    return username


def check_password(password: Any) -> str:
    if not isinstance(password, str) or password == "":
        raise InvalidParameterValue("Password cannot be empty.")
    if len(password) > MAX_PASSWORD:
        raise InvalidParameterValue(f"Password is longer than {MAX_PASSWORD} characters.")
    return password


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 320 or any(c in value for c in "<>\n\r\0"):
        raise InvalidParameterValue(f"Invalid {what} {value!r}.")
    return value.strip()


class Credentials:
    """Users, their API tokens and their permissions, in one SQLite file."""

    def __init__(self, path: Path, *, hasher: Any = None) -> None:
        """``hasher``: an ``argon2.PasswordHasher`` for new passwords (default: argon2-cffi's,
        RFC 9106's low-memory profile). Stored hashes carry their own parameters."""
        self.path = Path(path)
        self._local = threading.local()
        self._memo: dict[tuple[str, str], tuple[bytes, float]] = {}
        self._memo_key = secrets.token_bytes(32)
        self._hasher: Any = hasher
        self._dummy: str | None = None
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db().executescript(_SCHEMA)
        if created:
            self.path.chmod(stat.S_IRUSR | stat.S_IWUSR)

    # ------------------------------------------------------------------ storage

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back on error."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _hash(self, password: str) -> str:
        if self._hasher is None:
            self._hasher = _hasher()
        return str(self._hasher.hash(check_password(password)))

    # ------------------------------------------------------------------ users

    def has_users(self) -> bool:
        return self._db().execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def create_user(
        self,
        username: str,
        password: str,
        *,
        is_admin: bool = False,
        email: str | None = None,
        display_name: str | None = None,
    ) -> User:
        check_username(username)
        hashed = self._hash(password)
        try:
            with self._connection() as db:
                db.execute(
                    "INSERT INTO users (username, password_hash, is_admin, email, display_name) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        username,
                        hashed,
                        int(is_admin),
                        _text(email, "email"),
                        _text(display_name, "display name"),
                    ),
                )
        except sqlite3.IntegrityError:
            raise ResourceAlreadyExists(f"User '{username}' already exists.") from None
        return self.get_user(username)

    def find_user(self, username: str) -> User | None:
        row = self._db().execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        return _user(row) if row is not None else None

    def get_user(self, username: Any) -> User:
        user = self.find_user(username) if isinstance(username, str) else None
        if user is None:
            raise ResourceDoesNotExist(f"User with username={username} not found")
        return user

    def list_users(self) -> list[User]:
        rows = self._db().execute("SELECT * FROM users ORDER BY username").fetchall()
        return [_user(row) for row in rows]

    def delete_user(self, username: str) -> None:
        user = self.get_user(username)
        with self._connection() as db:
            db.execute("DELETE FROM users WHERE id = ?", (user.id,))

    def set_password(self, username: str, password: str) -> None:
        user = self.get_user(username)
        hashed = self._hash(password)
        with self._connection() as db:
            db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (hashed, user.id))

    def update_user(
        self,
        username: str,
        *,
        is_admin: bool | None = None,
        email: str | None = None,
        display_name: str | None = None,
    ) -> User:
        user = self.get_user(username)
        with self._connection() as db:
            if is_admin is not None:
                db.execute("UPDATE users SET is_admin = ? WHERE id = ?", (int(is_admin), user.id))
            if email is not None:
                db.execute(
                    "UPDATE users SET email = ? WHERE id = ?", (_text(email, "email"), user.id)
                )
            if display_name is not None:
                db.execute(
                    "UPDATE users SET display_name = ? WHERE id = ?",
                    (_text(display_name, "display name"), user.id),
                )
        return self.get_user(username)

    def remembered(self, username: str, password: str) -> User | None:
        """The user, if this process verified this password against their current hash lately.

        Cheap (one SQLite read, one HMAC): no argon2, so it is tried first and never throttled.
        """
        row = self._row(username)
        if row is None:
            return None
        memo = self._memo.get((username, row["password_hash"]))
        if (
            memo is not None
            and memo[1] > time.monotonic()
            and hmac.compare_digest(memo[0], self._digest(password))
        ):
            return _user(row)
        return None

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if ``password`` is theirs, else None (unknown users cost a hash too)."""
        if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
            return None
        row = self._row(username)
        if self._hasher is None:
            self._hasher = _hasher()
        stored = row["password_hash"] if row is not None else self._dummy_hash()
        try:
            self._hasher.verify(stored, password)
        except Exception:  # argon2's VerifyMismatchError, or a hash it cannot read
            return None
        if row is None:
            return None
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        self._memo[(username, stored)] = (self._digest(password), time.monotonic() + MEMO_SECONDS)
        return _user(row)

    def _row(self, username: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._db().execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        )
        return row

    def _digest(self, password: str) -> bytes:
        return hmac.new(
            self._memo_key, password.encode("utf-8", "surrogatepass"), "sha256"
        ).digest()

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = str(self._hasher.hash(secrets.token_hex(16)))
        return self._dummy

    # ------------------------------------------------------------------ tokens

    def create_token(self, username: str) -> str:
        """A new API token for ``username`` (shown once: only its SHA-256 is stored)."""
        user = self.get_user(username)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._connection() as db:
            db.execute(
                "INSERT INTO tokens (token_hash, user_id, created_ms) VALUES (?, ?, ?)",
                (_token_hash(token), user.id, int(time.time() * 1000)),
            )
        return token

    def revoke_tokens(self, username: str) -> int:
        user = self.get_user(username)
        with self._connection() as db:
            return db.execute("DELETE FROM tokens WHERE user_id = ?", (user.id,)).rowcount

    def token_count(self, username: str) -> int:
        user = self.get_user(username)
        row = self._db().execute("SELECT COUNT(*) FROM tokens WHERE user_id = ?", (user.id,))
        return int(row.fetchone()[0])

    def user_for_token(self, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        row = (
            self._db()
            .execute(
                "SELECT users.* FROM tokens JOIN users ON users.id = tokens.user_id "
                "WHERE tokens.token_hash = ?",
                (_token_hash(token),),
            )
            .fetchone()
        )
        return _user(row) if row is not None else None

    # ------------------------------------------------------------------ permissions

    def permission(self, kind: tuple[str, str], resource: str, user: User) -> Permission | None:
        """The permission ``user`` was granted on one resource; None: the default applies."""
        table, column = kind
        row = (
            self._db()
            .execute(
                f"SELECT permission FROM {table} WHERE {column} = ? AND user_id = ?",
                (resource, user.id),
            )
            .fetchone()
        )
        return permission_named(row[0]) if row is not None else None

    def has_denials(self, user: User) -> bool:
        """Whether ``user`` was granted NO_PERMISSIONS on any experiment or registered model."""
        row = (
            self._db()
            .execute(
                "SELECT 1 FROM experiment_permissions WHERE user_id = ? AND permission = ? "
                "UNION ALL SELECT 1 FROM registered_model_permissions "
                "WHERE user_id = ? AND permission = ? LIMIT 1",
                (user.id, "NO_PERMISSIONS", user.id, "NO_PERMISSIONS"),
            )
            .fetchone()
        )
        return row is not None

    def grant(
        self, kind: tuple[str, str], resource: str, username: str, permission: str, *, new: bool
    ) -> None:
        """Set ``username``'s permission on a resource (``new``: it must not have one yet)."""
        level = permission_named(permission)
        user = self.get_user(username)
        table, column = kind
        with self._connection() as db:
            exists = db.execute(
                f"SELECT 1 FROM {table} WHERE {column} = ? AND user_id = ?", (resource, user.id)
            ).fetchone()
            if new and exists:
                raise ResourceAlreadyExists(
                    f"{_what(kind)} permission ({column}={resource}, username={username}) "
                    "already exists."
                )
            db.execute(
                f"INSERT OR REPLACE INTO {table} ({column}, user_id, permission) VALUES (?, ?, ?)",
                (resource, user.id, level.name),
            )

    def update_grant(
        self, kind: tuple[str, str], resource: str, username: str, permission: str
    ) -> None:
        self.require_grant(kind, resource, username)
        self.grant(kind, resource, username, permission, new=False)

    def require_grant(self, kind: tuple[str, str], resource: str, username: str) -> Permission:
        user = self.get_user(username)
        found = self.permission(kind, resource, user)
        if found is None:
            _, column = kind
            raise ResourceDoesNotExist(
                f"{_what(kind)} permission with {column}={resource} and username={username} "
                "not found"
            )
        return found

    def revoke(self, kind: tuple[str, str], resource: str, username: str) -> None:
        user = self.get_user(username)
        table, column = kind
        with self._connection() as db:
            db.execute(
                f"DELETE FROM {table} WHERE {column} = ? AND user_id = ?", (resource, user.id)
            )

    def rename_model(self, old: str, new: str) -> None:
        """Permissions follow a registered model to its new name."""
        table, column = REGISTERED_MODEL
        with self._connection() as db:
            db.execute(f"DELETE FROM {table} WHERE {column} = ?", (new,))
            db.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (new, old))

    def forget_model(self, name: str) -> None:
        """A deleted registered model's permissions go with it (a new one starts afresh)."""
        table, column = REGISTERED_MODEL
        with self._connection() as db:
            db.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))


def _user(row: sqlite3.Row) -> User:
    return User(
        id=int(row["id"]),
        username=row["username"],
        is_admin=bool(row["is_admin"]),
        email=row["email"],
        display_name=row["display_name"],
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _what(kind: tuple[str, str]) -> str:
    return "Experiment" if kind == EXPERIMENT else "Registered model"
