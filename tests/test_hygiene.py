"""What mltrack leaves in a clone and a checkout: a diff driver that survives, ignored files."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from conftest import git, invoke, python_env, reset_mltrack

ROOT = Path(__file__).resolve().parents[1]
DRIVER = "diff.mltrack-arrow.textconv"


def _log_patch(repo: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = python_env()
    env["PATH"] = path
    return subprocess.run(
        ["/usr/bin/git", "log", "-p", "-1", "--", "*.arrow"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_arrow_diff_driver_survives_a_deleted_virtualenv(repo: Path, cli: CliRunner) -> None:
    import mltrack

    with mltrack.start_run():
        mltrack.log_metric("loss", 0.25)
    configured = git(repo, "config", "--get", DRIVER).strip()
    quoted = shlex.quote(sys.executable)
    assert configured.count(quoted) == 1
    # The virtualenv that configured the driver is deleted.
    git(repo, "config", "--local", DRIVER, configured.replace(quoted, "/deleted/venv/bin/python"))

    with_mltrack_on_path = _log_patch(
        repo, f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin"
    )
    assert with_mltrack_on_path.returncode == 0, with_mltrack_on_path.stderr
    assert "+key\tstep\ttimestamp\tvalue" in with_mltrack_on_path.stdout

    without_mltrack = _log_patch(repo, "/usr/bin:/bin")
    assert without_mltrack.returncode == 0, without_mltrack.stderr
    assert "+(metrics.arrow: install mltrack or put it on PATH" in without_mltrack.stdout

    # The next mltrack process points the driver at a living interpreter again.
    reset_mltrack()
    assert invoke(cli, "runs", "list").exit_code == 0
    assert quoted in git(repo, "config", "--get", DRIVER)


def test_the_virtualenvs_the_scripts_create_are_ignored() -> None:
    import re

    for script in ("quickstart", "test"):
        text = (ROOT / "scripts" / script).read_text()
        for venv in re.findall(r"\$project/(\.[\w-]+)", text):
            ignored = subprocess.run(
                ["git", "check-ignore", "-q", "--no-index", f"{venv}/bin/python"],
                cwd=ROOT,
                check=False,
            )
            assert ignored.returncode == 0, (
                f"{venv}/ (made by scripts/{script}) is not in .gitignore"
            )


def test_the_readme_shows_model_folders_and_tags_as_they_are_encoded() -> None:
    from mltrack.registry import encode_name, version_tag

    readme = (ROOT / "README.md").read_text()
    name = "New Registered Model"
    assert f"models/{encode_name(name)}/" in readme
    assert version_tag(name, 1) in readme
    assert "models/<model name>/" not in readme
