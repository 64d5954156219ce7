"""The layers of SPEC §2, checked on the import graph of ``src/mltrack``.

Every ``import`` and ``from … import`` of an mltrack module counts: at module
level, inside functions, and under ``TYPE_CHECKING``. A module may import its
own layer and the layers below; nothing may import upwards, even for type hints.
No modules may import each other in a cycle when the program runs (imports for
type hints only do not run). A new module must be placed in ``LAYERS`` first.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import mltrack

SRC = Path(__file__).resolve().parents[1] / "src"

# Bottom first. A module belongs to the longest prefix that names it (``mltrack.gitstore``
# covers the module and a package of the same name alike).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "mltrack.exceptions",
            "mltrack.fsutil",
            "mltrack.entities",
            "mltrack.types",
            "mltrack.search",
            "mltrack.uris",
            "mltrack.hashing",
            "mltrack.paging",
            "mltrack.forwarding",
            "mltrack.sockets",
            "mltrack.safepath",
            "mltrack.not_offered",
        ),
    ),
    ("gitstore", ("mltrack.gitstore",)),
    ("store", ("mltrack.store", "mltrack.authorship")),
    ("tracking", ("mltrack.tracking", "mltrack.data")),
    (
        "models",
        (
            "mltrack.models",
            "mltrack.sklearn",
            "mltrack.pyfunc",
            "mltrack.xgboost",
            "mltrack.lightgbm",
            "mltrack.pytorch",
            "mltrack.keras",
            "mltrack.artifacts",
            "mltrack.metrics",
        ),
    ),
    ("registry", ("mltrack.registry", "mltrack.client", "mltrack.remote_client")),
    ("interop", ("mltrack.interop",)),  # moving in and out of MLflow, over the whole library
    (
        "front ends",
        (
            "mltrack.cli",
            "mltrack.__main__",
            "mltrack.serving",
            "mltrack.server",
            "mltrack.projects",
            "mltrack.ui",
            "mltrack.http_guard",
            "mltrack.workers",
        ),
    ),
]
# MLflow's namespaces (``mlflow``, ``mlflow.tracking``, ``mlflow.models``, whose
# validate_serving_input reads input as the scoring server does) are facades over every layer:
# only these package ``__init__`` modules, not the modules inside the packages.
FACADES = ("mltrack", "mltrack.tracking", "mltrack.models")
# Private names used outside the module that defines them, still to be removed.
# store/runs.py is being split on another branch; its uses go when the split lands.
PRIVATE_EXCEPTIONS = {"mltrack.store.runs": {"_read_yaml", "_write_yaml", "_live", "_lock"}}
# Underscored names that are the standard library's documented API.
STDLIB_API = {"_exit", "_getframe", "_asdict", "_replace", "_fields", "_make"}


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    in_function: bool
    type_only: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((SRC / "mltrack").rglob("*.py"))}


def layer_of(module: str) -> int:
    if module in FACADES:
        return len(LAYERS)
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            names_it = module == prefix or module.startswith(prefix + ".")
            if names_it and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best[1]


def layer_name(index: int) -> str:
    return "facade" if index == len(LAYERS) else LAYERS[index][0]


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The mltrack module ``name`` refers to (a facade's lazy name: the module behind it)."""
    if name in known:
        return name
    package, _, attribute = name.rpartition(".")
    if attribute == "__version__":
        return None  # a constant of the package, not an import of a layer
    if package == "mltrack" and attribute in mltrack._LAZY:
        return mltrack._LAZY[attribute][0]
    return package if package in known else None


def imports(module: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), str(path))
    inside = {
        id(node)
        for function in ast.walk(tree)
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(function)
    }
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            names = [f"{origin}.{alias.name}" for alias in node.names]
        for name in names:
            if name == "mltrack" or name.startswith("mltrack."):
                target = _resolve(name, known)
                if target is not None and target != module:
                    yield Import(
                        module, target, node.lineno, id(node) in inside, id(node) in type_only
                    )


def import_graph() -> list[Import]:
    known = modules()
    return [found for module, path in known.items() for found in imports(module, path, known)]


def test_every_module_is_in_a_layer() -> None:
    for module in modules():
        layer_of(module)


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{i.source}:{i.line} ({layer_name(layer_of(i.source))}) imports {i.target} "
        f"({layer_name(layer_of(i.target))}){' inside a function' if i.in_function else ''}"
        for i in import_graph()
        if layer_of(i.target) > layer_of(i.source)
    ]
    assert upward == [], "\n".join(upward)


def test_library_code_does_not_import_the_facade() -> None:
    """``import mltrack`` then ``mltrack.log_param`` would hide which layer is used."""
    bare = [
        f"{module}:{node.lineno}"
        for module, path in modules().items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import) and any(a.name == "mltrack" for a in node.names)
    ]
    assert bare == []


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_cycles_are_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    edges: dict[str, set[str]] = {}
    for found in import_graph():
        if not found.type_only:
            edges.setdefault(found.source, set()).add(found.target)
    assert cycles(edges) == []


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("mltrack.gitstore", "gitstore"),
        ("mltrack.gitstore.refs", "gitstore"),
        ("mltrack.store.model_store", "store"),
        ("mltrack.tracking", "facade"),
        ("mltrack.tracking.fluent", "tracking"),
        ("mltrack.registry.service", "registry"),
    ],
)
def test_layer_table(module: str, layer: str) -> None:
    assert layer_name(layer_of(module)) == layer


def _owned_private_names(tree: ast.AST) -> set[str]:
    """Private names a module defines: functions, classes, assignments, attributes it sets."""
    owned: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            owned.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            owned.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            owned.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            owned.add(node.target.id)
    return {name for name in owned if name.startswith("_")}


def test_no_private_names_are_used_across_modules() -> None:
    used = []
    for module, path in modules().items():
        tree = ast.parse(path.read_text())
        owned = _owned_private_names(tree) | PRIVATE_EXCEPTIONS.get(module, set()) | STDLIB_API
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mltrack"):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            for name in names:
                if name.startswith("_") and not name.startswith("__") and name not in owned:
                    used.append(f"{module}:{node.lineno} uses {name}")
    assert used == [], "\n".join(used)
