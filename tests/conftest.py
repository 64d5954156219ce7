"""Shared fixtures: every test gets its own git repository and an isolated git config."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

from mltrack import MltrackClient

# Property tests write no example database into the checkout and have no per-example
# deadline (a timing assertion in disguise that slow machines would fail).
settings.register_profile("mltrack", database=None, deadline=None)
settings.load_profile("mltrack")


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run git in ``cwd`` and return stdout (tests may run git; the library's gitstore is what's tested)."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


SRC = Path(__file__).resolve().parents[1] / "src"


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: this checkout's ``src`` first on the path.

    An absolute path, so a child started in a test repository imports this
    worktree's mltrack (a relative ``PYTHONPATH=src`` would not resolve there).
    """
    inherited = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    paths = [str(SRC), *(p for p in inherited if os.path.isabs(p))]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), **extra)


def run_python(
    code: str, cwd: Path, *args: str, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in ``cwd`` to completion (a separate process, as a user would)."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=python_env(**env),
        check=False,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"child python failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME with a test identity; no system or user git config leaks in."""
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in list(os.environ):
        if name.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_", "MLFLOW_", "MLTRACK_")) or name in (
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
        ):
            monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh git repository with one code commit, as the working directory."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    (path / "train.py").write_text("print('training')\n")
    git(path, "add", "train.py")
    git(path, "commit", "-q", "-m", "Add training script")
    monkeypatch.chdir(path)
    yield path
    reset_mltrack()


@pytest.fixture
def empty_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A git repository with no commits yet."""
    path = tmp_path / "empty"
    path.mkdir()
    git(path, "init", "-q")
    monkeypatch.chdir(path)
    yield path
    reset_mltrack()


def reset_mltrack() -> None:
    """End what a test left active and forget process state (repositories, active runs)."""
    from mltrack.tracking import context, fluent

    fluent.reset_state()
    context.close_all()


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _through_main(args: tuple[str, ...]) -> None:
    from mltrack.cli import main

    main(list(args))


def invoke(runner: CliRunner, *args: str, stdin: str | None = None) -> Result:
    """Run the CLI in-process through the real entry point and its error boundary."""
    return runner.invoke(_through_main, list(args), input=stdin, catch_exceptions=False)


def server_worker(path: Path) -> MltrackClient:
    """A client on its own Repository writing through: one server worker process's view
    (MltrackClient caches one Repository per path, so it is bypassed)."""
    from mltrack.store.repository import Repository

    client = MltrackClient(str(path))
    repo = Repository.open(path)
    repo.runs.write_through = True
    client.__dict__["_repo"] = repo
    return client


@pytest.fixture
def workers(repo: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[MltrackClient, MltrackClient]:
    """Two server workers' views of ``repo``, each writing through its own Repository."""
    from mltrack.store.repository import Repository

    Repository.open(repo).init()
    monkeypatch.setattr(MltrackClient, "repository", property(lambda self: self.__dict__["_repo"]))
    return server_worker(repo), server_worker(repo)
