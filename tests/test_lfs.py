"""Large artifacts through git-lfs: pointer files in git, contents where `git lfs` keeps them.

Real git-lfs throughout: `git status`, `git lfs fsck`, `git push` to a local bare remote
(git-lfs's standalone file transfer), `git clone` and `git lfs pull`.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression

import mltrack
from conftest import git, invoke, python_env, reset_mltrack
from mltrack.exceptions import InvalidParameterValue
from mltrack.gitstore.lfs import LfsObjectMissing, parse_pointer, pointer
from mltrack.store.large_artifacts import DEFAULT_LFS_THRESHOLD, parse_size

POINTER_START = "version https://git-lfs.github.com/spec/v1\n"


def lfs(cwd: Path, *args: str) -> str:
    return git(cwd, "lfs", *args)


def committed(repo: Path, path: str) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "blob", f"HEAD:{path}"], cwd=repo, capture_output=True, check=True
    ).stdout


def artifact_path(run_id: str, name: str) -> str:
    return f".mltrack/experiments/0/runs/{run_id}/artifacts/{name}"


def mltrack_status(repo: Path) -> str:
    return git(repo, "status", "--porcelain", "--untracked-files=all", "--", ".mltrack")


def log_files(files: dict[str, bytes]) -> str:
    with mltrack.start_run() as run:
        for name, data in files.items():
            Path(name).write_bytes(data)
            mltrack.log_artifact(name)
    return run.info.run_id


def test_gitattributes_lfs_paths_are_committed_as_pointers(repo: Path) -> None:
    lfs(repo, "install", "--local")
    lfs(repo, "track", "*.pkl")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "Track pickles with git-lfs")
    content = os.urandom(50_000)
    run_id = log_files({"model.pkl": content, "notes.txt": b"plain text\n"})

    blob = committed(repo, artifact_path(run_id, "model.pkl"))
    oid, size = parse_pointer(blob) or ("", 0)
    assert size == len(content)
    stored = repo / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    assert stored.read_bytes() == content
    assert committed(repo, artifact_path(run_id, "notes.txt")) == b"plain text\n"
    assert mltrack_status(repo) == ""
    assert artifact_path(run_id, "model.pkl") in lfs(repo, "ls-files", "--name-only")
    assert "Git LFS fsck OK" in lfs(repo, "fsck")


def test_lfs_attributes_without_git_lfs_set_up_commit_plain_files(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # As `git add` does when the clean filter is not configured: the file goes in as is.
    (repo / ".gitattributes").write_text("*.pkl filter=lfs diff=lfs merge=lfs -text\n")
    with caplog.at_level(logging.WARNING, logger="mltrack"):
        run_id = log_files({"model.pkl": b"\x80\x04 pickled"})
    assert committed(repo, artifact_path(run_id, "model.pkl")) == b"\x80\x04 pickled"
    assert "git lfs install" in caplog.text


def test_init_lfs_threshold_sends_large_artifacts_to_lfs(repo: Path, cli: object) -> None:
    result = invoke(cli, "init", "--lfs=20KB")  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    settings = yaml.safe_load((repo / ".mltrack" / "mltrack.yaml").read_text())
    assert settings["artifacts"] == {"lfs_threshold": 20 * 1024}
    assert committed(repo, ".mltrack/mltrack.yaml") == (repo / ".mltrack/mltrack.yaml").read_bytes()
    large, exact, small = os.urandom(30_000), os.urandom(20 * 1024), b"x" * 1000
    run_id = log_files({"large bin[1].dat": large, "exact.bin": exact, "small.bin": small})

    assert parse_pointer(committed(repo, artifact_path(run_id, "large bin[1].dat"))) is not None
    assert parse_pointer(committed(repo, artifact_path(run_id, "exact.bin"))) is not None
    assert committed(repo, artifact_path(run_id, "small.bin")) == small
    assert mltrack_status(repo) == ""
    assert "Git LFS fsck OK" in lfs(repo, "fsck")
    attributes = committed(repo, f".mltrack/experiments/0/runs/{run_id}/.gitattributes").decode()
    assert "filter=lfs" in attributes
    assert "small.bin" not in attributes


def test_init_lfs_defaults_to_10_mb(repo: Path, cli: object) -> None:
    result = invoke(cli, "init", "--lfs")  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    settings = yaml.safe_load((repo / ".mltrack" / "mltrack.yaml").read_text())
    assert settings["artifacts"]["lfs_threshold"] == DEFAULT_LFS_THRESHOLD == 10 * 1024 * 1024
    assert git(repo, "config", "--local", "--get", "filter.lfs.clean").strip()


def test_init_lfs_refuses_a_bad_size(repo: Path, cli: object) -> None:
    result = invoke(cli, "init", "--lfs=lots")  # type: ignore[arg-type]
    assert result.exit_code == 1
    assert "Invalid size 'lots'" in result.output
    assert not (repo / ".mltrack" / "mltrack.yaml").exists()


def _log_model(registered: str | None = None) -> str:
    rng = np.random.default_rng(0)
    model = LinearRegression().fit(rng.random((50, 3)), rng.random(50))
    with mltrack.start_run() as run:
        mltrack.sklearn.log_model(model, name="model", registered_model_name=registered)
    return run.info.run_id


def test_push_clone_and_lfs_pull_restore_models(
    repo: Path, tmp_path: Path, cli: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke(cli, "init", "--lfs=1").exit_code == 0  # type: ignore[arg-type]
    run_id = _log_model(registered="lfs-model")
    model_file = artifact_path(run_id, "model/model.pkl")
    assert parse_pointer(committed(repo, model_file)) is not None
    # A registered version loads from its tagged commit, contents from .git/lfs/objects.
    reset_mltrack()
    assert mltrack.pyfunc.load_model("models:/lfs-model/1").predict(np.ones((1, 3))).shape == (1,)

    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    pushed = subprocess.run(
        ["git", "push", "origin", "main", "--follow-tags"], cwd=repo, capture_output=True, text=True
    )
    assert pushed.returncode == 0, pushed.stderr
    oid = (parse_pointer(committed(repo, model_file)) or ("", 0))[0]
    assert (remote / "lfs" / "objects" / oid[:2] / oid[2:4] / oid).is_file()

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))  # no filters here: pointers only
    assert (clone / model_file).read_text().startswith(POINTER_START)
    monkeypatch.chdir(clone)
    reset_mltrack()
    for uri in (f"runs:/{run_id}/model", "models:/lfs-model/1"):
        with pytest.raises(LfsObjectMissing, match="run `git lfs pull`"):
            mltrack.pyfunc.load_model(uri)
    (tmp_path / "rows.csv").write_text("0,1,2\n1,1,1\n")
    failed = subprocess.run(
        [
            "mltrack",
            "models",
            "predict",
            "-m",
            "models:/lfs-model/1",
            "-i",
            str(tmp_path / "rows.csv"),
        ],
        cwd=clone,
        capture_output=True,
        text=True,
        env=python_env(),
    )
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1
    assert failed.stderr.startswith("Error: ") and "run `git lfs pull`" in failed.stderr

    lfs(clone, "install", "--local")
    lfs(clone, "pull")
    assert (clone / model_file).read_bytes() == (repo / model_file).read_bytes()
    assert git(clone, "status", "--porcelain") == ""
    reset_mltrack()
    loaded = mltrack.pyfunc.load_model(f"runs:/{run_id}/model")
    assert loaded.predict(np.ones((1, 3))).shape == (1,)


def test_large_artifact_without_lfs_warns_naming_the_fix(
    repo: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mltrack.store.repository.WARN_BYTES", 10_000)  # instead of 50 MB
    with caplog.at_level(logging.WARNING, logger="mltrack"):
        log_files({"weights.bin": os.urandom(20_000), "small.bin": b"x"})
    warnings = [r.getMessage() for r in caplog.records if "weights.bin" in r.getMessage()]
    assert len(warnings) == 1
    assert "`mltrack init --lfs`" in warnings[0]
    assert "small.bin" not in caplog.text


def test_no_warning_when_gitattributes_already_use_lfs(
    repo: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    lfs(repo, "install", "--local")
    lfs(repo, "track", "*.bin")
    monkeypatch.setattr("mltrack.store.repository.WARN_BYTES", 10_000)
    with caplog.at_level(logging.WARNING, logger="mltrack"):
        log_files({"weights.bin": os.urandom(20_000)})
    assert "mltrack init --lfs" not in caplog.text


@pytest.mark.parametrize(
    ("text", "size"),
    [("10MB", 10 * 1024**2), ("512k", 512 * 1024), ("1.5G", int(1.5 * 1024**3)), ("4096", 4096)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "-1", "10 parsecs", "0"])
def test_parse_size_refuses_nonsense(text: str) -> None:
    with pytest.raises(InvalidParameterValue):
        parse_size(text)


@given(st.binary(min_size=64, max_size=64).map(bytes.hex).map(lambda h: h[:64]), st.integers(0))
def test_pointer_round_trip(oid: str, size: int) -> None:
    assert parse_pointer(pointer(oid, size)) == (oid, size)
