"""Repositories for the live-server tests, and the command line as a subprocess.

The servers themselves are ``support.TrackingServer``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import child_env


def run_cli(
    *args: str, cwd: Path | None = None, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m mltrack ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "mltrack", *args],
        cwd=cwd,
        env=child_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def make_repo(base: Path) -> tuple[Path, Path]:
    """(repo, home): a git repository with one commit and an mltrack store, its own HOME.

    For module-scoped servers, which start before the per-test ``isolated_git``.
    """
    home = base / "home"
    home.mkdir(parents=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    repo = base / "repo"
    repo.mkdir()
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "Start"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=child_env(home))
    result = run_cli("-C", str(repo), "init", home=home)
    assert result.returncode == 0, result.stderr
    return repo, home
