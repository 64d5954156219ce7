"""MLflow basic-auth's permission levels: what each lets a user do with one resource.

A user has one level per experiment and per registered model: the one granted
to them on it, else the server's default (``--auth-default-permission``, READ as
in MLflow). Creating an experiment or a registered model grants its creator
MANAGE on it. Admins may do everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from mltrack.exceptions import InvalidParameterValue

__all__ = ["EDIT", "LEVELS", "MANAGE", "NO_PERMISSIONS", "READ", "Permission", "permission_named"]


@dataclass(frozen=True)
class Permission:
    name: str
    can_read: bool
    can_update: bool
    can_delete: bool
    can_manage: bool

    def allows(self, action: str) -> bool:
        """``action`` is one of ``read``, ``update``, ``delete``, ``manage``."""
        return bool(getattr(self, f"can_{action}"))


READ = Permission("READ", True, False, False, False)
EDIT = Permission("EDIT", True, True, False, False)
MANAGE = Permission("MANAGE", True, True, True, True)
NO_PERMISSIONS = Permission("NO_PERMISSIONS", False, False, False, False)
LEVELS = {level.name: level for level in (READ, EDIT, MANAGE, NO_PERMISSIONS)}


def permission_named(name: object) -> Permission:
    level = LEVELS.get(name) if isinstance(name, str) else None
    if level is None:
        raise InvalidParameterValue(
            f"Invalid permission '{name}'. Valid permissions are: {tuple(LEVELS)}"
        )
    return level
