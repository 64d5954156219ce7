"""mltrack beside the user's own git: commits in a loop, an editor held open, kill -9 mid-commit,
`git gc` racing the pack writer, repositories mltrack cannot use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import git, invoke, python_env, run_python
from mltrack.exceptions import GitError, NotAGitRepository
from mltrack.gitstore import GitStore, commits

# Writes a run's file and commits it through GitStore, as a run's end does, after "go".
COMMITTER = """
import sys
from pathlib import Path
from mltrack.gitstore import GitStore

worker, count = sys.argv[1], int(sys.argv[2])
store = GitStore.discover(".")
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    path = Path(f".mltrack/experiments/1/runs/w{worker}-{i}/run.yaml")
    path.parent.mkdir(parents=True)
    path.write_text(f"run_id: w{worker}-{i}")
    store.commit({path.as_posix(): store.root / path}, f"Run w{worker}-{i}")
print("done", flush=True)
"""

# One run in the Default experiment; MLTRACK_TEST_CRASH_AT kills it inside the run's commit.
ONE_RUN = """
import mltrack

with mltrack.start_run(run_name="crashing") as run:
    print(run.info.run_id, flush=True)
    mltrack.log_param("alpha", "0.5")
"""

CLI = "import sys; from mltrack.cli import main; sys.exit(main())"


def mltrack_command(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``mltrack <args>`` in a new process, as the user runs it."""
    return run_python(CLI, repo, *args, **env)


def run_paths(repo: Path) -> set[str]:
    """Paths of run.yaml files in HEAD's tree."""
    listing = git(repo, "ls-tree", "-r", "--name-only", "HEAD", ".mltrack/experiments")
    return {line for line in listing.splitlines() if line.endswith("run.yaml")}


def assert_index_clean_of_mltrack(repo: Path) -> None:
    assert git(repo, "status", "--porcelain", "--", ".mltrack") == ""
    assert not (repo / ".git" / "index.lock").exists()


def wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    """Until ``path`` exists (bounded: a minute), or fail with the process's stderr."""
    for _ in range(1200):
        if path.exists():
            return
        if proc.poll() is not None:
            raise AssertionError(proc.communicate()[1])
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


@pytest.mark.slow
def test_the_user_committing_in_a_loop_never_drops_a_run_from_the_branch(repo: Path) -> None:
    workers, count = 3, 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", COMMITTER, str(n), str(count)],
            cwd=repo,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=python_env(),
        )
        for n in range(workers)
    ]
    user_commits: list[str] = []
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        number = 0
        while any(proc.poll() is None for proc in procs):
            number += 1
            if number % 2:
                args = ["commit", "-q", "--allow-empty", "-m", f"user {number}"]
            else:
                with open(repo / "train.py", "a") as handle:
                    handle.write(f"# edit {number}\n")
                args = ["commit", "-q", "-a", "-m", f"user {number}"]
            # git's own collisions ("index.lock exists", a moved HEAD) may refuse a commit;
            # what must never happen is a commit that drops a run.
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False)
            if done.returncode == 0:
                user_commits.append(f"user {number}")
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
    parked = sorted(p.name for p in (repo / ".git" / "mltrack" / "pending").glob("*"))
    # Any mltrack command tries for half a second to put runs parked while git held
    # index.lock on the branch; `mltrack commit` waits as long as a commit would.
    mltrack_command(repo, "runs", "list")
    assert mltrack_command(repo, "commit").returncode == 0

    expected = {
        f".mltrack/experiments/1/runs/w{w}-{i}/run.yaml"
        for w in range(workers)
        for i in range(count)
    }
    assert expected - run_paths(repo) == set(), parked  # no run missing from HEAD's tree
    subjects = set(git(repo, "log", "--format=%s").splitlines())
    assert user_commits and set(user_commits) <= subjects  # the user's commits all landed
    assert_index_clean_of_mltrack(repo)
    assert git(repo, "fsck", "--no-progress", "--no-dangling").strip() == ""


def test_a_users_commit_with_its_editor_open_succeeds_and_the_run_joins_after(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    assert invoke(cli, "init").exit_code == 0
    monkeypatch.setattr(commits, "LOCK_WAIT_SECONDS", 0.2)  # instead of waiting 5 s
    editor = tmp_path / "editor.sh"
    editor.write_text(
        "#!/bin/sh\n"
        'touch "$EDITOR_READY"\n'
        'while [ ! -e "$EDITOR_GO" ]; do sleep 0.05; done\n'
        'echo "Tune the learning rate" > "$1"\n'
    )
    editor.chmod(0o755)
    ready, go = tmp_path / "ready", tmp_path / "go"
    (repo / "train.py").write_text("print('training harder')\n")
    before = git(repo, "rev-parse", "HEAD").strip()
    user = subprocess.Popen(
        ["git", "commit", "-a"],  # holds index.lock while the editor is open, as git does
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, GIT_EDITOR=str(editor), EDITOR_READY=str(ready), EDITOR_GO=str(go)),
    )
    try:
        wait_for(ready, user)
        import mltrack

        with mltrack.start_run(run_name="while-editing") as run:
            mltrack.log_metric("loss", 0.5)
        run_id = run.info.run_id
        assert git(repo, "rev-parse", "HEAD").strip() == before  # parked, not on the branch
        status = invoke(cli, "status", "--format", "json")
        assert [row["run"] for row in json.loads(status.stdout)] == [run_id]
    finally:
        go.touch()
        _, stderr = user.communicate(timeout=60)

    assert user.returncode == 0, stderr  # no "cannot lock ref 'HEAD'"
    assert git(repo, "log", "-1", "--format=%s").strip() == "Tune the learning rate"
    user_commit = git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "show", "HEAD:train.py") == "print('training harder')\n"

    listed = mltrack_command(repo, "status")  # the next command puts the run on the branch

    assert "No run commits waiting" in listed.stdout
    assert git(repo, "log", "-1", "--format=%(trailers:key=Mltrack-Run,valueonly)").strip() == (
        run_id
    )
    assert git(repo, "rev-parse", "HEAD~1").strip() == user_commit
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "for-each-ref", "refs/mltrack/") == ""


@pytest.mark.parametrize("point", ["pack-written", "index-locked", "index-written", "branch-moved"])
def test_kill_9_inside_a_run_commit_is_repaired_by_the_next_command(
    repo: Path, cli, point: str
) -> None:
    assert invoke(cli, "init").exit_code == 0
    before = git(repo, "rev-parse", "HEAD").strip()

    crashed = run_python(ONE_RUN, repo, check=False, MLTRACK_TEST_CRASH_AT=point)

    assert crashed.returncode == -9, crashed.stderr  # killed inside the commit
    run_id = crashed.stdout.split()[0]
    run_yaml = f".mltrack/experiments/0/runs/{run_id}/run.yaml"
    on_branch = point == "branch-moved"
    assert (git(repo, "rev-parse", "HEAD").strip() != before) == on_branch

    mltrack_command(repo, "runs", "list")  # any command

    assert not (repo / ".git" / "index.lock").exists()
    status = git(repo, "status", "--porcelain", "--", ".mltrack").splitlines()
    assert all(line.startswith("??") for line in status), status  # nothing staged or deleted
    assert (run_yaml in run_paths(repo)) == on_branch

    mltrack_command(repo, "commit")  # what `mltrack fsck` tells the user to run

    assert run_yaml in run_paths(repo)
    assert_index_clean_of_mltrack(repo)
    assert git(repo, "fsck", "--no-progress", "--no-dangling").strip() == ""
    assert git(repo, "commit", "-q", "--allow-empty", "-m", "user").strip() == ""
    assert run_yaml in run_paths(repo)  # the user's next commit keeps the run


@pytest.mark.slow
def test_git_gc_racing_the_pack_writer_neither_fails_a_commit_nor_loses_an_object(
    repo: Path,
) -> None:
    count = 250
    proc = subprocess.Popen(
        [sys.executable, "-c", COMMITTER, "0", str(count)],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    gc = ["-c", "gc.auto=1", "-c", "gc.autoPackLimit=1", "-c", "gc.autoDetach=false"]
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        while proc.poll() is None:  # a repack on every pass, as `git gc --auto` would start
            subprocess.run(["git", *gc, "gc", "--auto", "--quiet"], cwd=repo, check=False)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 0, stderr
    assert git(repo, "fsck", "--no-progress", "--no-dangling").strip() == ""
    assert int(git(repo, "rev-list", "--count", "HEAD")) == count + 1
    assert len(run_paths(repo)) == count
    assert list((repo / ".git" / "objects" / "pack").glob("*.keep")) == []


def test_a_bare_repository_gets_its_own_message(tmp_path: Path, cli) -> None:
    bare = tmp_path / "project.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))

    with pytest.raises(NotAGitRepository, match=r"bare git repository.*git clone"):
        GitStore.discover(bare)
    result = invoke(cli, "-C", str(bare), "runs", "list")
    assert result.exit_code == 1
    assert "bare git repository" in result.stderr and "git init" not in result.stderr


def test_a_sha256_repository_is_refused_in_one_line(tmp_path: Path, cli) -> None:
    path = tmp_path / "sha256"
    git(tmp_path, "init", "-q", "--object-format=sha256", str(path))

    with pytest.raises(GitError, match="SHA-256"):
        GitStore.discover(path)
    result = invoke(cli, "-C", str(path), "init")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "SHA-256" in result.stderr


def test_detached_refs_go_once_a_branch_holds_their_runs(repo: Path, cli) -> None:
    import mltrack

    git(repo, "checkout", "-q", "--detach")
    with mltrack.start_run(run_name="first"):
        pass
    git(repo, "pack-refs", "--all")  # `git gc` packs mltrack's refs too
    with mltrack.start_run(run_name="second"):
        pass
    tip = git(repo, "rev-parse", "HEAD").strip()
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/mltrack/detached/")
    assert refs.split() == [f"refs/mltrack/detached/{tip}"]  # the packed one went too

    git(repo, "checkout", "-q", "main")
    assert "Removed refs/" not in invoke(cli, "gc").stdout  # still the only way to the runs
    assert git(repo, "for-each-ref", "refs/mltrack/detached/")

    git(repo, "merge", "-q", "--ff-only", tip)
    result = invoke(cli, "gc")

    assert f"Removed refs/mltrack/detached/{tip}" in result.stdout
    assert git(repo, "for-each-ref", "refs/mltrack/detached/") == ""
    assert not (repo / ".git" / "logs" / "refs" / "mltrack").exists()  # no reflogs of our refs
