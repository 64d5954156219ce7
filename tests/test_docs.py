"""Docs that cannot drift: docs/cli.md is the CLI's own ``--help``, and the README's
commands exist and its quickstart runs."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from conftest import git, invoke, run_python
from mltrack.cli import cli

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from mltrack.cli import main; sys.exit(main())"
README = (ROOT / "README.md").read_text()


def test_cli_reference_is_the_current_help() -> None:
    # A fresh process, as `python scripts/gen_cli_docs.py` runs: click caches each command's
    # help option, so commands this process already ran could print differently.
    code = "import runpy, sys; sys.stdout.write(runpy.run_path(sys.argv[1])['render']())"
    rendered = run_python(code, ROOT, str(ROOT / "scripts" / "gen_cli_docs.py")).stdout
    assert (ROOT / "docs" / "cli.md").read_text() == rendered, (
        "docs/cli.md is out of date: run `python scripts/gen_cli_docs.py`"
    )


PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "cli.md")]
_SHELL_OPERATORS = {"|", ">", ">>", "2>", "&&", "||", ";"}  # where a command ends in a shell line


@dataclass(frozen=True)
class Documented:
    """A ``mltrack`` command a page shows: its arguments, the variables the block exports
    before it, and the ``Error: …`` line a console block shows it printing (None: success)."""

    page: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page}: mltrack {shlex.join(self.args)}"


def _commands_of(text: str, page: str = "") -> list[Documented]:
    """Every ``mltrack …`` command of a page's bash blocks and ``$``-prompted console lines."""
    commands: list[Documented] = []
    for language, block in re.findall(r"```(\w*)\n(.*?)```", text, re.S):
        if language not in ("bash", "console"):
            continue  # a synopsis or an example of output, not a command to type
        lines = block.replace("\\\n", " ").splitlines()
        env: dict[str, str] = {}
        for number, line in enumerate(lines):
            error = None
            if language == "console":
                if not line.startswith("$ "):
                    continue  # output
                line = line[2:]
                following = lines[number + 1] if number + 1 < len(lines) else ""
                error = following if following.startswith("Error: ") else None
            exported = re.match(r"export (\w+)=(\S+)", line)
            if exported:
                env[exported[1]] = exported[2]
            if not re.search(r"(^|&&|;|\|)\s*mltrack\s", line):
                continue
            segment: list[str] = []
            for token in [*shlex.split(line, comments=True), ";"]:
                if token not in _SHELL_OPERATORS:
                    segment.append(token)
                    continue
                if segment[:1] == ["mltrack"]:
                    commands.append(Documented(page, segment[1:], dict(env), error))
                segment = []
    return commands


def _documented_commands() -> list[Documented]:
    return [command for page in PAGES for command in _commands_of(page.read_text(), page.name)]


def _readme_commands() -> list[list[str]]:
    return [command.args for command in _commands_of(README)]


def _parse(args: list[str]) -> click.Command:
    """Parse the arguments as ``mltrack`` would, down to the command they name; return it."""
    command: click.Command = cli
    name, parent = "mltrack", None
    while True:
        context = command.make_context(name, list(args), parent=parent)
        if not isinstance(command, click.Group):
            return command
        # A group parsed its own options; what it left is the subcommand and its arguments.
        rest = args[len(args) - len(context.args) - 1 :]
        sub = command.get_command(context, rest[0])
        assert sub is not None, f"no command {rest[0]!r}"
        command, name, args, parent = sub, rest[0], rest[1:], context


@pytest.mark.parametrize(
    ("page", "args"),
    [(command.page, command.args) for command in _documented_commands()],
    ids=[f"{c.page}: {' '.join(c.args[:3])}" for c in _documented_commands()],
)
def test_every_documented_command_parses(page: str, args: list[str]) -> None:
    """Commands, options, choices and arguments as the CLI parses them (files excepted:
    an input path the reader brings need not exist here)."""
    try:
        command = _parse(args)
    except click.BadParameter as error:
        assert "does not exist" in error.format_message(), f"{page}: mltrack {shlex.join(args)}"
        return
    except click.UsageError as error:
        message = f"{page}: `mltrack {shlex.join(args)}`: {error.format_message()}"
        raise AssertionError(message) from None
    assert command is not cli


def test_the_quickstart_installs_the_extras_the_readme_uses() -> None:
    """A README command that needs an optional dependency works in the quickstart's .venv."""
    extra_of_option = {"--plot": "plot"}
    used = {extra_of_option[a] for args in _readme_commands() for a in args if a in extra_of_option}
    quickstart = (ROOT / "scripts" / "quickstart").read_text()
    installed = re.search(r'pip install --quiet -e "\$project(?:\[([^\]]*)\])?"', quickstart)
    assert installed is not None
    assert used <= set((installed[1] or "").split(",")), "scripts/quickstart lacks an extra"


def test_the_readme_python_uses_the_public_api() -> None:
    import mltrack

    for block in re.findall(r"```python\n(.*?)```", README, re.S):
        for name in re.findall(r"\bmlflow\.([a-z_]+(?:\.[a-z_]+)?)\(", block):
            target: object = mltrack
            for part in name.split("."):
                target = getattr(target, part)
            assert callable(target), name


@pytest.mark.slow
def test_the_quickstart_runs(repo: Path) -> None:
    """What ``scripts/quickstart`` does after installing: train, register, promote, list."""
    for script in ("quickstart.py", "register_model.py"):
        shutil.copy(ROOT / "examples" / script, repo / script)
    git(repo, "add", "quickstart.py", "register_model.py")
    git(repo, "commit", "-q", "-m", "Add training and registration scripts")
    runner = CliRunner()
    assert invoke(runner, "init").exit_code == 0
    run_python((ROOT / "examples" / "quickstart.py").read_text(), repo)
    registered = run_python((ROOT / "examples" / "register_model.py").read_text(), repo)
    assert "Registered 'New Registered Model' version 1" in registered.stdout
    promoted = invoke(runner, "models", "promote", "New Registered Model", "1", "Production")
    assert promoted.exit_code == 0, promoted.output
    listed = invoke(runner, "runs", "list", "--filter", "metrics.accuracy > 0.5")
    assert listed.exit_code == 0 and "RandomForest_Training" not in listed.stderr
    assert len(listed.stdout.strip().splitlines()) >= 2  # a header and the run
    history = invoke(runner, "models", "history", "New Registered Model")
    assert history.exit_code == 0 and "Production" in history.stdout


# Documented commands that serve until stopped: each is started with the page's options
# (on a port bound here, as the server tests do), asked whether it is up, and stopped.
SERVERS = {("server",): "/health", ("ui",): "/", ("models", "serve"): "/ping"}


def _served(args: list[str], repo: Path) -> list[str]:
    """``args`` of a server command as a test runs it: on the socket ServerProcess binds,
    for ``repo`` where the page wrote a placeholder path."""
    kept: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg in ("--host", "-h", "--port", "-p"):
            next(rest)  # ServerProcess hands over a bound socket instead
        elif arg == "/path/to/repo":
            kept.append(str(repo))
        else:
            kept.append(arg)
    return kept


def _run_project_args(args: list[str]) -> list[str]:
    """``mltrack run`` on the example project in this interpreter (``--env-manager local``):
    building its virtualenv is tests/test_projects.py's cached-virtualenv test."""
    args = [str(ROOT / a) if a == "examples/project" else a for a in args]
    if "--env-manager" in args:
        args[args.index("--env-manager") + 1] = "local"
        return args
    return [*args, "--env-manager", "local"]


@pytest.mark.slow
def test_the_documented_commands_run(repo: Path, tmp_path: Path) -> None:
    """Every documented command, run in order against a repository that has what the pages
    assume: a run in experiment 'iris', the models and aliases they name, a remote. A command
    a console block shows failing must fail with that very line."""
    import httpx
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    import mltrack
    from support import ServerProcess

    runner = CliRunner()
    assert invoke(runner, "init").exit_code == 0
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    X, y = load_iris(return_X_y=True, as_frame=True)
    mltrack.set_experiment("iris")
    with mltrack.start_run() as run:
        for step, accuracy in enumerate((0.8, 0.9, 0.95)):
            mltrack.log_metric("accuracy", accuracy, step=step)
        mltrack.log_text("[[50, 0], [0, 50]]", "confusion_matrix.txt")
        model = LogisticRegression(max_iter=200).fit(X, y)
        mltrack.sklearn.log_model(model, name="model", input_example=X.head(2))
    run_id = run.info.run_id
    source = f"runs:/{run_id}/model"
    for name in ("New Registered Model", "New Registered Model", "iris"):
        mltrack.register_model(source, name)
    client = mltrack.MltrackClient()
    client.transition_model_version_stage("iris", 1, "Production")
    client.set_registered_model_alias("iris", "production", "1")
    client.set_registered_model_alias("New Registered Model", "champion", "2")
    git(repo, "branch", "feature")
    git(repo, "push", "-q", "origin", "HEAD")
    pd.DataFrame(X.head(5)).to_csv(repo / "measurements.csv", index=False)

    project_run, token = run_id, None
    servers: list[tuple[Documented, str]] = []
    for command in _documented_commands():
        args, where = command.args, command.where
        ready = next(
            (path for cmd, path in SERVERS.items() if tuple(args[: len(cmd)]) == cmd), None
        )
        if ready is not None:
            servers.append((command, ready))  # after the commands that set up what they serve
            continue
        stdin = None
        if args[:1] == ["run"]:
            args = _run_project_args(args)
        elif args[:2] == ["runs", "rerun"]:
            args = [*args[:2], project_run, *args[3:]]
        elif args[:2] == ["users", "create"]:
            stdin = "alice-password\nalice-password\n"
        args = [a.replace("3f2a...", run_id).replace("3f2a", run_id[:8]) for a in args]
        with _environment(command.env):
            result = invoke(runner, *args, stdin=stdin)
        assert "Traceback" not in result.stdout + result.stderr, where
        if command.error is not None:
            assert result.exit_code == 1, (where, result.stdout, result.stderr)
            assert _says(result.stderr, command.error), (where, result.stderr)
            continue
        assert result.exit_code == 0, (where, result.stdout, result.stderr)
        if args[:1] == ["run"]:
            project_run = mltrack.search_runs(
                search_all_experiments=True,
                filter_string="tags.`mltrack.project.name` = 'iris-quickstart'",
                order_by=["attributes.start_time DESC"],
                max_results=1,
                output_format="list",
            )[0].info.run_id
        elif args[:2] == ["users", "token"]:
            token = result.stdout.strip().split()[-1]

    assert project_run != run_id and token is not None
    admin = {"MLTRACK_AUTH_ADMIN_PASSWORD": "admin-password"}
    for command, ready in servers:
        served = _served(command.args, repo)
        if command.error is not None:  # refuses to start, with the page's message
            done = run_python(CLI, repo, *served, check=False, **admin, **command.env)
            assert done.returncode == 1, (command.where, done.stderr)
            assert _says(done.stderr, command.error), (command.where, done.stderr)
            continue
        live = ServerProcess(
            *served, ready_path=ready, log_dir=tmp_path, cwd=repo, env={**admin, **command.env}
        )
        try:
            if "--auth" in command.args:  # alice's token, from `mltrack users token alice`
                answer = httpx.get(
                    f"{live.url}/api/2.0/mlflow/experiments/get-by-name",
                    params={"experiment_name": "iris"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert answer.status_code == 200, (command.where, answer.text)
        finally:
            live.stop()


def _says(stderr: str, documented: str) -> bool:
    """Whether ``stderr`` ends with the documented error line (``(...)``: the page cut it)."""
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if documented.endswith(" (...)"):
        return last.startswith(documented.removesuffix(" (...)"))
    return last == documented


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """The variables a page exports before a command, for an in-process CLI call."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
