"""Where a project's entry point runs: the current interpreter, or a cached virtualenv.

``local`` runs the command with the interpreter mltrack itself runs on: a
temporary directory with ``python``/``python3`` wrappers for it goes first on
PATH, so ``python train.py`` means this interpreter whatever else is on PATH.

``virtualenv`` builds an environment from the project's ``python_env.yaml`` (or
requirements file) with ``python -m venv`` and pip, and caches it under
``$MLTRACK_ENV_ROOT`` (default ``~/.cache/mltrack/envs``) in a directory named
by a hash of what defines it: the environment files' content, the
interpreter's version and path, and mltrack's own requirements. A build happens
in a directory of its own under a lock; only a complete environment is
published, by atomically renaming a symlink ``<hash>`` onto it. A virtualenv
cannot be moved once built (pip writes absolute paths into it), so the build
directory itself is never renamed.

The entry point must be able to ``import mltrack``. mltrack's requirements are
pip-installed with the project's, and mltrack itself is linked, not installed:
``<env>/mltrack-link/mltrack`` is a symlink to the package this process runs
and a ``.pth`` file puts ``mltrack-link`` on the environment's path. That works
offline and for every way mltrack can be installed (a wheel, an editable
checkout, a plain ``PYTHONPATH``), and the environment always runs the same
mltrack as the ``mltrack run`` that started it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import secrets
import shutil
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from mltrack.exceptions import ExecutionException, InvalidParameterValue
from mltrack.projects.spec import EnvironmentSpec, Project, PythonEnv, load_python_env
from mltrack.store.files import atomic_write, file_lock

__all__ = [
    "ENV_MANAGERS",
    "Environment",
    "Interpreter",
    "default_env_manager",
    "env_root",
    "find_interpreter",
    "prepare_environment",
]

ENV_MANAGERS = ("local", "virtualenv")
ENV_ROOT_VARIABLE = "MLTRACK_ENV_ROOT"
_CACHE_FORMAT = "1"
_MARKER = "mltrack-env.json"
_LINK_DIR = "mltrack-link"

Log = Callable[[str], None]


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str  # e.g. 3.11.7

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


@dataclass(frozen=True)
class Environment:
    """How to run a command in the environment: what goes on PATH and in the environment."""

    manager: str
    interpreter: Interpreter
    bin_dir: Path
    variables: dict[str, str] = field(default_factory=dict)
    location: Path | None = None
    env_hash: str | None = None
    reused: bool = False

    @property
    def tags(self) -> dict[str, str]:
        tags = {
            "mlflow.project.env": self.manager,
            "mltrack.project.python": self.interpreter.version,
        }
        if self.env_hash:
            tags["mltrack.project.env_hash"] = self.env_hash
        return tags

    def child_environment(self, base: Mapping[str, str]) -> dict[str, str]:
        env = dict(base)
        env["PATH"] = os.pathsep.join(p for p in (str(self.bin_dir), env.get("PATH", "")) if p)
        env.pop("PYTHONHOME", None)
        for name, value in self.variables.items():
            if name == "PYTHONPATH" and env.get("PYTHONPATH"):
                value = os.pathsep.join((value, env["PYTHONPATH"]))
            env[name] = value
        return env


def default_env_manager(spec: EnvironmentSpec) -> str:
    """MLflow's choice: a virtualenv when the project declares a Python environment."""
    return "virtualenv" if spec.kind in ("python_env", "requirements") else "local"


def check_env_manager(manager: str, spec: EnvironmentSpec, where: str) -> None:
    """Refuse, before anything runs, an environment mltrack cannot build."""
    if manager not in ENV_MANAGERS:
        raise InvalidParameterValue(
            f"Unknown environment manager {manager!r}: use one of {', '.join(ENV_MANAGERS)}."
        )
    if manager == "virtualenv" and spec.kind in ("conda_env", "docker_env"):
        raise InvalidParameterValue(
            f"{where} declares {spec.kind}, which mltrack cannot build; declare python_env "
            "(a python_env.yaml) instead, or run with --env-manager local to use the current "
            "interpreter."
        )


def env_root() -> Path:
    configured = os.environ.get(ENV_ROOT_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return Path("~/.cache/mltrack/envs").expanduser()


@contextlib.contextmanager
def prepare_environment(manager: str, project: Project, log: Log) -> Iterator[Environment]:
    """The environment to run ``project``'s entry point in (temporary parts removed afterwards)."""
    if manager == "local":
        with _local_environment() as environment:
            yield environment
        return
    yield _virtualenv(project, log)


# ---------------------------------------------------------------------- local


@contextlib.contextmanager
def _local_environment() -> Iterator[Environment]:
    shims = Path(tempfile.mkdtemp(prefix="mltrack-python-"))
    try:
        for name in ("python", "python3"):
            wrapper = shims / name
            wrapper.write_text(f'#!/bin/sh\nexec {_sh_quote(sys.executable)} "$@"\n')
            wrapper.chmod(0o755)
        variables = {}
        root = _mltrack_import_root()
        if not _on_default_path(root):
            variables["PYTHONPATH"] = str(root)
        yield Environment(
            "local", Interpreter(sys.executable, platform.python_version()), shims, variables
        )
    finally:
        shutil.rmtree(shims, ignore_errors=True)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _mltrack_package_dir() -> Path:
    return Path(__file__).resolve().parents[1]


def _mltrack_import_root() -> Path:
    return _mltrack_package_dir().parent


def _on_default_path(directory: Path) -> bool:
    """Whether this interpreter finds ``directory`` without PYTHONPATH (its site-packages)."""
    candidates = [*site.getsitepackages(), site.getusersitepackages()]
    return any(Path(c).resolve() == directory for c in candidates if c)


# ---------------------------------------------------------------------- interpreters


def find_interpreter(version: str | None, where: str) -> Interpreter:
    """This interpreter if its major.minor matches ``version``, else ``python3.X`` on PATH."""
    current = Interpreter(sys.executable, platform.python_version())
    if version is None or _same_minor(version, current.version):
        return current
    wanted = ".".join(version.split(".")[:2])
    candidate = shutil.which(f"python{wanted}")
    if candidate is not None:
        found = _probe(candidate)
        if found is not None and _same_minor(version, found.version):
            return found
    raise ExecutionException(
        f"{where} asks for Python {version}, but no python{wanted} interpreter works on PATH "
        f"(mltrack runs on Python {current.version}). Install Python {wanted}, or run with "
        "--env-manager local to use the current interpreter."
    )


def _same_minor(wanted: str, actual: str) -> bool:
    return wanted.split(".")[:2] == actual.split(".")[:2]


def _probe(executable: str) -> Interpreter | None:
    code = "import platform, sys; print(platform.python_version()); print(sys.executable)"
    try:
        proc = subprocess.run(
            [executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != 2:
        return None
    return Interpreter(lines[1], lines[0])


# ---------------------------------------------------------------------- virtualenv


@dataclass(frozen=True)
class _Recipe:
    """Everything that defines a virtualenv, and the hash that names it."""

    python_env: PythonEnv
    interpreter: Interpreter
    mltrack_requirements: tuple[str, ...]
    digest: str


def _python_env_of(project: Project) -> PythonEnv:
    spec = project.environment
    if spec.kind == "python_env" and spec.path is not None:
        return load_python_env(spec.path)
    if spec.kind == "requirements" and spec.path is not None:
        relative = os.path.relpath(spec.path, project.directory)
        return PythonEnv(None, (), (f"-r {relative}",), spec.path)
    return PythonEnv(None)


def _recipe(project: Project) -> _Recipe:
    python_env = _python_env_of(project)
    where = str(python_env.source or project.mlproject or project.directory)
    interpreter = find_interpreter(python_env.python, where)
    own = _mltrack_requirements()
    hasher = hashlib.sha256()
    parts: list[bytes] = [
        _CACHE_FORMAT.encode(),
        interpreter.version.encode(),
        os.path.realpath(interpreter.executable).encode(),
        json.dumps(
            [python_env.build_dependencies, python_env.dependencies, own], sort_keys=True
        ).encode(),
    ]
    for referenced in _referenced_files(python_env.dependencies, project.directory):
        parts.append(referenced.read_bytes())
    for part in parts:
        hasher.update(len(part).to_bytes(8, "big") + part)
    return _Recipe(python_env, interpreter, own, hasher.hexdigest()[:32])


def _referenced_files(lines: tuple[str, ...], base: Path, depth: int = 0) -> list[Path]:
    """Requirement and constraint files named by ``-r``/``-c`` lines (recursively)."""
    found: list[Path] = []
    for line in lines:
        option, _, value = line.partition(" ")
        if "=" in option and option.startswith("--"):
            option, _, value = option.partition("=")
        if option not in ("-r", "--requirement", "-c", "--constraint"):
            continue
        path = (base / value.strip()).resolve()
        if not path.is_file():
            raise InvalidParameterValue(
                f"The environment's requirement {line!r} names {path}, which does not exist."
            )
        found.append(path)
        if depth < 5:
            nested = tuple(
                text.strip()
                for text in path.read_text(encoding="utf-8").splitlines()
                if text.strip().startswith("-")
            )
            found += _referenced_files(nested, path.parent, depth + 1)
    return found


def _mltrack_requirements() -> tuple[str, ...]:
    try:
        requirements = importlib.metadata.requires("mltrack") or []
    except importlib.metadata.PackageNotFoundError:
        raise ExecutionException(
            "Cannot build a virtualenv: mltrack is not installed as a package, so its own "
            "requirements are unknown. Install it (pip install mltrack, or pip install -e "
            "<checkout>), or run with --env-manager local."
        ) from None
    return tuple(
        sorted(r for r in requirements if ";" not in r or "extra" not in r.split(";", 1)[1])
    )


def _virtualenv(project: Project, log: Log) -> Environment:
    recipe = _recipe(project)
    root = env_root()
    root.mkdir(parents=True, exist_ok=True)
    published = root / recipe.digest
    with file_lock(root / ".locks", recipe.digest):
        reused = (published / _MARKER).is_file()
        if reused:
            log(f"Using cached virtualenv {published} (Python {recipe.interpreter.version})")
        else:
            _build(recipe, root, project.directory, log)
        _link_mltrack(published)
    return Environment(
        "virtualenv",
        Interpreter(str(published / "bin" / "python"), recipe.interpreter.version),
        published / "bin",
        {"VIRTUAL_ENV": str(published)},
        published,
        recipe.digest,
        reused,
    )


def _build(recipe: _Recipe, root: Path, project_dir: Path, log: Log) -> None:
    published = root / recipe.digest
    _remove_abandoned_builds(root, recipe.digest)
    build = root / f"{recipe.digest}.{secrets.token_hex(4)}"
    log_file = root / f"{recipe.digest}.log"
    log(
        f"Creating virtualenv {published} with Python {recipe.interpreter.version} "
        f"(pip log: {log_file})"
    )
    python_env = recipe.python_env
    try:
        with open(log_file, "w", encoding="utf-8") as output:
            _step(
                [recipe.interpreter.executable, "-m", "venv", str(build)],
                project_dir,
                output,
                "python -m venv",
            )
            python = str(build / "bin" / "python")
            pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
            if python_env.build_dependencies:
                _step(
                    [*pip, *python_env.build_dependencies],
                    project_dir,
                    output,
                    "pip install (build_dependencies)",
                )
            requirements = [
                *recipe.mltrack_requirements,
                *_without_mltrack(python_env.dependencies),
            ]
            log(f"Installing {len(requirements)} requirement(s) into the virtualenv")
            _step([*pip, *_pip_arguments(requirements)], project_dir, output, "pip install")
        site_packages = _site_packages(build)
        (site_packages / f"{_LINK_DIR}.pth").write_text(str(published / _LINK_DIR) + "\n")
        marker = {
            "created": int(time.time()),
            "python": recipe.interpreter.version,
            "interpreter": recipe.interpreter.executable,
            "python_env": str(python_env.source) if python_env.source else None,
            "dependencies": list(python_env.dependencies),
        }
        atomic_write(build / _MARKER, json.dumps(marker, indent=2, sort_keys=True).encode())
        if published.is_dir() and not published.is_symlink():
            shutil.rmtree(published)  # left by hand or by an older mltrack: not ours to keep
        link = root / f".{recipe.digest}.link-{secrets.token_hex(4)}"
        os.symlink(build.name, link)
        os.replace(link, published)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    log(f"Virtualenv ready: {published}")


def _step(command: list[str], cwd: Path, output: TextIO, what: str) -> None:
    output.write(f"$ {' '.join(command)}\n")
    output.flush()
    proc = subprocess.run(
        command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, check=False, env=_pip_env()
    )
    if proc.returncode != 0:
        output.flush()
        log_path = Path(output.name)
        reason = _last_error(log_path)
        raise ExecutionException(
            f"Could not build the virtualenv: {what} failed"
            + (f" ({reason})" if reason else f" with status {proc.returncode}")
            + f". Full log: {log_path}"
        )


def _pip_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV", "PIP_USER"):
        env.pop(name, None)
    return env


def _last_error(log_path: Path) -> str:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    errors = [line.strip() for line in lines if line.strip().startswith("ERROR:")]
    if errors:
        return errors[0].removeprefix("ERROR:").strip()
    meaningful = [line.strip() for line in lines if line.strip()]
    return meaningful[-1] if meaningful else ""


def _without_mltrack(lines: tuple[str, ...]) -> list[str]:
    """The project's requirements minus mltrack itself (the environment links this mltrack)."""
    kept = []
    for line in lines:
        name = line.split(";")[0].strip()
        for separator in ("==", ">=", "<=", "~=", "!=", ">", "<", "[", " ", "@"):
            name = name.split(separator)[0]
        if name.strip().lower().replace("_", "-") != "mltrack":
            kept.append(line)
    return kept


def _pip_arguments(lines: list[str]) -> list[str]:
    """``-r file`` style lines become two arguments; requirement specifiers stay whole."""
    arguments: list[str] = []
    for line in lines:
        if line.startswith("-"):
            option, _, value = line.partition(" ")
            arguments.append(option)
            if value.strip():
                arguments.append(value.strip())
        else:
            arguments.append(line)
    return arguments


def _site_packages(env: Path) -> Path:
    found = sorted(env.glob("lib/python*/site-packages"))
    if not found:
        raise ExecutionException(f"The virtualenv {env} has no lib/python*/site-packages.")
    return found[0]


def _link_mltrack(env: Path) -> None:
    """Point ``<env>/mltrack-link/mltrack`` at the mltrack this process runs (atomically)."""
    target = str(_mltrack_package_dir())
    link_dir = env / _LINK_DIR
    link_dir.mkdir(exist_ok=True)
    link = link_dir / "mltrack"
    with contextlib.suppress(OSError):
        if os.readlink(link) == target:
            return
    temporary = link_dir / f".mltrack-{secrets.token_hex(4)}"
    os.symlink(target, temporary)
    os.replace(temporary, link)


def _remove_abandoned_builds(root: Path, digest: str) -> None:
    """Build directories of ``digest`` that no published link points at (a crashed build)."""
    try:
        current = os.readlink(root / digest)
    except OSError:
        current = None
    for candidate in root.glob(f"{digest}.*"):
        if candidate.is_dir() and not candidate.is_symlink() and candidate.name != current:
            shutil.rmtree(candidate, ignore_errors=True)
