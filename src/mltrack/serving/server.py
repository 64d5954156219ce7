"""Running the scoring server: ``mltrack models serve`` is ``serve(uri, ServeOptions(...))``.

One worker (the default) loads the model and runs uvicorn in this process
with the application object, so start-up is one model load and nothing else.
``workers > 1`` runs uvicorn's process supervisor: each worker process builds
the app through :func:`app_from_environment` (uvicorn needs an import string
to start workers), which reads the options from an environment variable and
loads its own copy of the model. The listening socket is bound here first, so a
port already in use is a one-line error before anything is loaded.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import socket
from dataclasses import asdict, dataclass
from typing import Any

from mltrack.exceptions import InvalidState
from mltrack.http_guard import OriginPolicy
from mltrack.models.uri import resolve
from mltrack.serving.app import DEFAULT_MAX_BODY_SIZE, create_app
from mltrack.serving.served import ServedModel
from mltrack.sockets import adopt, bind
from mltrack.tracking.fluent import get_tracking_uri

__all__ = ["OPTIONS_ENV", "ServeOptions", "adopt", "app_from_environment", "bind", "serve"]

OPTIONS_ENV = "MLTRACK_SERVING_OPTIONS"
logger = logging.getLogger("mltrack.serving")


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    reload_interval: float | None = None
    access_log: bool = True
    fd: int | None = None  # an inherited, already bound socket to listen on instead
    allowed_hosts: tuple[str, ...] = ()  # Host headers served (empty: localhost, private, bind)
    cors_allowed_origins: tuple[str, ...] = ()  # cross-origin writers allowed besides localhost

    def origin_policy(self) -> OriginPolicy:
        return OriginPolicy.for_bind(self.host, self.allowed_hosts, self.cors_allowed_origins)


def _log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mltrack.serving"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    return config


def _uvicorn_config(app: Any, options: ServeOptions, **extra: Any) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        log_config=_log_config(),
        access_log=options.access_log,
        server_header=False,
        timeout_graceful_shutdown=5,
        **extra,
    )


def app_from_environment() -> Any:
    """The app factory each ``--workers`` process runs (uvicorn imports it by name)."""
    from mltrack.workers import die_with_supervisor

    settings = json.loads(os.environ[OPTIONS_ENV])
    die_with_supervisor(settings.pop("supervisor_pid"))
    served = ServedModel.load(settings.pop("model_uri"))
    for name in ("allowed_hosts", "cors_allowed_origins"):
        settings[name] = tuple(settings[name])  # JSON has lists
    options = ServeOptions(**settings)
    return create_app(
        served,
        max_body_size=options.max_body_size,
        reload_interval=options.reload_interval,
        origin_policy=options.origin_policy(),
    )


def _announce(
    served: ServedModel | None, uri: str, options: ServeOptions, sock: socket.socket
) -> None:
    host, port = sock.getsockname()[:2]
    where = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    what = served.loaded.description if served is not None else uri
    logger.info("Serving %s at %s (POST /invocations)", what, where)
    if options.reload_interval and served is not None and not served.follows_registry:
        logger.info("%s names one fixed model: --reload-interval has nothing to follow.", uri)


def serve(model_uri: str, options: ServeOptions) -> None:
    """Serve ``model_uri`` until interrupted (Ctrl-C or SIGTERM)."""
    sock = adopt(options.fd) if options.fd is not None else bind(options.host, options.port)
    try:
        if options.workers == 1:
            served = ServedModel.load(model_uri)
            app = create_app(
                served,
                max_body_size=options.max_body_size,
                reload_interval=options.reload_interval,
                origin_policy=options.origin_policy(),
            )
            import uvicorn

            server = uvicorn.Server(_uvicorn_config(app, options))
            _announce(served, model_uri, options, sock)
            server.run(sockets=[sock])
        else:
            _serve_workers(model_uri, options, sock)
    finally:
        sock.close()


def _serve_workers(model_uri: str, options: ServeOptions, sock: socket.socket) -> None:
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    resolve(model_uri)  # a wrong URI is reported here, once, not by every worker
    settings = {"model_uri": model_uri, "supervisor_pid": os.getpid(), **asdict(options)}
    os.environ[OPTIONS_ENV] = json.dumps(settings)
    os.environ["MLTRACK_TRACKING_URI"] = get_tracking_uri()
    config = _uvicorn_config(
        "mltrack.serving.server:app_from_environment",
        options,
        factory=True,
        workers=options.workers,
    )
    _announce(None, model_uri, options, sock)
    supervisor = Multiprocess(config, sockets=[sock])
    supervisor.run()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise InvalidState(
            f"The server's workers could not start serving {model_uri}; see the log above."
        )
