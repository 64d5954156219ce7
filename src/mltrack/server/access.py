"""The user and permission endpoints of MLflow's basic-auth app, so ``AuthServiceClient`` works.

Served only with ``--auth``. Who may call each one is decided before it runs
(:mod:`mltrack.server.policy`); these functions only act:

- ``/api/2.0/mlflow/users/{create,get,list,current,update-password,update-admin,delete}``;
- ``/api/2.0/mlflow/{experiments,registered-models}/permissions/{create,get,update,delete}``
  (MLflow 2.x's per-resource permissions);
- ``/api/3.0/mlflow/users/permissions/{grant,revoke,get}`` (MLflow 3's
  ``AuthServiceClient.grant_user_permission`` and friends).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mltrack.exceptions import InvalidParameterValue
from mltrack.server.auth import USER_SCOPE_KEY
from mltrack.server.credentials import EXPERIMENT, REGISTERED_MODEL, Credentials, User
from mltrack.server.policy import Access, Policy, resource_kind
from mltrack.server.protocol import Params, json_response

__all__ = ["routes"]

Handler = Callable[[Params, Policy, User], "dict[str, Any] | None"]
_V2 = "/api/2.0/mlflow"
_V3 = "/api/3.0/mlflow"


def _flag(req: Params, name: str) -> bool:
    value = req.fields.get(name)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidParameterValue(
        f"Invalid value {value!r} for parameter '{name}': expected a boolean."
    )


# ---------------------------------------------------------------------- users


def create_user(req: Params, policy: Policy, sender: User) -> dict[str, Any]:
    user = policy.credentials.create_user(
        req.required("username"),
        req.required("password"),
        email=req.string("email"),
        display_name=req.string("display_name"),
    )
    return {"user": user.to_json()}


def get_user(req: Params, policy: Policy, sender: User) -> dict[str, Any]:
    return {"user": policy.credentials.get_user(req.required("username")).to_json()}


def list_users(req: Params, policy: Policy, sender: User) -> dict[str, Any]:
    return {"users": [user.to_json() for user in policy.credentials.list_users()]}


def current_user(req: Params, policy: Policy, sender: User) -> dict[str, Any]:
    return {"user": sender.to_json(), "is_basic_auth": True}


def update_password(req: Params, policy: Policy, sender: User) -> None:
    username, password = req.required("username"), req.required("password")
    credentials: Credentials = policy.credentials
    if username == sender.username:  # a stolen session may not rotate the password silently
        current = req.string("current_password")
        if not current:
            raise InvalidParameterValue(
                "Current password is required when changing your own password."
            )
        if credentials.authenticate(username, current) is None:
            raise InvalidParameterValue("Current password does not match.")
        if current == password:
            raise InvalidParameterValue("New password must differ from the current password.")
    credentials.set_password(username, password)


def update_admin(req: Params, policy: Policy, sender: User) -> None:
    policy.credentials.update_user(req.required("username"), is_admin=_flag(req, "is_admin"))


def delete_user(req: Params, policy: Policy, sender: User) -> None:
    username = req.required("username")
    if username == sender.username:
        raise InvalidParameterValue(
            "Users cannot delete their own account. Ask another admin to delete this user instead."
        )
    policy.credentials.delete_user(username)


# ---------------------------------------------------------------------- MLflow 2.x permissions


def _permission_routes(kind: tuple[str, str], noun: str, key: str, answer: str) -> list[Route]:
    def create(req: Params, policy: Policy, sender: User) -> dict[str, Any]:
        resource, username = req.required(key), req.required("username")
        policy.credentials.grant(kind, resource, username, req.required("permission"), new=True)
        return get(req, policy, sender)

    def get(req: Params, policy: Policy, sender: User) -> dict[str, Any]:
        resource, username = req.required(key), req.required("username")
        level = policy.credentials.require_grant(kind, resource, username)
        user = policy.credentials.get_user(username)
        return {answer: {key: resource, "user_id": user.id, "permission": level.name}}

    def update(req: Params, policy: Policy, sender: User) -> None:
        policy.credentials.update_grant(
            kind, req.required(key), req.required("username"), req.required("permission")
        )

    def delete(req: Params, policy: Policy, sender: User) -> None:
        policy.credentials.require_grant(kind, req.required(key), req.required("username"))
        policy.credentials.revoke(kind, req.required(key), req.required("username"))

    base = f"{_V2}/{noun}/permissions"
    return [
        Route(f"{base}/create", _endpoint(create), methods=["POST"]),
        Route(f"{base}/get", _endpoint(get), methods=["GET"]),
        Route(f"{base}/update", _endpoint(update), methods=["PATCH"]),
        Route(f"{base}/delete", _endpoint(delete), methods=["DELETE"]),
    ]


# ---------------------------------------------------------------------- MLflow 3 per-user grants


def grant_permission(req: Params, policy: Policy, sender: User) -> None:
    kind = resource_kind(req.required("resource_type"))
    policy.credentials.grant(
        kind,
        req.required("resource_id"),
        req.required("username"),
        req.required("permission"),
        new=False,
    )


def revoke_permission(req: Params, policy: Policy, sender: User) -> None:
    kind = resource_kind(req.required("resource_type"))
    policy.credentials.revoke(kind, req.required("resource_id"), req.required("username"))


def get_permission(req: Params, policy: Policy, sender: User) -> dict[str, Any]:
    kind = resource_kind(req.required("resource_type"))
    user = policy.credentials.get_user(req.required("username"))
    resource = req.required("resource_id")
    level = Access(policy, user).level(kind, resource)
    if user.is_admin:
        return {"allowed": True, "permission": "MANAGE"}
    return {"allowed": level.can_update, "permission": level.name}


# ---------------------------------------------------------------------- routes


def _endpoint(handler: Handler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        params = await Params.read(request)
        policy: Policy = request.app.state.policy
        sender: User = request.scope[USER_SCOPE_KEY]
        result = await run_in_threadpool(handler, params, policy, sender)
        return json_response(result or {})

    endpoint.__name__ = handler.__name__
    return endpoint


routes = [
    Route(f"{_V2}/users/create", _endpoint(create_user), methods=["POST"]),
    Route(f"{_V2}/users/get", _endpoint(get_user), methods=["GET"]),
    Route(f"{_V2}/users/list", _endpoint(list_users), methods=["GET"]),
    Route(f"{_V2}/users/current", _endpoint(current_user), methods=["GET"]),
    Route(f"{_V2}/users/update-password", _endpoint(update_password), methods=["PATCH"]),
    Route(f"{_V2}/users/update-admin", _endpoint(update_admin), methods=["PATCH"]),
    Route(f"{_V2}/users/delete", _endpoint(delete_user), methods=["DELETE"]),
    *_permission_routes(EXPERIMENT, "experiments", "experiment_id", "experiment_permission"),
    *_permission_routes(
        REGISTERED_MODEL, "registered-models", "name", "registered_model_permission"
    ),
    Route(f"{_V3}/users/permissions/grant", _endpoint(grant_permission), methods=["POST"]),
    Route(f"{_V3}/users/permissions/revoke", _endpoint(revoke_permission), methods=["POST"]),
    Route(f"{_V3}/users/permissions/get", _endpoint(get_permission), methods=["GET"]),
]
