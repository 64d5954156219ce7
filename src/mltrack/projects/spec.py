"""The ``MLproject`` file and ``python_env.yaml``, as MLflow defines them.

An MLproject names the project, its environment (``python_env: python_env.yaml``,
or mltrack's ``requirements: requirements.txt``) and its entry points: a
``command`` with ``{param}`` placeholders and typed ``parameters`` (``string``,
``float``, ``int``, ``path``, ``uri``) with optional defaults. A directory
without an MLproject is a project too: any ``.py`` file in it is an entry point
(``python file.py``), any ``.sh`` file one run by ``$SHELL``, and
``python_env.yaml`` or ``requirements.txt`` beside them is its environment.

Everything is checked when a run is asked for, before anything runs: unknown
parameters, missing required ones and values of the wrong type are one-line
errors that say what to fix.
"""

from __future__ import annotations

import os
import re
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from mltrack.exceptions import InvalidParameterValue
from mltrack.store import validation

__all__ = [
    "PARAMETER_TYPES",
    "EntryPoint",
    "EnvironmentSpec",
    "Invocation",
    "Parameter",
    "Project",
    "PythonEnv",
    "load_project",
    "load_python_env",
]

PARAMETER_TYPES = ("string", "float", "int", "path", "uri")
PYTHON_ENV_FILE = "python_env.yaml"
REQUIREMENTS_FILE = "requirements.txt"
_SCRIPT_RUNNERS = {".py": "python", ".sh": None}  # None: the user's $SHELL
_KNOWN_FIELDS = {
    "name",
    "python_env",
    "requirements",
    "conda_env",
    "docker_env",
    "entry_points",
}
_PYTHON_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")


def _error(where: str, problem: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"{where}: {problem}")


# ---------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of an entry point."""

    name: str
    type: str = "string"
    default: str | None = None

    @property
    def required(self) -> bool:
        return self.default is None

    def convert(
        self, value: str, *, base_dir: Path, project_dir: Path, entry_point: str, given: bool
    ) -> str:
        """The value as the command and the run's params get it; raises on a wrong type.

        ``int`` and ``float`` values are normalised (``1e-3`` → ``0.001``), so a script
        that logs the parsed number logs the same string. ``path`` values must exist
        (relative ones are resolved from ``base_dir``); a path inside the project is
        given relative to it (the entry point runs there), so the record does not
        depend on where the project was checked out; any other path becomes absolute.
        """
        subject = (
            f"Parameter '{self.name}' of entry point '{entry_point}'"
            if given
            else f"The default of parameter '{self.name}' of entry point '{entry_point}'"
        )
        text = value.strip() if self.type in ("int", "float") else value
        if self.type == "int":
            try:
                return str(int(text, 10))
            except ValueError:
                raise InvalidParameterValue(f"{subject} must be an int, got {value!r}.") from None
        if self.type == "float":
            try:
                return repr(float(text))
            except ValueError:
                raise InvalidParameterValue(f"{subject} must be a float, got {value!r}.") from None
        if self.type == "path":
            return _path_value(value, base_dir, project_dir, subject)
        if self.type == "uri":
            if not urlparse(value).scheme:
                raise InvalidParameterValue(
                    f"{subject} must be a URI such as file:///data/train.csv or "
                    f"s3://bucket/key, got {value!r}."
                )
            return value
        return value


def _path_value(value: str, base_dir: Path, project_dir: Path, subject: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme == "file":
        local = unquote(parsed.path)
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise InvalidParameterValue(
            f"{subject} is a path; {value!r} is a remote URI, which mltrack does not download "
            "(it works offline). Copy the data locally and pass its path."
        )
    else:
        local = value
    path = Path(local).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.exists():
        where = (
            "" if Path(local).is_absolute() else f" (relative paths are resolved from {base_dir})"
        )
        raise InvalidParameterValue(f"{subject} is a path, but {value!r} does not exist{where}.")
    absolute = Path(os.path.abspath(path))
    project = Path(os.path.abspath(project_dir))
    if absolute.is_relative_to(project):
        return absolute.relative_to(project).as_posix()
    return str(absolute)


def _parse_parameter(name: Any, spec: Any, where: str) -> Parameter:
    if not isinstance(name, str) or not name:
        raise _error(where, f"parameter name {name!r} must be a non-empty string")
    try:
        validation.key(name, "parameter name")
    except InvalidParameterValue as error:
        raise _error(where, str(error)) from None
    default: Any = None
    if isinstance(spec, str):
        kind = spec
    elif isinstance(spec, Mapping):
        unknown = set(spec) - {"type", "default"}
        if unknown:
            raise _error(
                where,
                f"parameter '{name}' has unknown field(s) {', '.join(map(repr, sorted(unknown)))}; "
                "use 'type' and 'default'",
            )
        kind = spec.get("type", "string")
        default = spec.get("default")
    elif spec is None:
        kind = "string"
    else:
        raise _error(
            where,
            f"parameter '{name}' must be a type name (e.g. float) or a mapping with "
            f"'type' and 'default', got {spec!r}",
        )
    if kind not in PARAMETER_TYPES:
        raise _error(
            where,
            f"parameter '{name}' has unknown type {kind!r}; use one of {', '.join(PARAMETER_TYPES)}",
        )
    if isinstance(default, (list, dict)):
        raise _error(where, f"the default of parameter '{name}' must be a single value")
    return Parameter(name, kind, None if default is None else str(default))


# ---------------------------------------------------------------------- entry points


@dataclass(frozen=True)
class Invocation:
    """An entry point with its parameters resolved: what runs and what is recorded."""

    entry_point: str
    command: str
    params: dict[str, str]


@dataclass(frozen=True)
class EntryPoint:
    """A named command with typed parameters (declared, or a script file)."""

    name: str
    command: str
    parameters: dict[str, Parameter] = field(default_factory=dict)
    declared: bool = True

    def resolve(
        self,
        values: Mapping[str, Any],
        *,
        project_dir: Path,
        cwd: Path,
        project_name: str,
    ) -> Invocation:
        """Check ``values`` against the declared parameters and build the command.

        Declared entry points refuse parameters they do not declare. Script entry
        points declare nothing: every value is passed on as ``--name value``, as
        MLflow does. Relative paths in ``values`` are resolved from ``cwd``, those
        of defaults from ``project_dir``.
        """
        given = {str(k): str(v) for k, v in values.items()}
        if not self.declared:
            for key, value in given.items():
                validation.key(key, "parameter name")
                validation.param_value(key, value)
            extra = " ".join(f"--{shlex.quote(k)} {shlex.quote(v)}" for k, v in given.items())
            command = f"{self.command} {extra}" if extra else self.command
            return Invocation(self.name, command, given)
        unknown = [k for k in given if k not in self.parameters]
        if unknown:
            declared = ", ".join(self.parameters) or "none"
            plural = "s" if len(unknown) > 1 else ""
            raise InvalidParameterValue(
                f"Unknown parameter{plural} {', '.join(map(repr, unknown))} for entry point "
                f"'{self.name}' of project '{project_name}'; declared parameters: {declared}."
            )
        missing = [p.name for p in self.parameters.values() if p.required and p.name not in given]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            how = " ".join(f"-P {name}=VALUE" for name in missing)
            raise InvalidParameterValue(
                f"Missing value{plural} for required parameter{plural} "
                f"{', '.join(map(repr, missing))} of entry point '{self.name}': pass {how}."
            )
        params: dict[str, str] = {}
        for parameter in self.parameters.values():
            if parameter.name in given:
                value = parameter.convert(
                    given[parameter.name],
                    base_dir=cwd,
                    project_dir=project_dir,
                    entry_point=self.name,
                    given=True,
                )
            else:
                assert parameter.default is not None
                value = parameter.convert(
                    parameter.default,
                    base_dir=project_dir,
                    project_dir=project_dir,
                    entry_point=self.name,
                    given=False,
                )
            params[parameter.name] = validation.param_value(parameter.name, value)
        command = self.command.format(**{k: shlex.quote(v) for k, v in params.items()})
        return Invocation(self.name, command, params)


def _parse_entry_point(name: Any, spec: Any, where: str) -> EntryPoint:
    if not isinstance(name, str) or not name:
        raise _error(where, f"entry point name {name!r} must be a non-empty string")
    if not isinstance(spec, Mapping):
        raise _error(where, f"entry point '{name}' must be a mapping with a 'command'")
    unknown = set(spec) - {"command", "parameters"}
    if unknown:
        raise _error(
            where,
            f"entry point '{name}' has unknown field(s) {', '.join(map(repr, sorted(unknown)))}; "
            "use 'command' and 'parameters'",
        )
    command = spec.get("command")
    if not isinstance(command, str) or not command.strip():
        raise _error(where, f"entry point '{name}' needs a 'command' (a string)")
    raw = spec.get("parameters") or {}
    if not isinstance(raw, Mapping):
        raise _error(where, f"'parameters' of entry point '{name}' must be a mapping")
    parameters = {
        str(key): _parse_parameter(key, value, f"{where}: entry point '{name}'")
        for key, value in raw.items()
    }
    for placeholder in _placeholders(command, name, where):
        if placeholder not in parameters:
            declared = ", ".join(parameters) or "none"
            raise _error(
                where,
                f"the command of entry point '{name}' uses {{{placeholder}}}, which is not a "
                f"declared parameter (declared: {declared}); write a literal brace as {{{{ or }}}}",
            )
    return EntryPoint(name, command, parameters)


def _placeholders(command: str, name: str, where: str) -> list[str]:
    try:
        parsed = [
            (field_name, spec, conversion)
            for _, field_name, spec, conversion in string.Formatter().parse(command)
            if field_name is not None
        ]
    except ValueError as error:
        raise _error(where, f"the command of entry point '{name}' is malformed: {error}") from None
    for field_name, spec, conversion in parsed:
        if not field_name or field_name.isdigit() or "." in field_name or "[" in field_name:
            raise _error(
                where,
                f"the command of entry point '{name}' has placeholder {{{field_name}}}; "
                "placeholders are parameter names such as {alpha}",
            )
        if spec or conversion:
            raise _error(
                where,
                f"the command of entry point '{name}' formats {{{field_name}}}; placeholders "
                "take no format spec or conversion (values are substituted as text)",
            )
    return [field_name for field_name, _, _ in parsed]


# ---------------------------------------------------------------------- environments


@dataclass(frozen=True)
class EnvironmentSpec:
    """The environment a project declares: python_env, requirements, conda, docker, or none."""

    kind: str | None  # "python_env" | "requirements" | "conda_env" | "docker_env" | None
    path: Path | None = None


@dataclass(frozen=True)
class PythonEnv:
    """A ``python_env.yaml``: the Python version and pip requirements of an environment."""

    python: str | None
    build_dependencies: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    source: Path | None = None


def load_python_env(path: Path) -> PythonEnv:
    """Parse and check a ``python_env.yaml`` (MLflow's format)."""
    where = str(path)
    data = _read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _error(where, "must be a mapping with 'python' and 'dependencies'")
    unknown = set(data) - {"python", "build_dependencies", "dependencies"}
    if unknown:
        raise _error(
            where,
            f"unknown field(s) {', '.join(map(repr, sorted(map(str, unknown))))}; "
            "use 'python', 'build_dependencies' and 'dependencies'",
        )
    python = data.get("python")
    if python is not None:
        if not isinstance(python, str):
            raise _error(
                where,
                f"field 'python' must be a string such as \"3.11\", got {python!r} "
                "(quote it: YAML reads 3.10 as the number 3.1)",
            )
        if not _PYTHON_VERSION.match(python.strip()):
            raise _error(
                where,
                f'field \'python\' must be a version such as "3.11" or "3.11.7", got {python!r}',
            )
        python = python.strip()
    lists = {}
    for name in ("build_dependencies", "dependencies"):
        value = data.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _error(where, f"field '{name}' must be a list of pip requirement strings")
        lists[name] = tuple(v.strip() for v in value if v.strip())
    return PythonEnv(python, lists["build_dependencies"], lists["dependencies"], path)


# ---------------------------------------------------------------------- projects


@dataclass(frozen=True)
class Project:
    """A project directory: its name, environment and entry points."""

    directory: Path
    name: str
    entry_points: dict[str, EntryPoint]
    environment: EnvironmentSpec
    mlproject: Path | None = None
    warnings: tuple[str, ...] = ()

    def entry_point(self, name: str) -> EntryPoint:
        """A declared entry point, or a script file of the project run as MLflow does."""
        declared = self.entry_points.get(name)
        if declared is not None:
            return declared
        suffix = Path(name).suffix
        if suffix in _SCRIPT_RUNNERS:
            script = (self.directory / name).resolve()
            if not script.is_file() or not script.is_relative_to(self.directory.resolve()):
                raise InvalidParameterValue(
                    f"Entry point '{name}': no such script in {self.directory}."
                )
            runner = _SCRIPT_RUNNERS[suffix] or shlex.quote(os.environ.get("SHELL") or "bash")
            return EntryPoint(name, f"{runner} {shlex.quote(name)}", declared=False)
        return self._unknown_entry_point(name)

    def _unknown_entry_point(self, name: str) -> EntryPoint:
        scripts = sorted(
            p.name for p in self.directory.iterdir() if p.suffix in _SCRIPT_RUNNERS and p.is_file()
        )
        if self.mlproject is None:
            hint = (
                f"name a script, e.g. -e {scripts[0]}"
                if scripts
                else "add an MLproject file or a .py script"
            )
            raise InvalidParameterValue(
                f"Entry point '{name}' not found: {self.directory} has no MLproject file, so its "
                f"entry points are its scripts ({', '.join(scripts) or 'none'}); {hint}."
            )
        declared = ", ".join(self.entry_points) or "none"
        raise InvalidParameterValue(
            f"Entry point '{name}' not found in {self.mlproject}: declared entry points are "
            f"{declared} (a .py or .sh file of the project can be named too)."
        )


def find_mlproject(directory: Path) -> Path | None:
    """The MLproject file of ``directory`` (its name is matched case-insensitively, as MLflow)."""
    for entry in sorted(directory.iterdir()):
        if entry.name.lower() == "mlproject" and entry.is_file():
            return entry
    return None


def load_project(directory: Path, *, display_name: str | None = None) -> Project:
    """Read the project in ``directory`` (with or without an MLproject file)."""
    if not directory.is_dir():
        raise InvalidParameterValue(f"Project directory {directory} does not exist.")
    mlproject = find_mlproject(directory)
    fallback_name = display_name or directory.resolve().name
    if mlproject is None:
        return Project(directory, fallback_name, {}, _conventional_environment(directory), None, ())
    where = str(mlproject)
    data = _read_yaml(mlproject)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _error(where, "must be a YAML mapping with 'name' and 'entry_points'")
    warnings = tuple(
        f"{where}: ignoring unknown field '{key}'"
        for key in sorted(map(str, data))
        if key not in _KNOWN_FIELDS
    )
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise _error(where, f"field 'name' must be a string, got {name!r}")
    raw_entry_points = data.get("entry_points") or {}
    if not isinstance(raw_entry_points, Mapping):
        raise _error(where, "field 'entry_points' must be a mapping of name to entry point")
    entry_points = {
        str(key): _parse_entry_point(key, value, where) for key, value in raw_entry_points.items()
    }
    environment = _declared_environment(directory, data, where)
    return Project(directory, name or fallback_name, entry_points, environment, mlproject, warnings)


def _declared_environment(directory: Path, data: Mapping[str, Any], where: str) -> EnvironmentSpec:
    kinds = [k for k in ("python_env", "requirements", "conda_env", "docker_env") if k in data]
    if len(kinds) > 1:
        raise _error(where, f"declares several environments ({', '.join(kinds)}); keep exactly one")
    if not kinds:
        return _conventional_environment(directory)
    kind = kinds[0]
    value = data[kind]
    if kind == "docker_env":
        return EnvironmentSpec(kind)
    if not isinstance(value, str) or not value:
        raise _error(where, f"field '{kind}' must be the path of a file in the project")
    path = directory / value
    if not path.is_file():
        raise _error(where, f"field '{kind}' names {value!r}, but {path} does not exist")
    return EnvironmentSpec(kind, path)


def _conventional_environment(directory: Path) -> EnvironmentSpec:
    for kind, file_name in (("python_env", PYTHON_ENV_FILE), ("requirements", REQUIREMENTS_FILE)):
        if (directory / file_name).is_file():
            return EnvironmentSpec(kind, directory / file_name)
    if (directory / "conda.yaml").is_file():
        return EnvironmentSpec("conda_env", directory / "conda.yaml")
    return EnvironmentSpec(None)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise _error(str(path), f"cannot be read ({error.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise _error(str(path), f"is not valid YAML{at} ({first})") from None
