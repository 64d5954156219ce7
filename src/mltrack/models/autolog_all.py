"""``mltrack.autolog()``: autologging for every supported library that is installed, lazily.

A library already imported is patched at once. One that is installed but not
imported yet is patched right after its first import (a finder on
``sys.meta_path`` wraps that one module's loader), so ``mltrack.autolog()``
itself imports no framework, as MLflow's does not.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["autolog"]

logger = logging.getLogger("mltrack")

# the module whose import enables an integration -> the mltrack flavor module with its autolog
INTEGRATIONS = {
    "sklearn": "mltrack.models.autolog",
    "xgboost": "mltrack.models.xgboost",
    "lightgbm": "mltrack.models.lightgbm",
    "keras": "mltrack.models.autolog_keras",
    "lightning": "mltrack.models.autolog_lightning",
    "pytorch_lightning": "mltrack.models.autolog_lightning",
}


class _HookedLoader(importlib.abc.Loader):
    """Delegates to the real loader, then runs the hooks once the module has executed."""

    def __init__(self, loader: Any, hooks: list[Callable[[], None]]) -> None:
        self._loader = loader
        self._hooks = hooks

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        for hook in self._hooks:
            hook()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.hooks: dict[str, list[Callable[[], None]]] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.hooks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _HookedLoader(spec.loader, self.hooks.pop(fullname))
        return spec


_finder = _PostImportFinder()


def _enable(module_name: str, options: dict[str, Any]) -> Callable[[], None]:
    def enable() -> None:
        try:
            importlib.import_module(INTEGRATIONS[module_name]).autolog(**options)
        except Exception as error:  # one integration failing must not break the others
            logger.warning("autolog: could not enable %s autologging: %s", module_name, error)

    return enable


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: dict[str, str] | None = None,
    exclude_flavors: list[str] | None = None,
) -> None:
    """Enable (or ``disable=True``) autologging for every supported library that is installed."""
    options = {
        "log_models": log_models,
        "log_model_signatures": log_model_signatures,
        "log_datasets": log_datasets,
        "disable": disable,
        "silent": silent,
        "extra_tags": extra_tags,
    }
    excluded = set(exclude_flavors or [])
    for module_name, flavor_module in INTEGRATIONS.items():
        if module_name in excluded or flavor_module.rsplit(".", 1)[-1] in excluded:
            continue
        enable = _enable(module_name, options)
        if module_name in sys.modules:
            enable()
        elif disable:
            _finder.hooks.pop(module_name, None)
        elif importlib.util.find_spec(module_name) is not None:
            _finder.hooks.setdefault(module_name, []).append(enable)
    if _finder.hooks and _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
