"""Docs that cannot drift: docs/cli.md is the CLI's own ``--help``, and the README's
commands exist and its quickstart runs."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from conftest import git, invoke, run_python
from mltrack.cli import cli

ROOT = Path(__file__).resolve().parents[1]
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


def _commands_of(text: str) -> list[list[str]]:
    """Every ``mltrack …`` command of a page's bash blocks and ``$``-prompted console lines."""
    commands = []
    for language, block in re.findall(r"```(\w*)\n(.*?)```", text, re.S):
        if language not in ("bash", "console"):
            continue  # a synopsis or an example of output, not a command to type
        for line in block.replace("\\\n", " ").splitlines():
            if language == "console":
                if not line.startswith("$ "):
                    continue  # output
                line = line[2:]
            if not re.search(r"(^|&&|;|\|)\s*mltrack\s", line):
                continue
            segment: list[str] = []
            for token in [*shlex.split(line, comments=True), ";"]:
                if token not in _SHELL_OPERATORS:
                    segment.append(token)
                    continue
                if segment[:1] == ["mltrack"]:
                    commands.append(segment[1:])
                segment = []
    return commands


def _documented_commands() -> list[tuple[str, list[str]]]:
    return [(page.name, args) for page in PAGES for args in _commands_of(page.read_text())]


def _readme_commands() -> list[list[str]]:
    return _commands_of(README)


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
    _documented_commands(),
    ids=[f"{page}: {' '.join(args[:3])}" for page, args in _documented_commands()],
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


# Documented commands that start a long-running server or build an environment to run a
# project: parsed above, run by their own tests (test_server*, test_serving, test_ui,
# test_projects).
NOT_RUN_HERE = {
    ("server",),
    ("ui",),
    ("models", "serve"),
    ("run",),
    ("runs", "rerun"),
    ("users",),  # prompts for passwords: tests/test_server_auth.py runs them
    ("sync",),  # needs a remote: tests/test_team.py runs it
}


@pytest.mark.slow
def test_the_documented_commands_run(repo: Path) -> None:
    """Every other documented command, run in order against a repository that has what
    the pages assume: a run in experiment 'iris' and the models they name."""
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    import mltrack

    runner = CliRunner()
    assert invoke(runner, "init").exit_code == 0
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
    mltrack.MltrackClient().transition_model_version_stage("iris", 1, "Production")
    git(repo, "branch", "feature")
    pd.DataFrame(X.head(5)).to_csv(repo / "measurements.csv", index=False)

    for page, args in _documented_commands():
        if any(tuple(args[: len(path)]) == path for path in NOT_RUN_HERE):
            continue
        args = [a.replace("3f2a...", run_id).replace("3f2a", run_id[:8]) for a in args]
        result = invoke(runner, *args)
        assert result.exit_code == 0, (page, args, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr
