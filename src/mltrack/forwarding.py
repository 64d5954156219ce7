"""Clients made of parts: ``OnFirstUse`` builds a part, ``Forward`` reaches its methods.

MLflow's clients are flat (``client.create_run``, ``client.create_registered_model``);
mltrack builds them from one class per noun (runs, experiments, the registry …).
``create_run = Forward("runs", Runs.create)`` makes ``client.create_run`` the bound
``client.runs.create``: its signature, defaults and docstring are the part's own,
written once. ``runs = OnFirstUse(lambda client: Runs(client.repository))`` builds
the part the first time it is used (once, even when threads race; the owner
provides ``build_lock``, a reentrant lock).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

__all__ = ["Forward", "OnFirstUse"]

Part = TypeVar("Part")
Params = ParamSpec("Params")
Result = TypeVar("Result")


class Forward(Generic[Part, Params, Result]):
    """A descriptor: ``owner.<name>`` is ``getattr(owner.<part>, method.__name__)``."""

    def __init__(self, part: str, method: Callable[Concatenate[Part, Params], Result]) -> None:
        self.part = part
        self.method = method
        self.method_name = method.__name__

    @overload
    def __get__(
        self, owner: None, owner_type: type
    ) -> Callable[Concatenate[Part, Params], Result]: ...

    @overload
    def __get__(self, owner: object, owner_type: type) -> Callable[Params, Result]: ...

    def __get__(self, owner: object, owner_type: type) -> Any:
        if owner is None:  # on the class: the part's function (help(), inspect.signature)
            return self.method
        method: Callable[Params, Result] = getattr(getattr(owner, self.part), self.method_name)
        return method


class OnFirstUse(Generic[Part]):
    """An attribute built on first use, once even when threads race, then stored on the object."""

    def __init__(self, build: Callable[[Any], Part]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, owner: None, owner_type: type) -> OnFirstUse[Part]: ...

    @overload
    def __get__(self, owner: object, owner_type: type) -> Part: ...

    def __get__(self, owner: Any, owner_type: type) -> Any:
        if owner is None:
            return self
        with owner.build_lock:
            value: Part | None = owner.__dict__.get(self.name)
            if value is None:
                value = owner.__dict__[self.name] = self.build(owner)
        return value
