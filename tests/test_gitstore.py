"""GitStore against real git: where commits go, what they contain, what the user keeps."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import git, invoke, python_env, reset_mltrack, run_python
from mltrack.exceptions import GitError
from mltrack.gitstore import GitStore, commits


@pytest.fixture
def store(repo: Path) -> Iterator[GitStore]:
    opened = GitStore.discover(repo)
    yield opened
    opened.close()


def fsck_clean(path: Path) -> None:
    """``git fsck --strict`` finds nothing (it prints problems on stdout or stderr)."""
    proc = git(path, "fsck", "--strict", "--no-progress", "--no-dangling")
    assert proc.strip() == ""


def head(path: Path, rev: str = "HEAD") -> str:
    return git(path, "rev-parse", rev).strip()


def files_at(path: Path, rev: str = "HEAD") -> set[str]:
    return set(git(path, "ls-tree", "-r", "--name-only", rev).splitlines())


def write_and_commit(store: GitStore, files: dict[str, str], message: str) -> str | None:
    """Write ``files`` into the working tree and commit them, as the store layer does."""
    for rel, text in files.items():
        (store.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (store.root / rel).write_text(text)
    return store.commit({rel: store.root / rel for rel in files}, message)


def run_yaml(root: Path, run_id: str) -> dict:
    [path] = root.glob(f".mltrack/experiments/*/runs/{run_id}/run.yaml")
    return yaml.safe_load(path.read_text())


def one_run(name: str = "r", **params: str) -> str:
    import mltrack

    with mltrack.start_run(run_name=name) as run:
        mltrack.log_params(params or {"alpha": "0.5"})
        for step in range(3):
            mltrack.log_metric("loss", 1.0 / (step + 1), step=step)
    return run.info.run_id


# ---------------------------------------------------------------------- where commits go


def test_first_run_in_repo_without_commits_is_the_root_commit_on_main(empty_repo: Path) -> None:
    run_id = one_run("first")

    commits = git(empty_repo, "rev-list", "--parents", "main").splitlines()
    assert len(commits) == 1 and len(commits[0].split()) == 1  # one commit, no parent
    assert git(empty_repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git(empty_repo, "log", "--format=%s").splitlines() == ["Run first: FINISHED in Default"]
    assert f".mltrack/experiments/0/runs/{run_id}/run.yaml" in files_at(empty_repo)
    assert git(empty_repo, "status", "--porcelain") == ""
    fsck_clean(empty_repo)
    assert run_yaml(empty_repo, run_id)["code"]["commit"] is None  # no user code yet


def test_first_run_before_the_first_commit_keeps_the_users_staged_files(empty_repo: Path) -> None:
    (empty_repo / "model.py").write_text("staged\n")
    (empty_repo / "notes.txt").write_text("untracked\n")
    git(empty_repo, "add", "model.py")
    before = git(empty_repo, "status", "--porcelain")

    one_run("first")

    assert git(empty_repo, "status", "--porcelain") == before == "A  model.py\n?? notes.txt\n"
    assert all(p.startswith(".mltrack/") for p in files_at(empty_repo))
    fsck_clean(empty_repo)


def test_gitstore_commit_on_an_unborn_branch(empty_repo: Path) -> None:
    store = GitStore.discover(empty_repo)
    try:
        assert store.head().commit is None and store.head().branch == "main"
        assert store.history.log() == []
        sha = write_and_commit(store, {".mltrack/a.txt": "a\n"}, "First\n")
        assert sha is not None
        assert head(empty_repo, "main") == sha
        assert store.history.read_blob(sha, ".mltrack/a.txt") == b"a\n"
    finally:
        store.close()
    assert git(empty_repo, "status", "--porcelain") == ""
    fsck_clean(empty_repo)


def test_detached_head_commits_on_head_and_leaves_the_branch_alone(repo: Path) -> None:
    code_commit = head(repo)
    git(repo, "checkout", "-q", "--detach")

    first = one_run("detached")
    second = one_run("again")

    assert head(repo, "main") == code_commit  # the branch never moved
    assert git(repo, "symbolic-ref", "-q", "HEAD", check=False) == ""  # still detached
    chain = git(repo, "rev-list", "HEAD").split()
    assert len(chain) == 3 and chain[-1] == code_commit
    assert git(repo, "status", "--porcelain") == ""
    fsck_clean(repo)
    for run_id in (first, second):
        code = run_yaml(repo, run_id)["code"]
        assert code["commit"] == code_commit  # the user's commit, not mltrack's
        assert code["branch"] is None
    import mltrack

    run = mltrack.get_run(first)
    assert run.info.run_id == first
    assert "mlflow.source.git.branch" not in run.data.tags
    assert run.data.tags["mlflow.source.git.commit"] == code_commit
    assert "mltrack" in git(repo, "reflog", "-1", "--format=%gs", "HEAD")


def test_runs_made_on_a_detached_head_stay_reachable_after_checkout(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    run_id = one_run("detached")
    tip = head(repo)
    git(repo, "checkout", "-q", "main")
    keep = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/mltrack/detached/")
    assert keep.split() == [f"refs/mltrack/detached/{tip}", tip]  # one ref, at the tip
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    assert run_id in git(repo, "ls-tree", "-r", "--name-only", tip)


def test_linked_worktree_commits_to_its_own_branch_and_index(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_run("on-main")  # the store exists on main before the worktree is added
    main_head = head(repo, "main")
    main_index = git(repo, "ls-files", "--stage")
    worktree = tmp_path / "feature-wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(worktree))
    reset_mltrack()
    monkeypatch.chdir(worktree)

    run_id = one_run("in-worktree")

    assert head(repo, "main") == main_head
    assert head(worktree, "feature") != main_head
    assert git(worktree, "rev-parse", "feature~1").strip() == main_head
    assert f".mltrack/experiments/0/runs/{run_id}/run.yaml" in files_at(worktree, "feature")
    assert git(worktree, "status", "--porcelain") == ""
    assert run_id in git(worktree, "ls-files", ".mltrack")
    # The main worktree: same index, same files, clean status.
    assert git(repo, "ls-files", "--stage") == main_index
    assert git(repo, "status", "--porcelain") == ""
    assert not list(repo.glob(f".mltrack/experiments/*/runs/{run_id}"))
    assert run_yaml(worktree, run_id)["code"]["branch"] == "feature"
    assert "mltrack" in git(worktree, "reflog", "-1", "--format=%gs", "HEAD")
    fsck_clean(repo)


# ---------------------------------------------------------------------- the user's own changes


def test_staged_unstaged_and_untracked_changes_survive_a_run(repo: Path) -> None:
    (repo / "README.md").write_text("readme\n")
    (repo / "data.csv").write_text("a,b\n1,2\n")
    git(repo, "add", "README.md", "data.csv")
    git(repo, "commit", "-q", "-m", "More files")
    base = head(repo)
    (repo / "train.py").write_text("print('staged edit')\n")
    git(repo, "add", "train.py")
    (repo / "train.py").write_text("print('unstaged edit on top')\n")  # MM
    (repo / "new.py").write_text("staged new file\n")
    git(repo, "add", "new.py")  # A
    (repo / "README.md").unlink()  # " D"
    git(repo, "rm", "-q", "--cached", "data.csv")  # "D " + "??"
    (repo / "scratch.txt").write_text("untracked\n")  # ??
    before = {
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "cached": git(repo, "diff", "--cached"),
        "worktree": git(repo, "diff"),
        "index": git(repo, "ls-files", "--stage"),
    }
    assert before["status"]  # the setup has user changes to keep

    run_id = one_run("with-changes")

    after = {
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "cached": git(repo, "diff", "--cached"),
        "worktree": git(repo, "diff"),
        "index": git(repo, "ls-files", "--stage", "--", ".", ":(exclude).mltrack"),
    }
    assert after == before
    assert ".mltrack" not in after["status"]
    # mltrack's commit holds only .mltrack/ paths; the user's files are as in the parent.
    assert git(repo, "rev-parse", "HEAD~1").strip() == base
    changed = git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").split()
    assert changed and all(path.startswith(".mltrack/") for path in changed)
    assert git(repo, "show", "HEAD:train.py") == "print('training')\n"
    assert git(repo, "show", "HEAD:data.csv") == "a,b\n1,2\n"
    assert git(repo, "cat-file", "-e", "HEAD:new.py", check=False) == ""
    assert "new.py" not in files_at(repo)
    assert run_yaml(repo, run_id)["code"]["dirty"] is True
    fsck_clean(repo)


def test_only_paths_under_mltrack_are_committed(store: GitStore, repo: Path) -> None:
    before = head(repo)
    for path in [
        "train.py",
        ".mltrackx/a",
        ".mltrack/../train.py",
        "/etc/passwd",
        ".mltrack/./a",
        ".mltrack//a",
        ".mltrack/.git/config",
    ]:
        with pytest.raises(GitError, match=r"only commits paths under \.mltrack/"):
            store.commit({path: b"x"}, "Nope\n")
    assert head(repo) == before
    fsck_clean(repo)


def test_large_trees_edited_commit_after_commit_stay_in_git_order(
    store: GitStore, repo: Path
) -> None:
    runs = ".mltrack/experiments/1/runs"
    expected = {f"{runs}/r{i:03d}/run.yaml": b"%d\n" % i for i in range(300)}
    assert store.commit(dict(expected), "many runs\n")
    # names whose git order differs from plain sorting once one of them is a directory
    edits: list[dict[str, bytes | None]] = [
        {f"{runs}/a": b"file a\n", f"{runs}/a.b": b"a.b\n", f"{runs}/a-b": b"a-b\n"},
        {f"{runs}/a": None, f"{runs}/a/run.yaml": b"now a directory\n"},  # file -> directory
        {f"{runs}/r150/run.yaml": b"changed\n", f"{runs}/r299/run.yaml": None},
        {f"{runs}/r000/run.yaml": None, f"{runs}/zz/run.yaml": b"last\n"},
        {f"{runs}/a/run.yaml": None, f"{runs}/a": b"a file again\n"},  # directory -> file
    ]
    for number, edit in enumerate(edits):
        assert store.commit(dict(edit), f"edit {number}\n")
        for path, content in edit.items():
            if content is None:
                expected.pop(path, None)
            else:
                expected[path] = content
        fsck_clean(repo)  # git checks the order of every tree's entries
        listed = git(repo, "ls-tree", "-r", "--name-only", "HEAD", "--", runs).splitlines()
        assert sorted(listed) == sorted(expected)
        for path in (f"{runs}/a", f"{runs}/a/run.yaml", f"{runs}/r150/run.yaml"):
            if path in expected:
                assert store.history.read_blob(head(repo), path) == expected[path]
    # the tree written by editing equals the one git builds from the same entries
    tree = git(repo, "rev-parse", f"HEAD:{runs}").strip()
    listing = git(repo, "ls-tree", f"HEAD:{runs}")
    rebuilt = subprocess.run(
        ["git", "mktree"], cwd=repo, input=listing, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert rebuilt == tree


def test_large_files_round_trip_stored_or_compressed_by_content(
    store: GitStore, repo: Path
) -> None:
    noise = os.urandom(2_000_000)  # like a PNG or Parquet file: does not compress
    text = b"epoch,loss\n" + b"".join(b"%d,0.5\n" % i for i in range(200_000))
    assert store.commit({".mltrack/a/noise.bin": noise, ".mltrack/a/log.csv": text}, "big\n")
    assert store.history.read_blob(head(repo), ".mltrack/a/noise.bin") == noise
    assert store.history.read_blob(head(repo), ".mltrack/a/log.csv") == text
    fsck_clean(repo)
    counts = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    stored_kib = int(counts["size"]) + int(counts["size-pack"])
    assert stored_kib < (len(noise) + len(text) // 2) // 1024  # the text was compressed
    cat = subprocess.run(
        ["git", "cat-file", "blob", "HEAD:.mltrack/a/noise.bin"], cwd=repo, capture_output=True
    )
    assert cat.stdout == noise


@pytest.mark.parametrize("size", [3_000, 10_240, 200_000])
def test_small_files_round_trip_stored_or_compressed_by_content(
    store: GitStore, repo: Path, size: int
) -> None:
    noise = os.urandom(size)  # a small image or a pickled array: stored after a 1 KB probe
    text = (b"step,value\n" + b"".join(b"%d,0.25\n" % i for i in range(size)))[:size]
    assert store.commit({".mltrack/a/noise.bin": noise, ".mltrack/a/log.csv": text}, "small\n")
    for name, data in (("noise.bin", noise), ("log.csv", text)):
        cat = subprocess.run(
            ["git", "cat-file", "blob", f"HEAD:.mltrack/a/{name}"], cwd=repo, capture_output=True
        )
        assert cat.stdout == data
    fsck_clean(repo)
    packs = sum(p.stat().st_size for p in (repo / ".git/objects/pack").glob("pack-*.pack"))
    assert packs < size + size // 2  # the text was compressed, the noise not inflated


# ---------------------------------------------------------------------- identity


def test_commits_without_a_git_identity_use_login_at_hostname(
    repo: Path, isolated_git: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_git / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    empty = isolated_git / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.delenv("EMAIL", raising=False)
    assert git(repo, "var", "GIT_COMMITTER_IDENT", check=False) == ""  # git alone would refuse

    one_run("anonymous")
    tagging = GitStore.discover(repo)
    tagging.create_tag("anonymous", head(repo), "tagged\n")
    tagging.close()

    login = getpass.getuser()
    expected = f"{login} <{login}@{socket.gethostname()}>"
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == f"{expected}|{expected}\n"
    tagger = git(repo, "for-each-ref", "--format=%(taggername) %(taggeremail)", "refs/tags")
    assert tagger == f"{expected}\n"
    fsck_clean(repo)


@pytest.mark.parametrize("configured", [True, False], ids=["over-config", "without-config"])
def test_identity_environment_variables_win(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    store: GitStore,
    isolated_git: Path,
    configured: bool,
) -> None:
    if not configured:
        (isolated_git / ".gitconfig").write_text("")
        monkeypatch.delenv("EMAIL", raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ada@example.org")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Carl Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "carl@example.org")

    store.commit({".mltrack/x": b"x\n"}, "Who\n")

    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "Ada Author <ada@example.org>|Carl Committer <carl@example.org>\n"
    )


def test_author_environment_alone_overrides_the_configured_author(
    repo: Path, monkeypatch: pytest.MonkeyPatch, store: GitStore
) -> None:
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ada@example.org")

    store.commit({".mltrack/x": b"x\n"}, "Who\n")

    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "Ada Author <ada@example.org>|Test User <test@example.com>\n"
    )


def test_role_specific_configuration_decides_each_role(
    repo: Path, monkeypatch: pytest.MonkeyPatch, store: GitStore
) -> None:
    git(repo, "config", "author.name", "Ada Author")
    git(repo, "config", "author.email", "ada@example.org")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Carl Committer")

    store.commit({".mltrack/x": b"x\n"}, "Who\n")

    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "Ada Author <ada@example.org>|Carl Committer <test@example.com>\n"
    )


# ---------------------------------------------------------------------- compare-and-swap


def test_two_stores_committing_alternately_keep_every_change(repo: Path) -> None:
    one, two = GitStore.discover(repo), GitStore.discover(repo)
    try:
        for i in range(5):
            write_and_commit(one, {f".mltrack/one/{i}": f"one {i}\n"}, f"one {i}\n")
            write_and_commit(two, {f".mltrack/two/{i}": f"two {i}\n"}, f"two {i}\n")
    finally:
        one.close()
        two.close()
    subjects = git(repo, "log", "--format=%s").splitlines()
    assert subjects[:-1] == [f"{who} {i}" for i in reversed(range(5)) for who in ("two", "one")]
    for i in range(5):
        assert git(repo, "show", f"HEAD:.mltrack/one/{i}") == f"one {i}\n"
        assert git(repo, "show", f"HEAD:.mltrack/two/{i}") == f"two {i}\n"
    assert git(repo, "status", "--porcelain") == ""
    fsck_clean(repo)


def test_stores_committing_at_once_never_drop_a_commit(repo: Path) -> None:
    stores = [GitStore.discover(repo) for _ in range(4)]
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def work(number: int, store: GitStore) -> None:
        try:
            start.wait()
            for i in range(10):
                files = {f".mltrack/s{number}/{i}": f"{number}.{i}\n"}
                write_and_commit(store, files, f"s{number} {i}\n")
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n, s)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()

    assert errors == []
    assert int(git(repo, "rev-list", "--count", "HEAD")) == 1 + 40
    present = {p for p in files_at(repo) if p.startswith(".mltrack/s")}
    assert present == {f".mltrack/s{n}/{i}" for n in range(4) for i in range(10)}
    assert git(repo, "show", "HEAD:.mltrack/s3/9") == "3.9\n"
    assert git(repo, "status", "--porcelain") == ""
    fsck_clean(repo)


def test_a_stale_compare_and_swap_is_refused(store: GitStore, repo: Path) -> None:
    base = head(repo)
    first = store.commit({".mltrack/a": b"a\n"}, "a\n")
    assert first is not None
    assert not store.refs.update("refs/heads/main", base, base, "stale")  # main is no longer base
    assert head(repo) == first
    assert not (repo / ".git" / "refs" / "heads" / "main.lock").exists()


def test_commits_build_on_commits_made_by_git_and_on_packed_refs(
    store: GitStore, repo: Path
) -> None:
    write_and_commit(store, {".mltrack/a": "a\n"}, "a\n")
    (repo / "code.py").write_text("x = 1\n")
    git(repo, "add", "code.py")
    git(repo, "commit", "-q", "-m", "User code")
    git(repo, "gc", "-q")  # packs refs and objects: reads go through cat-file and packed-refs
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    user_commit = head(repo)

    sha = write_and_commit(store, {".mltrack/b": "b\n"}, "b\n")

    assert sha is not None and git(repo, "rev-parse", f"{sha}~1").strip() == user_commit
    assert store.history.read_blob(sha, ".mltrack/a") == b"a\n"
    assert store.history.read_blob(sha, "code.py") == b"x = 1\n"
    assert git(repo, "status", "--porcelain") == ""
    fsck_clean(repo)


def test_an_unchanged_tree_makes_no_commit(store: GitStore, repo: Path) -> None:
    first = store.commit({".mltrack/a": b"a\n"}, "a\n")
    assert store.commit({".mltrack/a": b"a\n"}, "again\n") == first
    assert head(repo) == first


# ---------------------------------------------------------------------- reading


def test_read_any_path_at_any_revision(store: GitStore, repo: Path) -> None:
    code = head(repo)
    one = store.commit({".mltrack/d/x.yaml": b"v: 1\n", ".mltrack/d/sub/y": b"y\n"}, "one\n")
    two = store.commit({".mltrack/d/x.yaml": b"v: 2\n", ".mltrack/d/sub/y": None}, "two\n")
    assert one is not None and two is not None

    assert store.history.read_blob(one, ".mltrack/d/x.yaml") == b"v: 1\n"
    assert store.history.read_blob(two, ".mltrack/d/x.yaml") == b"v: 2\n"
    assert store.history.read_blob(two, ".mltrack/d/sub/y") is None
    assert store.history.read_blob(code, ".mltrack/d/x.yaml") is None
    assert store.history.read_blob(one, "train.py") == b"print('training')\n"
    assert store.history.read_blob(one, ".mltrack/d") is None  # a directory is not a blob
    assert [e.path for e in store.history.list_files(one, ".mltrack/d")] == [
        ".mltrack/d/sub/y",
        ".mltrack/d/x.yaml",
    ]
    assert [e.path for e in store.history.list_files(two, ".mltrack")] == [".mltrack/d/x.yaml"]
    assert store.history.list_files(code, ".mltrack") == []
    assert [e.path for e in store.history.list_dir(one, ".mltrack/d")] == [
        ".mltrack/d/sub",
        ".mltrack/d/x.yaml",
    ]
    assert store.rev_parse("HEAD~1") == one
    with pytest.raises(GitError, match="unknown revision"):
        store.rev_parse("no-such-branch")
    assert not (repo / ".mltrack" / "d").exists()  # committed from bytes, not from the tree


def test_history_carries_trailers(repo: Path) -> None:
    import mltrack
    from mltrack.store.repository import Repository

    code = head(repo)
    mltrack.set_experiment("trailers")
    run_id = one_run("t")
    experiment_id = mltrack.get_experiment_by_name("trailers").experiment_id

    store = Repository.open(repo).git
    try:
        [latest, created, *_] = store.history.log()
        assert latest.trailer("Mltrack-Run") == run_id
        assert latest.trailer("Mltrack-Experiment") == experiment_id
        assert latest.trailer("Mltrack-Code") == code
        assert latest.trailer("mltrack-status") == "FINISHED"  # keys are case-insensitive
        assert latest.subject == "Run t: FINISHED in trailers"
        assert latest.parents == (created.sha,)
        assert created.trailer("Mltrack-Run") is None
        assert created.trailer("Mltrack-Experiment") == experiment_id
        assert [c.sha for c in store.history.log("HEAD", ["train.py"])] == [code]
        assert [c.sha for c in store.history.log(max_count=1)] == [latest.sha]
        assert [c.sha for c in store.history.log(grep=f"Mltrack-Run: {run_id}")] == [latest.sha]
        assert latest.author_email == "test@example.com"
    finally:
        store.close()


def test_tags_are_annotated_listed_and_never_overwritten(store: GitStore, repo: Path) -> None:
    target = store.commit({".mltrack/models/m/model.yaml": b"name: m\n"}, "model\n")
    assert target is not None

    store.create_tag("mltrack/m/v1", target, "name: m\nversion: 1\n")
    store.create_tag("mltrack/m/v2", head(repo, "HEAD~1"), "name: m\nversion: 2\n")
    store.create_tag("other/x", target, "not ours\n")
    with pytest.raises(GitError, match="already exists"):
        store.create_tag("mltrack/m/v1", head(repo, "HEAD~1"), "again\n")

    tags = {t.name: t for t in store.tags.under("mltrack/")}
    assert set(tags) == {"mltrack/m/v1", "mltrack/m/v2"}
    assert tags["mltrack/m/v1"].target == target
    assert tags["mltrack/m/v1"].message == "name: m\nversion: 1\n"
    assert tags["mltrack/m/v1"].tagger_email == "test@example.com"
    assert git(repo, "cat-file", "-t", "mltrack/m/v1").strip() == "tag"
    assert git(repo, "rev-parse", "mltrack/m/v1^{commit}").strip() == target
    fsck_clean(repo)


def test_tags_read_one_by_one_and_all_at_once_agree_loose_and_packed(
    store: GitStore, repo: Path
) -> None:
    target = store.commit({".mltrack/models/m/model.yaml": b"name: m\n"}, "model\n")
    assert target is not None
    numbers = range(1, 41)  # more than are read one by one: listing reads them all at once
    for number in numbers:
        store.create_tag(f"mltrack/m/v{number}", target, f"name: m\nversion: {number}\n")
    store.create_tag("mltrack/mm/v1", target, "name: mm\n")
    expected = sorted(f"refs/tags/mltrack/m/v{number}" for number in numbers)

    def check() -> None:
        one_by_one, at_once = GitStore.discover(repo), GitStore.discover(repo)
        try:
            assert one_by_one.ref_names("refs/tags/mltrack/m/") == expected
            singles = [one_by_one.tags.read(f"mltrack/m/v{number}") for number in numbers]
            listed = sorted(at_once.tags.under("mltrack/m/"), key=lambda t: int(t.name[11:]))
            assert singles == listed  # the same fields either way
            assert listed[9].name == "mltrack/m/v10" and listed[9].target == target
            assert listed[9].message == "name: m\nversion: 10\n"
            assert listed[9].tagger_email == "test@example.com"
            assert listed[9].sha == git(repo, "rev-parse", "mltrack/m/v10").strip()
            assert one_by_one.tags.read("mltrack/m/v41") is None
        finally:
            one_by_one.close()
            at_once.close()

    check()
    git(repo, "gc", "-q")  # packs refs and objects: read through packed-refs and cat-file
    assert not (repo / ".git/refs/tags/mltrack/m/v1").exists()
    check()


@pytest.mark.parametrize(
    "name", ["bad name", "a..b", "v1.lock", ".hidden", "m/", "a~1", "a:b", "a?", "a[1]", "a@{0}"]
)
def test_ref_names_git_would_reject_are_refused(store: GitStore, repo: Path, name: str) -> None:
    with pytest.raises(GitError, match="not a valid git ref name"):
        store.create_tag(name, head(repo), "message\n")
    with pytest.raises(GitError, match="not a valid git ref name"):
        store.commit(
            {".mltrack/x": b"x\n"}, "x\n", ref=f"refs/heads/{name}", create_from=head(repo)
        )
    assert git(repo, "for-each-ref") == git(repo, "for-each-ref", "refs/heads/main")
    fsck_clean(repo)


def test_metrics_arrow_diffs_as_text(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", python_env()["PYTHONPATH"])  # git runs the driver
    run_id = one_run("diffable")

    driver = git(repo, "config", "--local", "diff.mltrack-arrow.textconv").strip()
    assert "-m mltrack textconv" in driver
    attribute = git(repo, "check-attr", "diff", "--", f".mltrack/x/{run_id}/metrics.arrow")
    assert attribute.strip().endswith("diff: mltrack-arrow")
    patch = git(repo, "log", "-p", "-1", "--", "*.arrow")
    assert "Binary files" not in patch
    assert "+key\tstep\ttimestamp\tvalue" in patch
    assert "+loss\t0\t" in patch and "\t1.0\n" in patch
    assert "+loss\t2\t" in patch and "\t0.3333333333333333\n" in patch
    assert git(repo, "status", "--porcelain") == ""


def test_commit_to_another_branch_leaves_head_index_and_files_alone(
    store: GitStore, repo: Path
) -> None:
    base = head(repo)
    index = git(repo, "ls-files", "--stage")

    sha = store.commit(
        {".mltrack/models/m/model.yaml": b"stage: Production\n"},
        "Promote m\n",
        ref="refs/heads/promote-m",
        create_from=base,
    )

    assert head(repo, "promote-m") == sha and head(repo) == base
    assert git(repo, "ls-files", "--stage") == index
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / ".mltrack").exists()
    with pytest.raises(GitError, match="already exists"):
        store.commit({".mltrack/x": b"x\n"}, "x\n", ref="refs/heads/promote-m", create_from=base)
    fsck_clean(repo)


def test_a_rewrite_that_keeps_size_and_mtime_is_still_committed(
    store: GitStore, repo: Path
) -> None:
    path = repo / ".mltrack" / "f"
    path.parent.mkdir()
    path.write_text("aaaa\n")
    past = os.stat(path).st_mtime_ns - 10**10
    os.utime(path, ns=(past, past))  # long untouched: its blob id may be remembered
    store.commit({".mltrack/f": path}, "a\n")

    with open(path, "r+") as handle:  # in place, same size, mtime set back (`touch -r`)
        handle.write("bbbb\n")
    os.utime(path, ns=(past, past))
    sha = store.commit({".mltrack/f": path}, "b\n")

    assert sha is not None and store.history.read_blob(sha, ".mltrack/f") == b"bbbb\n"
    assert git(repo, "status", "--porcelain") == ""


def test_a_long_held_index_lock_parks_the_run_until_the_next_command(
    repo: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.setattr(commits, "LOCK_WAIT_SECONDS", 0.2)  # instead of waiting 5 s
    before = head(repo)
    lock = repo / ".git" / "index.lock"
    lock.write_text("")  # as the user's `git add -p` holds it
    try:
        run_id = one_run("blocked")
        assert head(repo) == before  # not on the branch: the user's index could not follow
        status = invoke(cli, "status", "--format", "json")
        assert [row["run"] for row in json.loads(status.stdout)] == [run_id]
        assert git(repo, "for-each-ref", "--format=%(refname)", "refs/mltrack/pending/")
    finally:
        lock.unlink()

    # Any later command (a new process) puts it on the branch once the lock is free.
    result = run_python(
        "import sys; from mltrack.cli import main; sys.exit(main())", repo, "status"
    )

    assert "No run commits waiting" in result.stdout
    assert git(repo, "log", "-1", "--format=%(trailers:key=Mltrack-Run,valueonly)").strip() == (
        run_id
    )
    assert git(repo, "rev-parse", "HEAD~1").strip() == before
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "for-each-ref", "refs/mltrack/pending/") == ""
    assert not (repo / ".git" / "mltrack" / "pending").exists()


def test_a_stale_ref_lock_is_named_in_the_error(
    store: GitStore, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commits, "CAS_ATTEMPTS", 3)  # a killed writer's lock never goes away
    lock = repo / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("")

    with pytest.raises(GitError, match=r"main\.lock exists.*delete that file"):
        store.commit({".mltrack/x": b"x\n"}, "x\n")

    lock.unlink()
    assert store.commit({".mltrack/x": b"x\n"}, "x\n") == head(repo)


def test_any_command_in_a_fresh_clone_sets_up_the_arrow_diff_driver(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.setenv("PYTHONPATH", python_env()["PYTHONPATH"])  # git runs the driver
    one_run("cloned")
    clone = tmp_path / "clone"
    git(repo, "clone", "-q", str(repo), str(clone))
    assert "Binary files" in git(clone, "log", "-p", "-1", "--", "*.arrow")

    result = invoke(cli, "-C", str(clone), "runs", "list")

    assert result.exit_code == 0, result.stderr
    assert git(clone, "config", "--local", "diff.mltrack-arrow.textconv").strip()
    assert "+loss\t0\t" in git(clone, "log", "-p", "-1", "--", "*.arrow")
    assert git(clone, "status", "--porcelain") == ""


def test_an_author_other_than_the_committer_is_recorded_on_commits_and_tags(
    store: GitStore, repo: Path
) -> None:
    from mltrack.gitstore import Identity

    ada = Identity("Ada Lovelace", "ada@example.com")
    sha = store.commit({".mltrack/a": b"a\n"}, "a\n", author=ada)
    assert sha is not None
    store.create_tag("mltrack/m/v1", sha, "v1\n", author=ada)

    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>").strip() == (
        "Ada Lovelace <ada@example.com>|Test User <test@example.com>"
    )
    tagger = git(repo, "for-each-ref", "--format=%(taggername)", "refs/tags/mltrack/m/v1")
    assert tagger.strip() == "Ada Lovelace"


def test_a_configured_diff_driver_is_read_as_git_reads_it_and_left_alone(repo: Path) -> None:
    """git quotes the shell function it stores; reading it back must not look stale, or
    every command would rewrite .git/config (and fail when the disk is full)."""
    from mltrack.store.repository import Repository

    config = repo / ".git" / "config"
    Repository.open(repo).ensure_textconv_driver(recheck=True)
    before = (config.stat().st_ino, config.stat().st_mtime_ns, config.read_bytes())
    Repository.open(repo).ensure_textconv_driver(recheck=True)
    assert (config.stat().st_ino, config.stat().st_mtime_ns, config.read_bytes()) == before
