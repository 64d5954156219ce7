"""Hostile paths: trees that arrive with ``git fetch``, ``.git`` artifact paths, symlinked listings.

Nothing is ever written outside its root or into a ``.git``; every refusal is a
clean error, checked before the first byte is written.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

from conftest import git, invoke
from mltrack import safepath
from mltrack.store.maintenance import _PLAIN_PATH

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
NAME = "iris"


# ---------------------------------------------------------------------- the path rule


@pytest.mark.parametrize(
    "component",
    [
        ".git",
        ".GIT",
        ".Git",
        ".git.",
        ".git ",
        ".git. . ",
        "git~1",
        "GIT~1",
        ".git::$INDEX_ALLOCATION",
        ".g\u200cit",
        "\ufeff.git",
        ".gi\u200et",
    ],
)
def test_every_spelling_of_dotgit_is_refused(component: str) -> None:
    from mltrack.exceptions import InvalidParameterValue
    from mltrack.safepath import is_dotgit, tree_path
    from mltrack.store.validation import artifact_path

    assert is_dotgit(component)
    with pytest.raises(InvalidParameterValue):
        tree_path(f"model/{component}/config")
    with pytest.raises(InvalidParameterValue, match="git's own directory"):
        artifact_path(f"model/{component}/config")


@pytest.mark.parametrize("path", ["..", "a/../b", "a/./b", "./a", "a//b", "/a", "a\\..\\b", ""])
def test_tree_paths_are_plain_relative_paths(path: str) -> None:
    from mltrack.exceptions import InvalidParameterValue
    from mltrack.safepath import tree_path

    with pytest.raises(InvalidParameterValue):
        tree_path(path)


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4))
def test_accepted_tree_paths_stay_under_their_root(parts: list[str]) -> None:
    from mltrack.exceptions import InvalidParameterValue
    from mltrack.safepath import is_dotgit, tree_path

    path = "/".join(parts)
    try:
        tree_path(path)
    except InvalidParameterValue:
        return
    root = Path("/root/of/extraction")
    assert os.path.normpath(root / path).startswith(f"{root}/")
    assert not any(is_dotgit(part) for part in parts)


@pytest.mark.parametrize("name", ["...", ".gitignore", ".github", "git", "a.git", "git~2", "x y"])
def test_names_that_only_look_like_git_are_fine(name: str) -> None:
    from mltrack.safepath import tree_path
    from mltrack.store.validation import artifact_path

    assert tree_path(f"model/{name}") == f"model/{name}"
    assert artifact_path(f"model/{name}") == f"model/{name}"


# ---------------------------------------------------------------------- hostile trees (5)


def _mktree(repo: Path, entries: list[tuple[str, str, str, str]]) -> str:
    text = "".join(f"{mode} {kind} {sha}\t{name}\n" for mode, kind, sha, name in entries)
    out = subprocess.run(
        ["git", "mktree"], input=text, cwd=repo, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def _entries(repo: Path, tree: str) -> list[tuple[str, str, str, str]]:
    entries = []
    for line in git(repo, "ls-tree", tree).splitlines():
        meta, name = line.split("\t", 1)
        mode, kind, sha = meta.split()
        entries.append((mode, kind, sha, name))
    return entries


def _replace_subtree(repo: Path, tree: str, parts: list[str], new: str) -> str:
    entries = []
    for mode, kind, sha, name in _entries(repo, tree):
        if name == parts[0]:
            sha = new if len(parts) == 1 else _replace_subtree(repo, sha, parts[1:], new)
        entries.append((mode, kind, sha, name))
    return _mktree(repo, entries)


def _hostile_version(repo: Path, name: str, hostile: str) -> None:
    """Re-point version 1's tag (same message) at a commit whose model tree adds ``hostile``.

    ``hostile`` is a path of components, ending in the file ``pwned``; what
    ``git mktree`` writes arrives unchanged with a plain ``git fetch``.
    """
    from mltrack.registry import version_tag

    tag = version_tag(name, 1)
    message = git(repo, "for-each-ref", "--format=%(contents)", f"refs/tags/{tag}")
    commit = git(repo, "rev-parse", f"{tag}^{{commit}}").strip()
    model_dir = next(
        line.split(": ", 1)[1].strip('"')
        for line in message.splitlines()
        if line.startswith("artifact_path: ")
    )
    run_id = next(
        line.split(": ", 1)[1].strip('"')
        for line in message.splitlines()
        if line.startswith("run_id: ")
    )
    parts = [".mltrack", "experiments", "0", "runs", run_id, "artifacts", model_dir]
    model_tree = git(repo, "rev-parse", f"{commit}:{'/'.join(parts)}").strip()
    *directories, file_name = hostile.split("/")
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        input=b"pwned\n",
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout.decode()
    inner = _mktree(repo, [("100644", "blob", blob.strip(), file_name)])
    for directory in reversed(directories[1:]):
        inner = _mktree(repo, [("040000", "tree", inner, directory)])
    new_model = _mktree(
        repo, [*_entries(repo, model_tree), ("040000", "tree", inner, directories[0])]
    )
    root = _replace_subtree(
        repo, git(repo, "rev-parse", f"{commit}^{{tree}}").strip(), parts, new_model
    )
    hostile_commit = git(repo, "commit-tree", root, "-p", commit, "-m", "fetched").strip()
    git(repo, "tag", "-f", "-a", tag, "-m", message, hostile_commit)


@pytest.fixture
def registered(repo: Path) -> Iterator[Path]:
    import mltrack

    model = LogisticRegression(max_iter=200).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    with mltrack.start_run():
        info = mltrack.sklearn.log_model(model, name="model")
    mltrack.register_model(info.model_uri, NAME)
    yield repo


ESCAPE = "../../../../../pwned"  # from .git/mltrack/models/.extract-*/ to the test's tmp_path
HOSTILE = [ESCAPE, ".git/pwned", ".GIT./pwned", "git~1/pwned", ".g\u200cit/pwned", "./pwned"]


def _written_anywhere(repo: Path) -> list[Path]:
    return [p for p in repo.parent.rglob("pwned") if p.is_file()]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_load_model_refuses_a_hostile_tree_before_writing(registered: Path, hostile: str) -> None:
    import mltrack
    from mltrack.exceptions import IntegrityError

    _hostile_version(registered, NAME, hostile)
    with pytest.raises(IntegrityError, match="will not extract") as raised:
        mltrack.pyfunc.load_model(f"models:/{NAME}/1")
    assert "delete it" in str(raised.value)
    assert _written_anywhere(registered) == []
    assert not (registered / ".git" / "mltrack" / "models").exists()  # nothing was extracted


def test_models_serve_refuses_a_hostile_tree(registered: Path, cli: CliRunner) -> None:
    _hostile_version(registered, NAME, ESCAPE)
    result = invoke(cli, "models", "serve", "-m", f"models:/{NAME}/1", "-p", "0")
    assert result.exit_code == 1, result.output
    assert "will not extract" in result.output
    assert _written_anywhere(registered) == []


def local_app(repo: Path) -> TestClient:
    """The tracking server's app in this process, as a browser on localhost would reach it."""
    from mltrack.server.app import create_app
    from mltrack.server.config import ServerConfig

    return TestClient(create_app(ServerConfig(repo)), base_url="http://localhost")


def test_download_uri_refuses_a_hostile_tree(registered: Path) -> None:
    _hostile_version(registered, NAME, ESCAPE)
    with local_app(registered) as client:
        response = client.get(
            f"{API}/model-versions/get-download-uri", params={"name": NAME, "version": "1"}
        )
    assert response.status_code == 500
    body = response.json()
    assert body["error_code"] == "DATA_LOSS"
    assert "will not extract" in body["message"]
    assert str(registered) not in body["message"]
    assert _written_anywhere(registered) == []


def test_a_clean_version_still_extracts_and_loads(registered: Path) -> None:
    import mltrack

    model = mltrack.pyfunc.load_model(f"models:/{NAME}/1")
    assert list(model.predict([[0.0], [3.0]])) == [0, 1]


# ---------------------------------------------------------------------- .git artifact paths (6)


@pytest.mark.parametrize("path", [".git/config", "a/.git/hooks/post-checkout", "GIT~1/config"])
def test_dotgit_artifact_paths_are_refused_locally(repo: Path, path: str, tmp_path: Path) -> None:
    import mltrack
    from mltrack.exceptions import InvalidParameterValue

    source = tmp_path / "config"
    source.write_text("[core]\n")
    with mltrack.start_run() as run:
        with pytest.raises(InvalidParameterValue, match="git's own directory"):
            mltrack.log_text("[core]\n", path)
        with pytest.raises(InvalidParameterValue, match="git's own directory"):
            mltrack.log_artifact(str(source), path.rsplit("/", 1)[0])
    assert "config" not in git(repo, "ls-tree", "-r", "--name-only", "HEAD")
    assert mltrack.MltrackClient().list_artifacts(run.info.run_id) == []


def test_log_artifacts_of_a_directory_holding_a_git_repository_copies_nothing(
    repo: Path, tmp_path: Path
) -> None:
    import mltrack
    from mltrack.exceptions import InvalidParameterValue

    project = tmp_path / "project"
    project.mkdir()
    (project / "README").write_text("hi\n")
    git(project, "init", "-q")
    with (
        mltrack.start_run() as run,
        pytest.raises(InvalidParameterValue, match="git's own directory"),
    ):
        mltrack.log_artifacts(str(project), "snapshot")
    assert mltrack.MltrackClient().list_artifacts(run.info.run_id) == []


@pytest.mark.parametrize("path", [".git/config", ".GIT/config", "x/.git./config"])
def test_dotgit_uploads_are_refused_by_the_server(registered: Path, path: str) -> None:
    with local_app(registered) as client:
        run = client.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"]
        run_id = run["info"]["run_id"]
        response = client.put(f"{ARTIFACTS}/0/{run_id}/artifacts/{path}", content=b"[core]\n")
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        listing = client.get(f"{API}/artifacts/list", params={"run_id": run_id}).json()
    assert listing.get("files", []) == []


def test_fsck_reports_dotgit_paths_already_in_the_tree(registered: Path, cli: CliRunner) -> None:
    from mltrack.registry import version_tag

    _hostile_version(registered, NAME, ".git/pwned")
    hostile_commit = git(registered, "rev-parse", f"{version_tag(NAME, 1)}^{{commit}}").strip()
    git(registered, "update-ref", "refs/heads/main", hostile_commit)  # as a pull would
    result = invoke(cli, "fsck")
    assert result.exit_code == 1, result.output
    assert "/model/.git/pwned" in result.output
    assert "its own .git directory" in result.output


# ---------------------------------------------------------------------- symlinked listing (7)


def test_listing_does_not_follow_a_symlink_out_of_the_run(repo: Path, tmp_path: Path) -> None:
    import mltrack

    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "id_rsa").write_text("key\n")
    with mltrack.start_run() as run:
        mltrack.log_text("hi", "notes/a.txt")
    root = Path(mltrack.MltrackClient().get_artifact_file(run.info.run_id, "notes/a.txt")).parent
    (root / "link").symlink_to(secret, target_is_directory=True)
    from mltrack.exceptions import InvalidParameterValue

    with pytest.raises(InvalidParameterValue, match="outside"):
        mltrack.MltrackClient().list_artifacts(run.info.run_id, "notes/link")
    with local_app(repo) as client:
        experiment = run.info.experiment_id
        for response in (
            client.get(
                f"{API}/artifacts/list", params={"run_id": run.info.run_id, "path": "notes/link"}
            ),
            client.get(
                ARTIFACTS, params={"path": f"{experiment}/{run.info.run_id}/artifacts/notes/link"}
            ),
        ):
            assert response.status_code == 400, response.text
            assert "id_rsa" not in response.text
            assert str(tmp_path) not in response.text


@pytest.mark.mlflow
def test_the_stock_client_cannot_log_into_dotgit_through_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mlflow = pytest.importorskip("mlflow", reason="needs the `mlflow` test extra")
    from liveserver import make_repo
    from support import TrackingServer

    server_repo, home = make_repo(tmp_path / "served")
    server = TrackingServer(server_repo, home=home)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    try:
        client = mlflow.MlflowClient(tracking_uri=server.url)
        run_id = client.create_run("0").info.run_id
        with pytest.raises(Exception, match="git's own directory"):
            client.log_text(run_id, "[core]\n\thooksPath = /tmp\n", ".git/config")
        client.log_text(run_id, "fine", "notes/ok.txt")
        client.set_terminated(run_id)
    finally:
        server.stop()
    files = git(server_repo, "ls-tree", "-r", "--name-only", "HEAD")
    assert "notes/ok.txt" in files
    assert ".git/config" not in files


@pytest.mark.parametrize("recorded", ["../secret", "a/../../secret", ".git/config", "/etc/passwd"])
def test_file_hashes_from_a_tag_never_reach_outside_the_model(
    tmp_path: Path, recorded: str
) -> None:
    """A version tag anyone could push names the files to check; none may lead outside."""
    from mltrack.exceptions import InvalidParameterValue
    from mltrack.hashing import sha256_file
    from mltrack.models.uri import ResolvedModel

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("not a model file")
    resolved = ResolvedModel(model_dir, "a hostile tag", files={recorded: sha256_file(secret)})
    with pytest.raises(InvalidParameterValue, match="Refusing model file"):
        resolved.verify_files(model_dir)


@settings(max_examples=500)
@given(st.text(alphabet="ab./\\ gGiItT~:\x01\u200c", max_size=14))
def test_fsck_skips_only_paths_the_full_check_would_accept(path: str) -> None:
    # fsck checks 10,000s of committed paths: the plain ones in bulk, the rest one by one.
    if _PLAIN_PATH.fullmatch(path) and "git" not in path.lower():
        assert safepath.tree_path(path) == path
