"""Which permission each route of the team server needs, checked before the route acts.

The table follows MLflow's basic-auth app: reading an experiment, its runs,
their metrics, artifacts and logged models needs READ on the experiment;
logging to them needs EDIT; deleting or restoring needs MANAGE (MLflow's
``can_delete``); the same levels on a registered model govern it and its
versions; the permission endpoints need MANAGE; user management is for admins
(and for users themselves: their own record and password). Searches answer with
what the user may read. Creating an experiment or a registered model grants its
creator MANAGE.

A route that is not in the table is refused to everyone but admins if it is
under ``/api/`` or ``/ajax-api/`` or changes something (fail closed: a new
endpoint cannot be served unchecked by accident). ``/graphql`` needs a login; each of its
fields then runs the check of the REST route it mirrors. The web UI's pages show every
experiment and registered model of the repository, so they are served to the
users who may read all of them: admins, and others when the default permission
reads and no grant takes reading away from them; its static assets are open to
every authenticated user.

Every check runs in a worker thread (it reads SQLite and the store).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mltrack.exceptions import InvalidParameterValue, PermissionDenied
from mltrack.gitstore import Identity
from mltrack.server.credentials import EXPERIMENT, REGISTERED_MODEL, Credentials, User
from mltrack.server.permissions import MANAGE, Permission
from mltrack.server.protocol import Params

if TYPE_CHECKING:
    from mltrack.server.backend import Backend

__all__ = ["Access", "Policy", "Route", "author_of"]

PUBLIC = frozenset({"/health", "/version", "/api/3.0/mlflow/server-info"})
_AJAX = re.compile(r"^/ajax-api/")
_LOGGED_MODEL = re.compile(r"^/api/2\.0/mlflow/logged-models/(?P<id>[^/]+)(?P<rest>/.*)?$")
_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
_UI_ASSETS = "/static/ui/"
_MLFLOW_UI_PAGE = frozenset({"/mlflow", "/mlflow/"})  # --mlflow-ui (server/mlflow_ui.py)
_MLFLOW_UI_ASSETS = "/mlflow/static-files/"
_MULTIPART = re.compile(r"^/api/2\.0/mlflow-artifacts/mpu/[^/]+/(?P<path>.+)$")
_CACHE_LIMIT = 100_000


def author_of(user: User) -> Identity:
    """The git identity of what ``user`` does through the server."""
    return Identity(user.display_name or user.username, user.email or f"{user.username}@mltrack")


class Access:
    """One authenticated user's checks against one server's permissions."""

    def __init__(self, policy: Policy, user: User) -> None:
        self.policy = policy
        self.user = user

    def _deny(self, what: str, action: str, level: Permission) -> PermissionDenied:
        return PermissionDenied(
            f"Permission denied: user '{self.user.username}' has {level.name} on {what} "
            f"and may not {action} it."
        )

    def level(self, kind: tuple[str, str], resource: str) -> Permission:
        granted = self.policy.credentials.permission(kind, resource, self.user)
        return granted if granted is not None else self.policy.default_permission

    def experiment(self, experiment_id: Any, action: str) -> None:
        if self.user.is_admin:
            return
        if not isinstance(experiment_id, str) or not experiment_id:
            raise InvalidParameterValue(f"Invalid experiment id {experiment_id!r}.")
        level = self.level(EXPERIMENT, experiment_id)
        if not level.allows(action):
            raise self._deny(f"experiment {experiment_id}", action, level)

    def model(self, name: Any, action: str) -> None:
        if self.user.is_admin:
            return
        if not isinstance(name, str) or not name:
            raise InvalidParameterValue(f"Invalid registered model name {name!r}.")
        level = self.level(REGISTERED_MODEL, name)
        if not level.allows(action):
            raise self._deny(f"registered model '{name}'", action, level)

    def run(self, run_id: str, action: str) -> None:
        if not self.user.is_admin:
            self.experiment(self.policy.experiment_of_run(run_id), action)

    def logged_model(self, model_id: str, action: str) -> None:
        if not self.user.is_admin:
            self.experiment(self.policy.experiment_of_logged_model(model_id), action)

    def can_read_experiment(self, experiment_id: Any) -> bool:
        return self.user.is_admin or (
            isinstance(experiment_id, str) and self.level(EXPERIMENT, experiment_id).can_read
        )

    def can_read_model(self, name: Any) -> bool:
        return self.user.is_admin or (
            isinstance(name, str) and self.level(REGISTERED_MODEL, name).can_read
        )

    def everything(self) -> None:
        """Pass if the user may read every experiment and registered model (the web UI's pages)."""
        if self.user.is_admin:
            return
        if not self.policy.default_permission.can_read or self.policy.credentials.has_denials(
            self.user
        ):
            raise PermissionDenied(
                f"Permission denied: the web UI shows every experiment and registered model, "
                f"and '{self.user.username}' may not read all of them; the MLflow client and "
                "the REST API answer with what this user may read."
            )

    def admin(self) -> None:
        if not self.user.is_admin:
            raise PermissionDenied(
                f"Permission denied: only admins may do this, and '{self.user.username}' is not one."
            )

    def self_or_admin(self, username: str) -> None:
        if username != self.user.username:
            self.admin()

    def model_source(self, req: Params) -> None:
        """A new version's files must be readable by who registers them."""
        from mltrack.server.registry import registry_source

        source = registry_source(req.required("source"))
        if req.string("run_id"):
            self.run(req.run_id(), "read")
        if req.string("model_id"):
            self.logged_model(req.required("model_id"), "read")
        if source.startswith("runs:/"):
            self.run(source[len("runs:/") :].strip("/").split("/", 1)[0], "read")
        elif source.startswith("models:/m-"):
            self.logged_model(source[len("models:/") :].strip("/").split("/", 1)[0], "read")
        elif source.startswith("models:/"):
            self.model(source[len("models:/") :].strip("/").split("/", 1)[0].split("@")[0], "read")
        else:
            self.admin()  # a local path or another scheme: only an admin may point at it

    def artifact(self, raw: str, action: str) -> None:
        from mltrack.server.artifacts import ArtifactPath

        location = ArtifactPath.parse(raw)
        if location is None or self.user.is_admin:
            return  # outside every run: lists as empty, downloads as 404
        if location.snapshot is not None:
            names = self.policy.models_of_snapshot(location.snapshot)
            if action != "read" or not any(self.can_read_model(name) for name in names):
                raise PermissionDenied(
                    f"Permission denied: user '{self.user.username}' may not {action} "
                    f"registered model files {location.snapshot}."
                )
            return
        self.experiment(raw.split("/", 1)[0], action)


Check = Callable[[Access, Params], None]
Filter = Callable[[Access, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    """What one request needs: a check before it, and what happens to its answer."""

    check: Check
    reads_fields: bool = True  # the check needs the request's fields (query or JSON body)
    answer_filter: Filter | None = None  # non-admins see only what they may read
    after: Callable[[Policy, User, Params, dict[str, Any]], None] | None = None


def _experiment(action: str, field: str = "experiment_id") -> Check:
    return lambda access, req: access.experiment(req.required(field), action)


def _run(action: str) -> Check:
    return lambda access, req: access.run(req.run_id(), action)


def _model(action: str, field: str = "name") -> Check:
    return lambda access, req: access.model(req.required(field), action)


def _authenticated(access: Access, req: Params) -> None:
    return None


def _admin(access: Access, req: Params) -> None:
    access.admin()


def _reads_everything(access: Access, req: Params) -> None:
    access.everything()


def _self_or_admin(access: Access, req: Params) -> None:
    access.self_or_admin(req.required("username"))


def _experiment_by_name(access: Access, req: Params) -> None:
    experiment = access.policy.backend.client.get_experiment_by_name(
        req.required("experiment_name")
    )
    if experiment is not None:  # else the route answers 404
        access.experiment(experiment.experiment_id, "read")


def _runs_read(access: Access, req: Params) -> None:
    for run_id in req.strings("run_ids"):
        access.run(run_id, "read")


def _bulk_runs_read(access: Access, req: Params) -> None:
    for run_id in req.strings("run_id"):
        access.run(run_id, "read")


def _experiments_read(access: Access, req: Params) -> None:
    for experiment_id in req.strings("experiment_ids"):
        access.experiment(experiment_id, "read")


def _new_run(access: Access, req: Params) -> None:
    access.experiment(req.string("experiment_id") or "0", "update")


def _new_version(access: Access, req: Params) -> None:
    access.model(req.required("name"), "update")
    access.model_source(req)


def _resource(action: str) -> Check:
    """``/api/3.0/mlflow/users/permissions/*``: MANAGE on the named resource."""

    def check(access: Access, req: Params) -> None:
        kind = resource_kind(req.required("resource_type"))
        if kind == EXPERIMENT:
            access.experiment(req.required("resource_id"), action)
        else:
            access.model(req.required("resource_id"), action)

    return check


def _own_or_managed_permission(access: Access, req: Params) -> None:
    if req.required("username") != access.user.username:
        _resource("manage")(access, req)


def resource_kind(resource_type: str) -> tuple[str, str]:
    kinds = {"experiment": EXPERIMENT, "registered_model": REGISTERED_MODEL}
    if resource_type not in kinds:
        raise InvalidParameterValue(
            f"Invalid resource type '{resource_type}'. Valid resource types are: {tuple(kinds)}"
        )
    return kinds[resource_type]


def _keep(key: str, readable: Callable[[Access, dict[str, Any]], bool]) -> Filter:
    def answer_filter(access: Access, payload: dict[str, Any]) -> dict[str, Any]:
        if access.user.is_admin or key not in payload:
            return payload
        kept = [item for item in payload[key] if readable(access, item)]
        return {**payload, key: kept} if kept else {k: v for k, v in payload.items() if k != key}

    return answer_filter


def _grant_creator(kind: tuple[str, str], field: Callable[[dict[str, Any]], Any]) -> Any:
    def after(policy: Policy, user: User, req: Params, payload: dict[str, Any]) -> None:
        resource = field(payload)
        if isinstance(resource, str) and resource:
            policy.credentials.grant(kind, resource, user.username, MANAGE.name, new=False)

    return after


def _model_renamed(policy: Policy, user: User, req: Params, payload: dict[str, Any]) -> None:
    policy.credentials.rename_model(req.required("name"), req.required("new_name"))


def _model_deleted(policy: Policy, user: User, req: Params, payload: dict[str, Any]) -> None:
    policy.credentials.forget_model(req.required("name"))


_API = "/api/2.0/mlflow/"
_READ_EXPERIMENT = Route(_experiment("read"))
_UPDATE_EXPERIMENT = Route(_experiment("update"))
_DELETE_EXPERIMENT = Route(_experiment("delete"))
_MANAGE_EXPERIMENT = Route(_experiment("manage"))
_READ_RUN, _UPDATE_RUN, _DELETE_RUN = (
    Route(_run("read")),
    Route(_run("update")),
    Route(_run("delete")),
)
_READ_MODEL, _UPDATE_MODEL = Route(_model("read")), Route(_model("update"))
_DELETE_MODEL, _MANAGE_MODEL = Route(_model("delete")), Route(_model("manage"))
_SEARCH_EXPERIMENTS = Route(
    _authenticated,
    answer_filter=_keep("experiments", lambda a, e: a.can_read_experiment(e.get("experiment_id"))),
)
_LATEST_VERSIONS = _READ_MODEL

ROUTES: dict[tuple[str, str], Route] = {
    # experiments
    ("POST", "experiments/create"): Route(
        _authenticated, after=_grant_creator(EXPERIMENT, lambda p: p.get("experiment_id"))
    ),
    ("GET", "experiments/get"): _READ_EXPERIMENT,
    ("GET", "experiments/get-by-name"): Route(_experiment_by_name),
    ("GET", "experiments/search"): _SEARCH_EXPERIMENTS,
    ("POST", "experiments/search"): _SEARCH_EXPERIMENTS,
    ("POST", "experiments/update"): _UPDATE_EXPERIMENT,
    ("POST", "experiments/delete"): _DELETE_EXPERIMENT,
    ("POST", "experiments/restore"): _DELETE_EXPERIMENT,
    ("POST", "experiments/set-experiment-tag"): _UPDATE_EXPERIMENT,
    ("POST", "experiments/delete-experiment-tag"): _UPDATE_EXPERIMENT,
    # runs and metrics
    ("POST", "runs/create"): Route(_new_run),
    ("POST", "runs/update"): _UPDATE_RUN,
    ("POST", "runs/delete"): _DELETE_RUN,
    ("POST", "runs/restore"): _DELETE_RUN,
    ("GET", "runs/get"): _READ_RUN,
    ("POST", "runs/search"): Route(
        _authenticated,
        answer_filter=_keep(
            "runs", lambda a, r: a.can_read_experiment(r.get("info", {}).get("experiment_id"))
        ),
    ),
    ("POST", "runs/log-metric"): _UPDATE_RUN,
    ("POST", "runs/log-parameter"): _UPDATE_RUN,
    ("POST", "runs/set-tag"): _UPDATE_RUN,
    ("POST", "runs/delete-tag"): _UPDATE_RUN,
    ("POST", "runs/log-batch"): _UPDATE_RUN,
    ("POST", "runs/log-inputs"): _UPDATE_RUN,
    ("POST", "runs/outputs"): _UPDATE_RUN,
    ("GET", "metrics/get-history"): _READ_RUN,
    ("GET", "metrics/get-history-bulk-interval"): Route(_runs_read),
    ("GET", "metrics/get-history-bulk"): Route(_bulk_runs_read),
    ("POST", "experiments/search-datasets"): Route(_experiments_read),
    ("GET", "artifacts/list"): _READ_RUN,
    # logged models (the routes with an id in the path are in Policy.route)
    ("POST", "logged-models"): _UPDATE_EXPERIMENT,
    ("POST", "logged-models/search"): Route(
        _authenticated,
        answer_filter=_keep(
            "models", lambda a, m: a.can_read_experiment(m.get("info", {}).get("experiment_id"))
        ),
    ),
    # registered models and versions
    ("POST", "registered-models/create"): Route(
        _authenticated,
        after=_grant_creator(REGISTERED_MODEL, lambda p: p.get("registered_model", {}).get("name")),
    ),
    ("GET", "registered-models/get"): _READ_MODEL,
    ("POST", "registered-models/rename"): Route(_model("update"), after=_model_renamed),
    ("PATCH", "registered-models/update"): _UPDATE_MODEL,
    ("DELETE", "registered-models/delete"): Route(_model("delete"), after=_model_deleted),
    ("GET", "registered-models/search"): Route(
        _authenticated,
        answer_filter=_keep("registered_models", lambda a, m: a.can_read_model(m.get("name"))),
    ),
    ("GET", "registered-models/get-latest-versions"): _LATEST_VERSIONS,
    ("POST", "registered-models/get-latest-versions"): _LATEST_VERSIONS,
    ("POST", "registered-models/set-tag"): _UPDATE_MODEL,
    ("DELETE", "registered-models/delete-tag"): _UPDATE_MODEL,
    ("POST", "registered-models/alias"): _UPDATE_MODEL,
    ("DELETE", "registered-models/alias"): _UPDATE_MODEL,
    ("GET", "registered-models/alias"): _READ_MODEL,
    ("POST", "model-versions/create"): Route(_new_version),
    ("GET", "model-versions/get"): _READ_MODEL,
    ("PATCH", "model-versions/update"): _UPDATE_MODEL,
    ("DELETE", "model-versions/delete"): _DELETE_MODEL,
    ("GET", "model-versions/search"): Route(
        _authenticated,
        answer_filter=_keep("model_versions", lambda a, v: a.can_read_model(v.get("name"))),
    ),
    ("GET", "model-versions/get-download-uri"): _READ_MODEL,
    ("POST", "model-versions/transition-stage"): _UPDATE_MODEL,
    ("POST", "model-versions/set-tag"): _UPDATE_MODEL,
    ("DELETE", "model-versions/delete-tag"): _DELETE_MODEL,
    # permissions (MLflow 2.x's per-resource endpoints)
    ("POST", "experiments/permissions/create"): _MANAGE_EXPERIMENT,
    ("GET", "experiments/permissions/get"): _MANAGE_EXPERIMENT,
    ("PATCH", "experiments/permissions/update"): _MANAGE_EXPERIMENT,
    ("DELETE", "experiments/permissions/delete"): _MANAGE_EXPERIMENT,
    ("POST", "registered-models/permissions/create"): _MANAGE_MODEL,
    ("GET", "registered-models/permissions/get"): _MANAGE_MODEL,
    ("PATCH", "registered-models/permissions/update"): _MANAGE_MODEL,
    ("DELETE", "registered-models/permissions/delete"): _MANAGE_MODEL,
    # users
    ("POST", "users/create"): Route(_admin),
    ("GET", "users/get"): Route(_self_or_admin),
    ("GET", "users/list"): Route(_authenticated),
    ("GET", "users/current"): Route(_authenticated),
    ("PATCH", "users/update-password"): Route(_self_or_admin),
    ("PATCH", "users/update-admin"): Route(_admin),
    ("DELETE", "users/delete"): Route(_admin),
}
# MLflow 3's per-user grants (AuthServiceClient.grant/revoke/get_user_permission).
ROUTES_V3: dict[tuple[str, str], Route] = {
    ("POST", "users/permissions/grant"): Route(_resource("manage")),
    ("POST", "users/permissions/revoke"): Route(_resource("manage")),
    ("GET", "users/permissions/get"): Route(_own_or_managed_permission),
}
_LOGGED_MODEL_ACTIONS = {
    ("GET", ""): "read",
    ("PATCH", ""): "update",
    ("DELETE", ""): "delete",
    ("PATCH", "/tags"): "update",
    ("DELETE", "/tags/"): "update",
    ("POST", "/params"): "update",
    ("GET", "/artifacts/directories"): "read",
    ("GET", "/artifacts/files"): "read",
}
_ADMIN_ONLY = Route(_admin, reads_fields=False)
_AUTHENTICATED = Route(_authenticated, reads_fields=False)
_UI_PAGE = Route(_reads_everything, reads_fields=False)
# Each GraphQL field runs the check of the REST route it mirrors (server/graphql_api.py).
_GRAPHQL = _AUTHENTICATED


class Policy:
    """The server's permission checks: its credentials, default level, and store lookups."""

    def __init__(self, credentials: Credentials, backend: Backend, default: Permission) -> None:
        self.credentials = credentials
        self.backend = backend
        self.default_permission = default
        # A run or logged model never moves to another experiment: safe to remember.
        self._run_experiments: dict[str, str] = {}
        self._model_experiments: dict[str, str] = {}

    @staticmethod
    def is_public(path: str) -> bool:
        return path in PUBLIC

    def route(self, method: str, path: str) -> Route:
        """What a request needs; unknown API routes are for admins only (fail closed)."""
        path = _AJAX.sub("/api/", path)
        method = "GET" if method == "HEAD" else method
        if path.startswith(_API):
            found = ROUTES.get((method, path[len(_API) :]))
            if found is not None:
                return found
            match = _LOGGED_MODEL.match(path)
            if match and match["id"] != "search":
                return self._logged_model_route(method, match["id"], match["rest"] or "")
        elif path.startswith("/api/3.0/mlflow/"):
            found = ROUTES_V3.get((method, path[len("/api/3.0/mlflow/") :]))
            if found is not None:
                return found
        elif path.startswith(_ARTIFACTS):
            return self._artifact_route(method, path)
        elif path == "/graphql" and method in ("GET", "POST"):
            return _GRAPHQL
        elif path == "/get-artifact" and method == "GET":
            return _READ_RUN
        elif path == "/model-versions/get-artifact" and method == "GET":
            return _READ_MODEL
        elif (match := _MULTIPART.match(path)) and method == "POST":
            raw = match["path"]
            return Route(lambda access, req: access.artifact(raw, "update"), reads_fields=False)
        if path.startswith(("/api/", "/ajax-api/")) or method not in ("GET", "HEAD"):
            return _ADMIN_ONLY
        if path.startswith(_UI_ASSETS):
            return _AUTHENTICATED
        if path in _MLFLOW_UI_PAGE or path.startswith(_MLFLOW_UI_ASSETS):
            return _AUTHENTICATED  # the page holds no data; its data requests are checked
        return _UI_PAGE

    def _logged_model_route(self, method: str, model_id: str, rest: str) -> Route:
        suffix = "/tags/" if rest.startswith("/tags/") else rest
        action = _LOGGED_MODEL_ACTIONS.get((method, suffix))
        if action is None:
            return _ADMIN_ONLY
        return Route(lambda access, req: access.logged_model(model_id, action), reads_fields=False)

    def _artifact_route(self, method: str, path: str) -> Route:
        rest = path[len(_ARTIFACTS) :]
        if rest == "" and method == "GET":
            return Route(lambda access, req: access.artifact(req.string("path") or "", "read"))
        if rest.startswith("/"):
            action = {"GET": "read", "PUT": "update", "DELETE": "delete"}.get(method)
            if action is not None:
                raw = rest[1:]
                return Route(lambda access, req: access.artifact(raw, action), reads_fields=False)
        return _ADMIN_ONLY

    # ------------------------------------------------------------------ lookups

    def experiment_of_run(self, run_id: str) -> str:
        found = self._run_experiments.get(run_id)
        if found is None:
            found = self.backend.repository.runs.locate(run_id).parent.parent.name
            if len(self._run_experiments) >= _CACHE_LIMIT:
                self._run_experiments.clear()
            self._run_experiments[run_id] = found
        return found

    def experiment_of_logged_model(self, model_id: str) -> str:
        found = self._model_experiments.get(model_id)
        if found is None:
            found = self.backend.client.get_logged_model(model_id).experiment_id
            if len(self._model_experiments) >= _CACHE_LIMIT:
                self._model_experiments.clear()
            self._model_experiments[model_id] = found
        return found

    def models_of_snapshot(self, key: str) -> set[str]:
        return self.backend.registry.store.snapshot_models(key)
