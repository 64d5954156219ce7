"""``mltrack import mlflow`` / ``export mlflow`` without MLflow, and their bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import child_env

WITHOUT_MLFLOW = (
    "import sys\n"
    "sys.modules['mlflow'] = None  # as if MLflow were not installed\n"
    "from mltrack.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def mltrack_without_mlflow(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_MLFLOW, *args],
        cwd=repo, env=child_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_import_without_mlflow_says_how_to_install_it(repo: Path, tmp_path: Path) -> None:
    result = mltrack_without_mlflow(repo, "import", "mlflow", str(tmp_path))

    assert result.returncode == 1
    assert result.stderr == "Error: MLflow is not installed: pip install 'mltrack[mlflow]'\n"


def test_export_without_mlflow_says_how_to_install_it(repo: Path, tmp_path: Path) -> None:
    result = mltrack_without_mlflow(repo, "export", "mlflow", f"sqlite:///{tmp_path / 'x.db'}")

    assert result.returncode == 1
    assert result.stderr == "Error: MLflow is not installed: pip install 'mltrack[mlflow]'\n"


def test_import_from_nowhere_is_one_line(repo: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-mlruns"
    result = mltrack_without_mlflow(repo, "import", "mlflow", str(missing))

    assert result.returncode == 1
    assert result.stderr == (
        f"Error: No MLflow store at {missing}: give an mlruns directory, a sqlite:/// URI or "
        "an http:// server.\n"
    )
    assert not missing.exists()
