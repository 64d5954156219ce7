"""MLflow Projects: ``mltrack run``, ``mltrack runs rerun`` and ``mltrack.projects.run``.

Real git repositories and real child processes throughout: the tracking
repository is the ``repo`` fixture (the working directory); projects live in
repositories of their own beside it unless a test says otherwise.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mltrack
from conftest import git, invoke
from mltrack import projects
from mltrack.client import MltrackClient
from mltrack.entities import Run, ViewType
from mltrack.exceptions import ExecutionException, InvalidParameterValue
from mltrack.projects.spec import load_project, load_python_env

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "project"
SRC = Path(mltrack.__file__).resolve().parents[1]

ARGV_SCRIPT = """\
import json, os, sys
marker = os.environ.get("MLTRACK_TEST_MARKER")
if marker:
    with open(marker, "a") as handle:
        handle.write("ran\\n")
print("ARGV=" + json.dumps(sys.argv[1:]), flush=True)
"""

TYPED_MLPROJECT = """\
name: typed
entry_points:
  main:
    parameters:
      count: int
      rate: {type: float, default: 0.5}
      message: {type: string, default: hello}
      data: path
      source: {type: uri, default: "s3://bucket/key"}
    command: "python show.py --count {count} --rate {rate} --message {message} --data {data} --source {source}"
"""


# ---------------------------------------------------------------------- helpers


def make_repo(path: Path, files: dict[str, str], message: str = "Add project") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    write(path, files)
    return commit_all(path, message)


def write(path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))


def commit_all(path: Path, message: str) -> Path:
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return path


def head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD").strip()


def all_runs(tracking: Path) -> list[Run]:
    if not (tracking / ".mltrack" / "experiments").is_dir():
        return []
    return list(MltrackClient(str(tracking)).search_runs(None, run_view_type=ViewType.ALL))


def only_run(tracking: Path) -> Run:
    runs = all_runs(tracking)
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


def argv_of(output: str) -> list[str]:
    lines = [line for line in output.splitlines() if line.startswith("ARGV=")]
    assert len(lines) == 1, output
    return json.loads(lines[0].removeprefix("ARGV="))


def run_commits(tracking: Path) -> list[str]:
    return git(tracking, "log", "--format=%s", "--grep=Mltrack-Run:").splitlines()


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file the entry point appends to when it runs (inherited through the environment)."""
    path = tmp_path / "ran.txt"
    monkeypatch.setenv("MLTRACK_TEST_MARKER", str(path))
    return path


@pytest.fixture
def typed_project(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "typed",
        {"MLproject": TYPED_MLPROJECT, "show.py": ARGV_SCRIPT, "data/train.csv": "x\n1\n"},
    )


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    return env


# ---------------------------------------------------------------------- parameters


def test_parameters_are_typed_converted_quoted_and_recorded(
    repo: Path, typed_project: Path, cli, capfd: pytest.CaptureFixture[str]
) -> None:
    tricky = """it's "quoted" & $HOME `id` ; two  spaces"""
    result = invoke(
        cli,
        "run",
        str(typed_project),
        "-P",
        "count=007",
        "-P",
        "rate=1e-3",
        "-P",
        f"message={tricky}",
        "-P",
        "data=../typed/data/train.csv",
        "--env-manager",
        "local",
    )
    assert result.exit_code == 0, result.stderr
    data = "data/train.csv"  # inside the project: relative to it (the entry point runs there)
    expected = {
        "count": "7",
        "rate": "0.001",
        "message": tricky,
        "data": data,
        "source": "s3://bucket/key",
    }
    assert argv_of(capfd.readouterr().out) == [
        "--count",
        "7",
        "--rate",
        "0.001",
        "--message",
        tricky,
        "--data",
        data,
        "--source",
        "s3://bucket/key",
    ]
    run = only_run(repo)
    assert run.info.status == "FINISHED"
    assert run.data.params == expected
    assert json.loads(run.data.tags["mltrack.project.parameters"]) == list(expected)
    assert f"Run {run.info.run_id} FINISHED." in result.stdout


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            ["count=1", "data=../typed/data", "colour=red"],
            "Unknown parameter 'colour' for entry point 'main' of project 'typed'; declared "
            "parameters: count, rate, message, data, source.",
        ),
        (
            ["count=1.5", "data=../typed/data"],
            "Parameter 'count' of entry point 'main' must be an int",
        ),
        (
            ["count=2", "rate=fast", "data=../typed/data"],
            "Parameter 'rate' of entry point 'main' must be a float",
        ),
        (
            ["rate=0.1"],
            "Missing values for required parameters 'count', 'data' of entry point 'main': "
            "pass -P count=VALUE -P data=VALUE.",
        ),
        (["count=1", "data=no/such/file"], "is a path, but 'no/such/file' does not exist"),
        (["count=1", "data=../typed/data", "source=not a uri"], "must be a URI such as"),
        (["count=1", "data=https://example.com/x.csv"], "is a remote URI"),
    ],
)
def test_parameter_errors_are_one_line_and_run_nothing(
    repo: Path, typed_project: Path, marker: Path, cli, params: list[str], message: str
) -> None:
    before = git(repo, "log", "--format=%H")
    args = [a for p in params for a in ("-P", p)]
    result = invoke(cli, "run", str(typed_project), *args, "--env-manager", "local")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not marker.exists()
    assert all_runs(repo) == []
    assert git(repo, "log", "--format=%H") == before


def test_path_parameters_outside_the_project_become_absolute(
    repo: Path, typed_project: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "shared data.csv"
    outside.write_text("x\n")
    submitted = projects.run(
        str(typed_project),
        parameters={"count": 1, "data": outside.as_uri()},
        env_manager="local",
    )
    argv = argv_of(capfd.readouterr().out)
    assert argv[argv.index("--data") + 1] == str(outside)
    run = MltrackClient(str(repo)).get_run(submitted.run_id)
    assert run.data.params["data"] == str(outside)


def test_malformed_and_repeated_param_options_are_usage_errors(
    repo: Path, typed_project: Path, cli
) -> None:
    result = invoke(cli, "run", str(typed_project), "-P", "count")
    assert result.exit_code == 2
    assert "write -P NAME=VALUE" in result.stderr
    result = invoke(cli, "run", str(typed_project), "-P", "count=1", "-P", "count=2")
    assert result.exit_code == 2
    assert "given twice" in result.stderr


def test_unknown_entry_point_names_the_declared_ones(repo: Path, typed_project: Path, cli) -> None:
    result = invoke(cli, "run", str(typed_project), "-e", "train")
    assert result.exit_code == 1
    assert "Entry point 'train' not found" in result.stderr
    assert "declared entry points are main" in result.stderr


# ---------------------------------------------------------------------- the MLproject file


@pytest.mark.parametrize(
    ("mlproject", "message"),
    [
        (
            "entry_points:\n  main:\n    command: python x.py {alpha}\n",
            "uses {alpha}, which is not a declared parameter",
        ),
        (
            "entry_points:\n  main:\n    parameters: {a: decimal}\n    command: x {a}\n",
            "unknown type 'decimal'",
        ),
        ("entry_points:\n  main:\n    parameters: {a: int}\n", "needs a 'command'"),
        (
            "entry_points:\n  main:\n    parameters: {a: float}\n    command: x {a:.2f}\n",
            "placeholders take no format spec",
        ),
        ("entry_points:\n  main:\n    command: x {0}\n", "has placeholder {0}"),
        (
            "python_env: python_env.yaml\nconda_env: conda.yaml\n",
            "declares several environments (python_env, conda_env)",
        ),
        ("python_env: missing.yaml\n", "names 'missing.yaml'"),
        ("entry_points: [main]\n", "must be a mapping"),
        ("name: [unclosed\n", "is not valid YAML at line 2"),
    ],
)
def test_invalid_mlproject_files_are_named_with_the_problem(
    tmp_path: Path, mlproject: str, message: str
) -> None:
    (tmp_path / "MLproject").write_text(mlproject)
    (tmp_path / "conda.yaml").write_text("name: x\n")
    with pytest.raises(InvalidParameterValue) as error:
        load_project(tmp_path)
    assert str(tmp_path / "MLproject") in str(error.value)
    assert message in str(error.value)


def test_mlproject_name_is_case_insensitive_and_unknown_fields_warn(tmp_path: Path) -> None:
    (tmp_path / "mlproject").write_text(
        "name: demo\nentrypoints: {}\nentry_points:\n  main:\n    command: python a.py\n"
    )
    project = load_project(tmp_path)
    assert project.name == "demo"
    assert list(project.entry_points) == ["main"]
    assert project.warnings == (f"{tmp_path / 'mlproject'}: ignoring unknown field 'entrypoints'",)


def test_placeholders_may_use_any_parameter_key(tmp_path: Path) -> None:
    """MLflow keys may contain '-', '/' and spaces; str.format substitutes them."""
    (tmp_path / "MLproject").write_text(
        "entry_points:\n  main:\n    parameters: {learning-rate: float}\n"
        "    command: python t.py --lr {learning-rate} {{literal}}\n"
    )
    invocation = (
        load_project(tmp_path)
        .entry_point("main")
        .resolve({"learning-rate": "0.1"}, project_dir=tmp_path, cwd=tmp_path, project_name="p")
    )
    assert invocation.command == "python t.py --lr 0.1 {literal}"


def test_python_env_yaml_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "python_env.yaml"
    path.write_text("python: 3.10\ndependencies: [numpy]\n")
    with pytest.raises(InvalidParameterValue, match=r"YAML reads 3\.10 as the number 3\.1"):
        load_python_env(path)
    path.write_text(
        "python: '3.11'\nbuild_dependencies: [pip]\ndependencies: [numpy, '-r r.txt']\n"
    )
    env = load_python_env(path)
    assert (env.python, env.build_dependencies, env.dependencies) == (
        "3.11",
        ("pip",),
        ("numpy", "-r r.txt"),
    )
    path.write_text("python: '3.11'\npackages: [numpy]\n")
    with pytest.raises(InvalidParameterValue, match="unknown field"):
        load_python_env(path)


# ---------------------------------------------------------------------- sources


def test_directory_without_mlproject_runs_python_scripts(
    repo: Path, tmp_path: Path, cli, capfd: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain"
    write(plain, {"train.py": ARGV_SCRIPT, "helper.sh": "echo hi\n"})
    result = invoke(
        cli,
        "run",
        str(plain),
        "-e",
        "train.py",
        "-P",
        "lr=0.1",
        "-P",
        "name=a b",
        "--env-manager",
        "local",
    )
    assert result.exit_code == 0, result.stderr
    assert argv_of(capfd.readouterr().out) == ["--lr", "0.1", "--name", "a b"]
    run = only_run(repo)
    assert run.data.params == {"lr": "0.1", "name": "a b"}
    assert run.data.tags["mlflow.source.name"] == str(plain)
    assert run.data.tags["mlflow.project.entryPoint"] == "train.py"
    assert run.data.tags["mltrack.project.name"] == "plain"
    assert "mlflow.source.git.commit" not in run.data.tags
    assert run.code.commit is None

    result = invoke(cli, "run", str(plain))
    assert result.exit_code == 1
    assert "has no MLproject file, so its entry points are its scripts (helper.sh, train.py)" in (
        result.stderr
    )
    result = invoke(cli, "run", str(plain), "-e", "missing.py")
    assert "Entry point 'missing.py': no such script" in result.stderr


def test_version_runs_an_older_commit_from_a_temporary_worktree(
    repo: Path, tmp_path: Path, cli, capfd: pytest.CaptureFixture[str]
) -> None:
    project = make_repo(
        tmp_path / "versions",
        {
            "MLproject": "name: versions\nentry_points:\n  main:\n    command: python train.py\n",
            "train.py": "print('I am version one')\n",
        },
    )
    first = head(project)
    git(project, "branch", "stable")
    write(project, {"train.py": "print('I am version two')\n"})
    commit_all(project, "Version two")
    write(project, {"train.py": "print('uncommitted version three')\n"})
    status_before = git(project, "status", "--porcelain")

    result = invoke(cli, "run", str(project), "--version", first[:10], "--env-manager", "local")
    assert result.exit_code == 0, result.stderr
    out = capfd.readouterr().out
    assert "I am version one" in out
    assert "version two" not in out and "three" not in out
    run = only_run(repo)
    assert run.data.tags["mlflow.source.git.commit"] == first
    assert run.data.tags["mltrack.project.version"] == first[:10]
    assert run.data.tags["mltrack.project.dirty"] == "false"
    assert "mlflow.source.git.branch" not in run.data.tags
    assert run.code.commit == first and run.code.dirty is False and run.code.entry_point == "main"
    # the user's working tree, index and worktree list are as they were
    assert git(project, "status", "--porcelain") == status_before
    assert (project / "train.py").read_text() == "print('uncommitted version three')\n"
    assert len(git(project, "worktree", "list").splitlines()) == 1

    result = invoke(cli, "run", str(project), "-v", "stable", "--env-manager", "local")
    assert result.exit_code == 0, result.stderr
    assert "I am version one" in capfd.readouterr().out
    newest = max(all_runs(repo), key=lambda r: r.info.start_time)
    assert newest.data.tags["mlflow.source.git.branch"] == "stable"
    assert newest.code.branch == "stable"


def test_temporary_worktree_is_removed_when_the_run_fails(repo: Path, tmp_path: Path, cli) -> None:
    project = make_repo(
        tmp_path / "failing",
        {
            "MLproject": "entry_points:\n  main:\n    command: python -c 'raise SystemExit(4)'\n",
        },
    )
    result = invoke(cli, "run", str(project), "-v", "HEAD", "--env-manager", "local")
    assert result.exit_code == 1
    assert len(git(project, "worktree", "list").splitlines()) == 1
    assert not list((project / ".git" / "worktrees").glob("*"))


def test_dirty_tree_is_recorded_with_its_diff_or_refused(
    repo: Path, tmp_path: Path, marker: Path, cli
) -> None:
    project = make_repo(
        tmp_path / "dirty",
        {
            "MLproject": "name: dirty\nentry_points:\n  main:\n    command: python train.py\n",
            "train.py": ARGV_SCRIPT,
            "notes.txt": "first line\n",
        },
    )
    commit = head(project)
    (project / "notes.txt").write_text("first line\nan uncommitted line\n")

    result = invoke(cli, "run", str(project), "--require-clean", "--env-manager", "local")
    assert result.exit_code == 1
    assert "has uncommitted changes to tracked files and --require-clean was given" in result.stderr
    assert not marker.exists()
    assert all_runs(repo) == []

    result = invoke(cli, "run", str(project), "--env-manager", "local")
    assert result.exit_code == 0, result.stderr
    run = only_run(repo)
    assert run.data.tags["mltrack.project.dirty"] == "true"
    assert run.code.commit == commit and run.code.dirty is True
    diff = MltrackClient(str(repo)).download_artifacts(run.info.run_id, "code/uncommitted.diff")
    text = Path(diff).read_text()
    assert "+an uncommitted line" in text
    assert text.startswith("diff --git a/notes.txt b/notes.txt")
    # the recorded diff reproduces the tree: it applies to the recorded commit
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(project), str(check))
    git(check, "checkout", "-q", commit)
    git(check, "apply", diff)
    assert (check / "notes.txt").read_text() == (project / "notes.txt").read_text()


def test_project_inside_the_tracking_repository(
    repo: Path, cli, capfd: pytest.CaptureFixture[str]
) -> None:
    """mltrack's own commits (under .mltrack/) neither dirty the tree nor change the code commit."""
    write(
        repo,
        {
            "proj/MLproject": "entry_points:\n  main:\n    command: python show.py\n",
            "proj/show.py": ARGV_SCRIPT,
        },
    )
    commit_all(repo, "Add a project")
    code = head(repo)
    for _ in range(2):
        result = invoke(cli, "run", "proj", "--env-manager", "local")
        assert result.exit_code == 0, result.stderr
    runs = all_runs(repo)
    assert len(runs) == 2
    for run in runs:
        assert run.code.commit == code
        assert run.code.dirty is False
        assert run.data.tags["mlflow.source.name"] == f"{repo.as_uri()}#proj"
        assert run.data.tags["mltrack.project.name"] == "proj"
    assert git(repo, "status", "--porcelain") == ""


def test_bare_repository_with_subdirectory(
    repo: Path, tmp_path: Path, cli, capfd: pytest.CaptureFixture[str]
) -> None:
    project = make_repo(
        tmp_path / "mono",
        {
            "sub/MLproject": "name: sub\nentry_points:\n  main:\n    command: python show.py\n",
            "sub/show.py": ARGV_SCRIPT,
        },
    )
    bare = tmp_path / "mono.git"
    git(tmp_path, "clone", "-q", "--bare", str(project), str(bare))
    result = invoke(cli, "run", f"{bare.as_uri()}#sub", "--env-manager", "local")
    assert result.exit_code == 0, result.stderr
    assert argv_of(capfd.readouterr().out) == []
    run = only_run(repo)
    assert run.data.tags["mlflow.source.git.commit"] == head(project)
    assert run.data.tags["mlflow.source.name"] == f"{bare.as_uri()}#sub"
    assert run.data.tags["mlflow.source.git.repoURL"] == str(project)
    assert not list((bare / "worktrees").glob("*"))


def test_remote_and_missing_sources_are_refused(repo: Path, cli) -> None:
    result = invoke(cli, "run", "git@github.com:someone/project.git")
    assert result.exit_code == 1
    assert "is a remote repository" in result.stderr and "git clone" in result.stderr
    result = invoke(cli, "run", "no-such-dir")
    assert result.exit_code == 1
    assert "does not exist" in result.stderr


# ---------------------------------------------------------------------- the run


def test_entry_point_start_run_joins_the_project_run(repo: Path, tmp_path: Path, cli) -> None:
    script = """\
        import os
        import mltrack
        with mltrack.start_run() as run:
            assert run.info.run_id == os.environ["MLTRACK_RUN_ID"] == os.environ["MLFLOW_RUN_ID"]
            mltrack.log_param("epochs", 3)
            for step in range(3):
                mltrack.log_metric("loss", 1.0 / (step + 1), step=step)
            mltrack.set_tag("written_by", "the entry point")
    """
    project = make_repo(
        tmp_path / "joins",
        {
            "MLproject": "name: joins\nentry_points:\n  main:\n    command: python train.py\n",
            "train.py": script,
        },
    )
    result = invoke(
        cli,
        "run",
        str(project),
        "--experiment-name",
        "joined",
        "--run-name",
        "r1",
        "--env-manager",
        "local",
    )
    assert result.exit_code == 0, result.stderr
    run = only_run(repo)
    assert run.info.run_name == "r1"
    assert run.info.status == "FINISHED"
    assert run.data.params == {"epochs": "3"}
    assert run.data.metrics == {"loss": pytest.approx(1 / 3)}
    assert run.data.tags["written_by"] == "the entry point"
    assert run.data.tags["mlflow.source.type"] == "PROJECT"
    assert run.data.tags["mlflow.project.env"] == "local"
    client = MltrackClient(str(repo))
    assert client.get_experiment(run.info.experiment_id).name == "joined"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == pytest.approx(
        [1.0, 0.5, 1 / 3]
    )
    assert run_commits(repo) == ["Run r1: FINISHED in joined"]
    assert git(repo, "status", "--porcelain") == ""


def test_exit_status_becomes_run_status(repo: Path, tmp_path: Path, cli) -> None:
    project = make_repo(
        tmp_path / "exits",
        {
            "MLproject": "entry_points:\n  main:\n    parameters: {code: int}\n"
            "    command: python exit.py {code}\n",
            "exit.py": """\
                import sys
                import mltrack
                with mltrack.start_run():
                    mltrack.log_metric("reached", 1)
                sys.exit(int(sys.argv[1]))
            """,
        },
    )
    result = invoke(cli, "run", str(project), "-P", "code=3", "--env-manager", "local")
    assert result.exit_code == 1
    run = only_run(repo)
    assert run.info.status == "FAILED"
    assert run.data.metrics == {"reached": 1.0}
    assert result.stderr.splitlines()[-1] == (
        f"Error: Run {run.info.run_id} failed: `python exit.py 3` exited with status 3; "
        "recorded as FAILED."
    )
    assert run_commits(repo)[0].endswith("FAILED in Default")

    with pytest.raises(ExecutionException) as error:
        projects.run(str(project), parameters={"code": 5}, env_manager="local")
    assert error.value.run_id is not None
    assert MltrackClient(str(repo)).get_run(error.value.run_id).info.status == "FAILED"


def test_death_by_signal_is_killed(repo: Path, tmp_path: Path) -> None:
    project = make_repo(
        tmp_path / "signal",
        {
            "MLproject": "entry_points:\n  main:\n    command: python -c 'import os; os.kill(os.getpid(), 15)'\n"
        },
    )
    with pytest.raises(ExecutionException, match=r"killed by signal 15 \(SIGTERM\)"):
        projects.run(str(project), env_manager="local")
    assert only_run(repo).info.status == "KILLED"


@pytest.mark.parametrize("who", ["parent", "process group"])
def test_ctrl_c_marks_the_run_killed(repo: Path, tmp_path: Path, who: str) -> None:
    project = make_repo(
        tmp_path / "sleeper",
        {
            "MLproject": "entry_points:\n  main:\n    command: python sleep.py\n",
            "sleep.py": """\
                import time
                import mltrack
                with mltrack.start_run():
                    mltrack.log_metric("started", 1)
                    print("ready", flush=True)
                    time.sleep(60)
            """,
        },
    )
    parent = subprocess.Popen(
        [sys.executable, "-m", "mltrack", "run", str(project), "--env-manager", "local"],
        cwd=repo,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "ready"
        if who == "parent":
            parent.send_signal(signal.SIGINT)
        else:
            os.killpg(parent.pid, signal.SIGINT)
        _, stderr = parent.communicate(timeout=60)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait()
    assert parent.returncode == 130
    run = only_run(repo)
    assert run.info.status == "KILLED"
    assert run.data.metrics == {"started": 1.0}
    assert f"Run {run.info.run_id} was interrupted: recorded as KILLED." in stderr
    assert run_commits(repo)[0].startswith(f"Run {run.info.run_name}: KILLED")


def test_mltrack_run_as_a_subprocess(repo: Path, tmp_path: Path) -> None:
    project = make_repo(
        tmp_path / "sub",
        {
            "MLproject": "name: sub\nentry_points:\n  main:\n    parameters: {who: string}\n"
            "    command: python hello.py {who}\n",
            "hello.py": "import sys\nprint('hello from the project,', sys.argv[1])\n",
        },
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mltrack",
            "run",
            project.as_uri(),
            "-P",
            "who=the subprocess",
            "--env-manager",
            "local",
        ],
        cwd=repo,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    run = only_run(repo)
    assert proc.stdout.splitlines() == [
        "hello from the project, the subprocess",
        f"Run {run.info.run_id} FINISHED.",
    ]
    assert "mltrack: Running `python hello.py 'the subprocess'`" in proc.stderr
    assert run.data.tags["mlflow.source.name"] == project.as_uri()

    proc = subprocess.run(
        [sys.executable, "-m", "mltrack", "run", str(project), "-P", "whom=x"],
        cwd=repo,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        "Error: Unknown parameter 'whom' for entry point 'main' of project 'sub'; declared "
        "parameters: who.\n"
    )


def test_repo_option_chooses_the_tracking_repository(
    repo: Path,
    tmp_path: Path,
    cli,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    project = make_repo(
        tmp_path / "where",
        {
            "MLproject": "entry_points:\n  main:\n    command: python check.py\n",
            "check.py": """\
                import os
                assert os.environ["MLTRACK_TRACKING_URI"] == os.environ["MLFLOW_TRACKING_URI"]
                assert os.environ["MLTRACK_EXPERIMENT_ID"] == os.environ["MLFLOW_EXPERIMENT_ID"]
                assert os.environ["MLTRACK_SOURCE_TYPE"] == "PROJECT"
                print("TRACKING=" + os.environ["MLTRACK_TRACKING_URI"], flush=True)
            """,
        },
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = invoke(cli, "run", str(project), "--env-manager", "local")
    assert result.exit_code == 1
    assert "is not inside a git repository" in result.stderr
    result = invoke(cli, "-C", str(repo), "run", str(project), "--env-manager", "local")
    assert result.exit_code == 0, result.stderr
    assert f"TRACKING={repo}" in capfd.readouterr().out.splitlines()
    assert only_run(repo).info.status == "FINISHED"
    assert all_runs(project) == []


# ---------------------------------------------------------------------- the Python API


def test_python_api_returns_a_submitted_run_and_nests_under_an_active_run(
    repo: Path, tmp_path: Path
) -> None:
    project = make_repo(
        tmp_path / "api",
        {"MLproject": "entry_points:\n  main:\n    command: python -c 'print(1)'\n"},
    )
    mltrack.set_experiment("api")
    with mltrack.start_run() as parent:
        submitted = projects.run(str(project), env_manager="local")
        assert mltrack.active_run() is not None
    assert submitted.get_status() == "FINISHED"
    assert submitted.wait() is True
    assert submitted.exit_code == 0
    child = MltrackClient(str(repo)).get_run(submitted.run_id)
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert mltrack.projects.run is projects.run
    assert mltrack.run is projects.run

    with pytest.raises(InvalidParameterValue, match="synchronously only"):
        projects.run(str(project), synchronous=False)
    with pytest.raises(InvalidParameterValue, match="Backend 'databricks' is not supported"):
        projects.run(str(project), backend="databricks")
    with pytest.raises(InvalidParameterValue, match="Unknown environment manager 'conda'"):
        projects.run(str(project), env_manager="conda")
    with pytest.raises(InvalidParameterValue, match="not both"):
        projects.run(str(project), experiment_name="a", experiment_id="1")
    with pytest.raises(InvalidParameterValue, match="run name"):
        projects.run(str(project), run_name="x" * 300)
    assert len(all_runs(repo)) == 2  # the parent and the project run: the refusals recorded nothing


# ---------------------------------------------------------------------- rerun


def test_rerun_uses_the_recorded_commit_and_parameters(
    repo: Path, tmp_path: Path, cli, capfd: pytest.CaptureFixture[str]
) -> None:
    project = make_repo(
        tmp_path / "rerun",
        {
            "MLproject": "name: rerun\nentry_points:\n  main:\n    parameters:\n"
            "      alpha: {type: float, default: 0.1}\n"
            "      data: {type: path, default: data.csv}\n"
            "    command: python train.py --alpha {alpha} --data {data}\n",
            "data.csv": "x\n1\n",
            "train.py": """\
                import sys
                import mltrack
                print("code one", sys.argv[1:], open(sys.argv[4]).read().split())
                with mltrack.start_run():
                    mltrack.log_param("script_only", "x")
            """,
        },
    )
    first_commit = head(project)
    write(project, {"train.py": "print('code two')\n"})
    commit_all(project, "Change the code")
    # the original run is itself of the older commit (a temporary worktree)
    result = invoke(
        cli,
        "run",
        str(project),
        "-v",
        first_commit,
        "-P",
        "alpha=0.7",
        "--experiment-name",
        "sweep",
        "--env-manager",
        "local",
    )
    assert result.exit_code == 0, result.stderr
    original = only_run(repo)
    assert original.data.params["data"] == "data.csv"
    assert "code one ['--alpha', '0.7', '--data', 'data.csv'] ['x', '1']" in capfd.readouterr().out

    result = invoke(cli, "runs", "rerun", original.info.run_id[:8])
    assert result.exit_code == 0, result.stderr
    assert "code one ['--alpha', '0.7', '--data', 'data.csv'] ['x', '1']" in capfd.readouterr().out
    rerun = next(r for r in all_runs(repo) if r.info.run_id != original.info.run_id)
    assert (
        f"Run {rerun.info.run_id} FINISHED (a rerun of {original.info.run_id[:8]})."
        in result.stdout
    )
    assert rerun.data.tags["mltrack.project.rerun_of"] == original.info.run_id
    assert rerun.data.tags["mlflow.source.git.commit"] == first_commit
    assert rerun.data.params == {"alpha": "0.7", "data": "data.csv", "script_only": "x"}
    assert rerun.info.experiment_id == original.info.experiment_id
    assert rerun.data.tags["mlflow.project.env"] == "local"


def test_rerun_refuses_runs_it_cannot_reproduce(repo: Path, tmp_path: Path, cli) -> None:
    mltrack.set_experiment("plain")
    with mltrack.start_run() as plain:
        pass
    result = invoke(cli, "runs", "rerun", plain.info.run_id)
    assert result.exit_code == 1
    assert "is not a project run (mlflow.source.type=LOCAL)" in result.stderr

    directory = tmp_path / "nogit"
    write(directory, {"a.py": "print(1)\n"})
    assert invoke(cli, "run", str(directory), "-e", "a.py").exit_code == 0
    uncommitted = next(r for r in all_runs(repo) if r.info.run_id != plain.info.run_id)
    result = invoke(cli, "runs", "rerun", uncommitted.info.run_id)
    assert result.exit_code == 1
    assert "was not made from a git commit" in result.stderr


# ---------------------------------------------------------------------- environments


def test_python_version_that_no_interpreter_provides_is_a_clear_error(
    repo: Path, tmp_path: Path, marker: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACK_ENV_ROOT", str(tmp_path / "envs"))
    project = make_repo(
        tmp_path / "old-python",
        {
            "MLproject": "name: old\npython_env: python_env.yaml\n"
            "entry_points:\n  main:\n    command: python show.py\n",
            "python_env.yaml": "python: '3.99'\ndependencies: [numpy]\n",
            "show.py": ARGV_SCRIPT,
        },
    )
    result = invoke(cli, "run", str(project))
    assert result.exit_code == 1
    assert "python_env.yaml asks for Python 3.99, but no python3.99 interpreter works on PATH" in (
        result.stderr
    )
    assert "--env-manager local" in result.stderr
    assert not marker.exists() and all_runs(repo) == []
    # the same project runs with the current interpreter when asked to
    assert invoke(cli, "run", str(project), "--env-manager", "local").exit_code == 0
    assert marker.exists()


def test_interpreters_are_found_on_path_and_probed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mltrack.projects.environments import find_interpreter

    bin_dir = tmp_path / "bin dir"
    bin_dir.mkdir()
    working = bin_dir / "python3.98"
    working.write_text(f"#!/bin/sh\necho 3.98.1\necho '{working}'\n")
    broken = bin_dir / "python3.97"  # like a pyenv shim for a version that is not selected
    broken.write_text("#!/bin/sh\necho 'pyenv: python3.97: command not found' >&2\nexit 127\n")
    for script in (working, broken):
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    found = find_interpreter("3.98", "python_env.yaml")
    assert (found.executable, found.version) == (str(working), "3.98.1")
    with pytest.raises(ExecutionException, match=r"asks for Python 3\.97\.2, but no python3\.97"):
        find_interpreter("3.97.2", "python_env.yaml")
    current = find_interpreter(".".join(map(str, sys.version_info[:2])), "python_env.yaml")
    assert current.executable == sys.executable


def test_conda_projects_need_the_local_env_manager(repo: Path, tmp_path: Path, cli) -> None:
    project = make_repo(
        tmp_path / "conda",
        {
            "MLproject": "conda_env: conda.yaml\nentry_points:\n  main:\n    command: python -c 'print(1)'\n",
            "conda.yaml": "name: x\n",
        },
    )
    result = invoke(cli, "run", str(project), "--env-manager", "virtualenv")
    assert result.exit_code == 1
    assert "declares conda_env, which mltrack cannot build" in result.stderr
    assert invoke(cli, "run", str(project)).exit_code == 0
    assert only_run(repo).data.tags["mlflow.project.env"] == "local"


@pytest.mark.slow
def test_a_failed_environment_build_records_nothing_and_publishes_nothing(
    repo: Path, tmp_path: Path, marker: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    envs = tmp_path / "envs"
    monkeypatch.setenv("MLTRACK_ENV_ROOT", str(envs))
    project = make_repo(
        tmp_path / "broken-env",
        {
            "MLproject": "entry_points:\n  main:\n    command: python show.py\n",
            "requirements.txt": "./no-such-local-package\n",
            "show.py": ARGV_SCRIPT,
        },
    )
    result = invoke(cli, "run", str(project))
    assert result.exit_code == 1
    error = result.stderr.splitlines()[-1]
    assert error.startswith("Error: Could not build the virtualenv: pip install failed (")
    assert "no-such-local-package" in error and "Full log:" in error
    assert not marker.exists() and all_runs(repo) == []
    assert [p for p in envs.iterdir() if p.name != ".locks" and not p.name.endswith(".log")] == []


# ---------------------------------------------------------------------- the example project


def test_example_project_runs_locally(repo: Path, cli, capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(
        cli,
        "run",
        str(EXAMPLE),
        "--env-manager",
        "local",
        "-P",
        "n_estimators=10",
        "-P",
        "test_size=0.3",
    )
    assert result.exit_code == 0, result.stderr
    run = only_run(repo)
    assert f"run {run.info.run_id}: accuracy=" in capfd.readouterr().out
    assert run.info.status == "FINISHED"
    assert run.data.params == {
        "n_estimators": "10",
        "max_depth": "3",
        "test_size": "0.3",
        "seed": "42",
    }
    assert run.data.metrics["accuracy"] > 0.8
    assert set(run.data.metrics) == {"accuracy", "f1_macro"}
    assert run.data.tags["mltrack.project.name"] == "iris-quickstart"
    assert run.data.tags["mlflow.source.name"].endswith("#examples/project")
    assert len(run_commits(repo)) == 1


def _real_pip_cache() -> str:
    return str(Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "pip")


@pytest.mark.slow
def test_example_project_runs_in_a_cached_virtualenv(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    envs = tmp_path / "envs"
    monkeypatch.setenv("MLTRACK_ENV_ROOT", str(envs))
    if "PIP_CACHE_DIR" not in os.environ:  # the test HOME is empty: reuse downloads across runs
        monkeypatch.setenv("PIP_CACHE_DIR", _real_pip_cache())

    lines: list[str] = []
    first = projects.run(
        str(EXAMPLE), parameters={"n_estimators": 10}, env_manager="virtualenv", log=lines.append
    )
    assert any(line.startswith("Creating virtualenv") for line in lines), lines
    published = [p for p in envs.iterdir() if p.is_symlink()]
    assert len(published) == 1
    env = published[0]
    target = os.readlink(env)

    client = MltrackClient(str(repo))
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["accuracy"] > 0.8
    assert run.data.tags["mlflow.project.env"] == "virtualenv"
    assert run.data.tags["mltrack.project.env_hash"] == env.name

    # the environment has scikit-learn and imports this mltrack without any PYTHONPATH
    check = subprocess.run(
        [str(env / "bin" / "python"), "-c", "import mltrack, sklearn; print(mltrack.__file__)"],
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(check.stdout.strip()).resolve() == Path(mltrack.__file__).resolve()

    lines.clear()
    second = projects.run(str(EXAMPLE), parameters={"n_estimators": 10}, log=lines.append)
    assert any(line.startswith(f"Using cached virtualenv {env}") for line in lines), lines
    assert not any(line.startswith("Creating") for line in lines)
    assert os.readlink(env) == target
    assert client.get_run(second.run_id).data.tags["mltrack.project.env_hash"] == env.name
    # git's textconv driver for metrics.arrow still runs this interpreter, not the cached one
    driver = git(repo, "config", "--get", "diff.mltrack-arrow.textconv")
    assert f"{shlex.quote(sys.executable)} -m mltrack textconv" in driver
