"""What one tracking server serves and how it listens; the checks on ``--backend-store-uri``.

The settings travel to uvicorn's worker processes as ``MLTRACK_SERVER_*``
environment variables (``to_env`` / ``from_env``): with ``--workers N`` each
worker builds its own app from them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mltrack.exceptions import InvalidParameterValue, NotAGitRepository
from mltrack.http_guard import OriginPolicy, parse_list

__all__ = ["ServerConfig", "destination_path", "open_backend"]

_ENV = "MLTRACK_SERVER_"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_WHAT_WE_STORE = (
    "mltrack stores everything in a git repository: experiments and runs as YAML and "
    "Arrow files under <repo>/.mltrack/, artifacts (logged models included) inside each "
    "run's directory, registered model versions as git tags"
)


@dataclass(frozen=True)
class ServerConfig:
    repo_root: Path
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    owner_pid: int | None = None  # the process that owns the runs clients start (the supervisor)
    fd: int | None = None  # an inherited, already bound socket to listen on instead of host:port
    allowed_hosts: tuple[str, ...] = ()  # Host headers served (empty: localhost, private, bind)
    cors_allowed_origins: tuple[str, ...] = ()  # cross-origin writers allowed besides localhost
    auth_db: Path | None = None  # set: --auth, with this credentials database
    default_permission: str = "READ"
    ssl_keyfile: Path | None = None
    ssl_certfile: Path | None = None
    artifacts_destination: Path | None = None  # uploads outside every run (--artifacts-destination)
    mlflow_ui: Path | None = None  # MLflow's built web UI, served at /mlflow/ (--mlflow-ui)

    def origin_policy(self) -> OriginPolicy:
        return OriginPolicy.for_bind(self.host, self.allowed_hosts, self.cors_allowed_origins)

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_certfile else "http"

    def to_env(self) -> dict[str, str]:
        env = {
            f"{_ENV}REPO": str(self.repo_root),
            f"{_ENV}HOST": self.host,
            f"{_ENV}PORT": str(self.port),
            f"{_ENV}WORKERS": str(self.workers),
            f"{_ENV}ALLOWED_HOSTS": ",".join(self.allowed_hosts),
            f"{_ENV}CORS_ALLOWED_ORIGINS": ",".join(self.cors_allowed_origins),
            f"{_ENV}DEFAULT_PERMISSION": self.default_permission,
        }
        if self.owner_pid is not None:
            env[f"{_ENV}OWNER_PID"] = str(self.owner_pid)
        if self.auth_db is not None:
            env[f"{_ENV}AUTH_DB"] = str(self.auth_db)
        if self.artifacts_destination is not None:
            env[f"{_ENV}ARTIFACTS_DESTINATION"] = str(self.artifacts_destination)
        if self.mlflow_ui is not None:
            env[f"{_ENV}MLFLOW_UI"] = str(self.mlflow_ui)
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerConfig:
        env = os.environ if environ is None else environ
        root = env.get(f"{_ENV}REPO")
        if not root:
            raise InvalidParameterValue(
                f"{_ENV}REPO is not set: start the server with `mltrack server`."
            )
        owner = env.get(f"{_ENV}OWNER_PID")
        auth_db = env.get(f"{_ENV}AUTH_DB")
        destination = env.get(f"{_ENV}ARTIFACTS_DESTINATION")
        mlflow_ui = env.get(f"{_ENV}MLFLOW_UI")
        return cls(
            repo_root=Path(root),
            host=env.get(f"{_ENV}HOST", "127.0.0.1"),
            port=int(env.get(f"{_ENV}PORT", "5000")),
            workers=int(env.get(f"{_ENV}WORKERS", "1")),
            owner_pid=int(owner) if owner else None,
            allowed_hosts=parse_list(env.get(f"{_ENV}ALLOWED_HOSTS")),
            cors_allowed_origins=parse_list(env.get(f"{_ENV}CORS_ALLOWED_ORIGINS")),
            auth_db=Path(auth_db) if auth_db else None,
            default_permission=env.get(f"{_ENV}DEFAULT_PERMISSION", "READ"),
            artifacts_destination=Path(destination) if destination else None,
            mlflow_ui=Path(mlflow_ui) if mlflow_ui else None,
        )


def destination_path(uri: str | None) -> Path | None:
    """The local directory ``--artifacts-destination`` names (a path or ``file://`` URI)."""
    if not uri:
        return None
    if uri.startswith("file:"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path)).absolute()
    if _SCHEME.match(uri) and not re.match(r"^[A-Za-z]:[\\/]", uri):
        raise InvalidParameterValue(
            f"--artifacts-destination {uri!r} is not a local path: mltrack stores uploads "
            "outside a run in a local directory (files of runs are committed with the run)."
        )
    return Path(uri).expanduser().absolute()


def backend_path(uri: str | None) -> Path:
    """The local path a ``--backend-store-uri`` names; database and remote URIs are refused."""
    if uri is None or uri == "":
        return Path.cwd()
    if uri.startswith("file:"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path))
    if _SCHEME.match(uri) and not re.match(r"^[A-Za-z]:[\\/]", uri):
        raise InvalidParameterValue(
            f"--backend-store-uri {uri!r} is not a local path. {_WHAT_WE_STORE}. "
            "Pass the path of the git repository instead, e.g. "
            "`mltrack server --backend-store-uri /path/to/repo`."
        )
    return Path(uri)


def open_backend(uri: str | None, init: bool = False) -> Path:
    """The root of the initialised mltrack repository ``uri`` names (``init``: create it).

    Errors say what is missing and how to fix it.
    """
    from mltrack.gitstore import GitStore
    from mltrack.store.repository import Repository

    path = backend_path(uri).expanduser()
    if not path.exists():
        if not init:
            raise InvalidParameterValue(
                f"--backend-store-uri {str(path)!r} does not exist. Create a git repository "
                "there (`git init`), or pass --init to create one with an mltrack store."
            )
        path.mkdir(parents=True)
    if not path.is_dir():
        raise InvalidParameterValue(
            f"--backend-store-uri {str(path)!r} is a file. {_WHAT_WE_STORE}: pass the "
            "repository's directory."
        )
    try:
        repo = Repository.open(path)
    except NotAGitRepository:
        if not init:
            raise NotAGitRepository(
                f"{path} is not inside a git repository. {_WHAT_WE_STORE}: run `git init` "
                "there, or pass --init to create the repository and its mltrack store."
            ) from None
        GitStore.init_repository(path)
        repo = Repository.open(path)
    try:
        if not repo.is_initialized():
            if not init:
                raise InvalidParameterValue(
                    f"{repo.root} has no mltrack store (.mltrack/mltrack.yaml). Run "
                    f"`mltrack -C {repo.root} init`, or start the server with --init."
                )
            repo.init()
        repo.settings()  # a store of an unsupported format version fails here, not per request
        return repo.root
    finally:
        repo.close()
