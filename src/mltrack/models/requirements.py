"""The pip requirements a model really needs, found without running it.

MLflow infers requirements by loading the model in a subprocess and watching
imports (~8 s per ``log_model``). mltrack reads what the saved files reference
instead: the ``module`` of every class or function a pickle names (its
``GLOBAL`` / ``STACK_GLOBAL`` opcodes, also inside ``torch.save`` archives) and
the ``module`` entries of a Keras ``config.json``. Each top-level module is
mapped to the installed distribution that provides it
(from its ``top_level.txt`` or ``RECORD``), pinned to its installed
version. Standard-library modules and modules no distribution provides (code
on ``sys.path`` only; ship it with ``code_paths``) add nothing.
"""

from __future__ import annotations

import functools
import json
import logging
import pickletools
import sys
import zipfile
from collections.abc import Iterable, Mapping
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

__all__ = ["distributions_for_modules", "modules_in_keras_archive", "modules_in_pickle", "pinned"]

logger = logging.getLogger("mltrack")

_STRING_OPCODES = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
     "SHORT_BINSTRING"}
)  # fmt: skip
_MEMO_PUT = frozenset({"BINPUT", "LONG_BINPUT", "PUT"})
_MEMO_GET = frozenset({"BINGET", "LONG_BINGET", "GET"})
_SUBIMPORT = frozenset({"subimport", "dynamic_subimport"})  # cloudpickle's module references


def _pickle_modules(data: bytes) -> set[str]:
    """Module names of the globals one pickle stream references (never executing it)."""
    modules: set[str] = set()
    stack: list[Any] = []  # the last values pushed, enough to read STACK_GLOBAL's operands
    memo: dict[int, Any] = {}
    importing = False  # after cloudpickle's subimport, the next value pushed is a module name
    for opcode, arg, _ in pickletools.genops(data):
        name = opcode.name
        pushed: Any = None
        if name == "MEMOIZE":
            memo[len(memo)] = stack[-1] if stack else None
            continue
        if name in _MEMO_PUT:
            memo[int(str(arg))] = stack[-1] if stack else None
            continue
        if name == "GLOBAL" or name == "INST":
            module, _, attribute = str(arg).partition(" ")
            modules.add(module)
            next_is_module = attribute in _SUBIMPORT
        elif name == "STACK_GLOBAL":
            next_is_module = False
            if len(stack) >= 2 and isinstance(stack[-2], str):
                modules.add(stack[-2])
                next_is_module = stack[-1] in _SUBIMPORT
        else:
            next_is_module = False
            if name in _STRING_OPCODES:
                pushed = arg if isinstance(arg, str) else None
            elif name in _MEMO_GET:
                pushed = memo.get(int(str(arg)))
            if importing and isinstance(pushed, str):
                modules.add(pushed)
        if name not in ("MARK", "FRAME", "PROTO"):
            importing = next_is_module
        stack.append(pushed)
        del stack[:-4]
    return modules


def modules_in_pickle(path: Path) -> set[str]:
    """Modules referenced by a pickle file, or by the pickles inside a zip (``torch.save``)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                found: set[str] = set()
                for member in archive.namelist():
                    if member.endswith(".pkl"):
                        found |= _pickle_modules(archive.read(member))
                return found
        return _pickle_modules(path.read_bytes())
    except Exception as error:  # a requirement list is best effort; never fail a save for it
        logger.warning("Could not read the modules %s references: %s", path, error)
        return set()


def modules_in_keras_archive(path: Path) -> set[str]:
    """Modules named by the ``module`` keys of a ``.keras`` file's config.json."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            module = node.get("module")
            if isinstance(module, str) and module:
                found.add(module)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    try:
        with zipfile.ZipFile(path) as archive:
            walk(json.loads(archive.read("config.json")))
    except Exception as error:
        logger.warning("Could not read the modules %s references: %s", path, error)
    return found


@functools.lru_cache(maxsize=4)
def _distributions_by_module(search_path: tuple[str, ...]) -> Mapping[str, list[str]]:
    """Top-level module -> the distributions that install it (keyed by sys.path, so packages
    installed later are seen). ``importlib.metadata.packages_distributions`` builds the same
    map but parses every RECORD into path objects, several times slower."""
    owners: dict[str, list[str]] = {}
    for distribution in importlib_metadata.distributions():
        name = distribution.metadata["Name"]
        if not name:
            continue
        declared = distribution.read_text("top_level.txt")
        if declared is not None:
            tops = {line.strip() for line in declared.splitlines() if line.strip()}
        else:
            tops = set()
            for line in (distribution.read_text("RECORD") or "").splitlines():
                first = line.split(",", 1)[0].split("/", 1)[0]
                first = first[:-3] if first.endswith(".py") else first
                if first.isidentifier():
                    tops.add(first)
        for top in tops:
            owners.setdefault(top, []).append(name)
    return owners


def distributions_for_modules(modules: Iterable[str]) -> list[str]:
    """The installed distributions providing these modules (stdlib and unowned ones left out)."""
    owners = _distributions_by_module(tuple(sys.path))
    found: set[str] = set()
    for module in modules:
        top = module.split(".", 1)[0]
        if not top or top in sys.stdlib_module_names or top in sys.builtin_module_names:
            continue
        for distribution in owners.get(top, []):
            found.add(distribution)
    return sorted(found, key=str.lower)


def pinned(distributions: Iterable[str]) -> list[str]:
    """``name==version`` for each installed distribution, in the given order, without repeats."""
    out: list[str] = []
    seen: set[str] = set()
    for distribution in distributions:
        key = distribution.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            out.append(f"{distribution}=={importlib_metadata.version(distribution)}")
        except importlib_metadata.PackageNotFoundError:
            continue
    return out
