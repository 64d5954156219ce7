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


def _readme_commands() -> list[list[str]]:
    """Every ``mltrack …`` command line of the README's bash blocks, as arguments."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                text = part.split("#", 1)[0].strip()
                if text.startswith("mltrack "):
                    commands.append(shlex.split(text)[1:])
    return commands


def _resolve(args: list[str]) -> tuple[click.Command, list[str]]:
    """The command the arguments name, and the options given to it (and its groups)."""
    command: click.Command = cli
    options: list[str] = []
    for arg in args:
        if arg.startswith("-"):
            options.append(arg.split("=", 1)[0])
        elif isinstance(command, click.Group) and arg in command.commands:
            command = command.commands[arg]
    return command, options


@pytest.mark.parametrize("args", _readme_commands(), ids=lambda args: " ".join(args[:3]))
def test_every_readme_command_and_option_exists(args: list[str]) -> None:
    command, options = _resolve(args)
    known = {name for param in cli.params for name in param.opts}
    group: click.Command = cli
    for arg in args:  # the options of every group on the way count too
        if isinstance(group, click.Group) and arg in group.commands:
            group = group.commands[arg]
            known |= {name for param in group.params for name in param.opts}
    assert command is not cli, f"`mltrack {' '.join(args)}` names no command"
    assert set(options) <= known, f"`mltrack {' '.join(args)}`: unknown {set(options) - known}"


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
