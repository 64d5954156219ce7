"""Running a project's entry point as a tracked run, and rerunning a recorded one.

The run is stored in the tracking repository (the one around the working
directory, or the tracking URI), which may be another repository than the
project's. The order is fixed so that a mistake costs nothing: the source is
resolved, the MLproject read and the parameters checked first (an error there
runs nothing and records nothing); then the environment is prepared; only then
is the run created, with its tags, params and (for a dirty tree) the diff.

The entry point runs in a child process whose environment names the run
(``MLTRACK_RUN_ID``/``MLFLOW_RUN_ID``), the repository and the experiment, so
its own ``mltrack.start_run()`` joins the run instead of creating another, as
with MLflow. When the child ends, its exit status becomes the run's status:
0 is FINISHED, any other is FAILED, death by a signal or an interrupt (Ctrl-C)
is KILLED.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mltrack.entities import CodeVersion, LifecycleStage, Param, RunStatus
from mltrack.exceptions import (
    ExecutionException,
    InvalidParameterValue,
    MltrackError,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from mltrack.projects.environments import (
    ENV_MANAGERS,
    Environment,
    check_env_manager,
    default_env_manager,
    prepare_environment,
)
from mltrack.projects.source import Checkout, ProjectSource, checkout, open_source
from mltrack.projects.spec import Invocation, Project, load_project
from mltrack.store import validation
from mltrack.store.repository import DEFAULT_EXPERIMENT_ID
from mltrack.tracking import fluent
from mltrack.tracking.client import TrackingClient
from mltrack.tracking.context import current_user

__all__ = [
    "DIFF_ARTIFACT",
    "SubmittedRun",
    "rerun",
    "run",
]

Log = Callable[[str], None]

DIFF_ARTIFACT = "code/uncommitted.diff"
TAG_SOURCE_TYPE = "mlflow.source.type"
TAG_SOURCE_NAME = "mlflow.source.name"
TAG_ENTRY_POINT = "mlflow.project.entryPoint"
TAG_ENV = "mlflow.project.env"
TAG_COMMIT = "mlflow.source.git.commit"
TAG_BRANCH = "mlflow.source.git.branch"
TAG_REPO_URL = "mlflow.source.git.repoURL"
TAG_NAME = "mltrack.project.name"
TAG_DIRTY = "mltrack.project.dirty"
TAG_VERSION = "mltrack.project.version"
TAG_PARAMETERS = "mltrack.project.parameters"
TAG_RERUN_OF = "mltrack.project.rerun_of"
PROJECT = "PROJECT"

# After Ctrl-C: give the child (which got the same SIGINT from the terminal) time to
# end its run itself, then interrupt it, then terminate it, then kill it.
_STOP_STEPS: tuple[tuple[int | None, float], ...] = (
    (None, 2.0),
    (signal.SIGINT, 10.0),
    (signal.SIGTERM, 5.0),
    (signal.SIGKILL, 5.0),
)


def _quiet(_: str) -> None:
    return None


class SubmittedRun:
    """A project run that has ended (MLflow's ``SubmittedRun``).

    mltrack runs projects synchronously, so by the time ``run`` returns the
    entry point has finished: ``wait()`` returns at once and ``cancel()`` has
    nothing left to stop.
    """

    def __init__(self, run_id: str, exit_code: int, command: str, client: TrackingClient) -> None:
        self.run_id = run_id
        self.exit_code = exit_code
        self.command = command
        self._client = client

    def get_status(self) -> str:
        """The run's status as recorded (FINISHED for a run that ``run`` returned)."""
        return self._client.get_run(self.run_id).info.status

    def wait(self) -> bool:
        """True if the run finished successfully."""
        return self.get_status() == RunStatus.FINISHED

    def cancel(self) -> None:
        """Nothing to cancel: the run has ended."""

    def __repr__(self) -> str:
        return f"<SubmittedRun: run_id={self.run_id}, exit_code={self.exit_code}>"


def run(
    uri: str,
    entry_point: str = "main",
    version: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    *,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    synchronous: bool = True,
    backend: str = "local",
    tracking_uri: str | None = None,
    require_clean: bool = False,
    tags: Mapping[str, str] | None = None,
    log: Log | None = None,
) -> SubmittedRun:
    """Run entry point ``entry_point`` of the project at ``uri`` as a tracked run.

    ``uri`` is a directory or a git repository on this machine (a path or a
    ``file://`` URL, optionally ``#subdirectory``). ``version`` (a commit,
    branch or tag) runs that commit from a temporary worktree. ``parameters``
    are checked against the entry point's declared parameters before anything
    runs. ``env_manager`` is ``local`` (this interpreter) or ``virtualenv`` (a
    cached environment built from python_env.yaml); by default a project that
    declares a Python environment gets a virtualenv, others run locally.

    Returns a :class:`SubmittedRun` once the entry point has finished
    successfully; raises :class:`~mltrack.exceptions.ExecutionException` (with
    ``run_id``) when it failed, and re-raises ``KeyboardInterrupt`` after
    recording an interrupted run as KILLED. mltrack extensions (keyword-only):
    ``tracking_uri`` (default: the current tracking URI), ``require_clean``
    (refuse a tree with uncommitted changes), ``tags`` (extra run tags) and
    ``log`` (a callback for progress lines; nothing is printed otherwise).
    Only ``synchronous=True`` and ``backend="local"`` are supported.
    """
    _check_arguments(synchronous, backend, env_manager, experiment_name, experiment_id, run_name)
    return _run(
        uri,
        entry_point,
        version,
        parameters or {},
        experiment_name=experiment_name,
        experiment_id=experiment_id,
        run_name=run_name,
        env_manager=env_manager,
        client=TrackingClient(tracking_uri),
        require_clean=require_clean,
        tags=tags or {},
        say=log or _quiet,
        paths_from_project=False,
    )


def _run(
    uri: str,
    entry_point: str,
    version: str | None,
    parameters: Mapping[str, Any],
    *,
    experiment_name: str | None,
    experiment_id: str | None,
    run_name: str | None,
    env_manager: str | None,
    client: TrackingClient,
    require_clean: bool,
    tags: Mapping[str, str],
    say: Log,
    paths_from_project: bool,
) -> SubmittedRun:
    """``run`` itself; a rerun resolves relative paths from the project, as they were recorded."""
    cwd = Path.cwd()
    parent_run_id = _active_parent(client)
    source = open_source(uri, cwd)
    with checkout(source, version) as code:
        if require_clean and code.dirty:
            raise InvalidParameterValue(
                f"The project's repository {source.git.root if source.git else source.path} has "
                "uncommitted changes to tracked files and --require-clean was given: commit or "
                "stash them, or run a commit with --version."
            )
        project = load_project(code.directory, display_name=source.display_name)
        for warning in project.warnings:
            say(f"Warning: {warning}")
        invocation = project.entry_point(entry_point).resolve(
            parameters,
            project_dir=code.directory,
            cwd=code.directory if paths_from_project else cwd,
            project_name=project.name,
        )
        manager = env_manager or default_env_manager(project.environment)
        check_env_manager(manager, project.environment, str(project.mlproject or code.directory))
        _experiment_id(client, experiment_name, experiment_id, create=False)
        with prepare_environment(manager, project, say) as environment:
            resolved_experiment = _experiment_id(
                client, experiment_name, experiment_id, create=True
            )
            assert resolved_experiment is not None
            run_id = _create_run(
                client,
                resolved_experiment,
                _run_tags(project, source, code, invocation, environment, version, tags),
                run_name,
                parent_run_id,
                code,
                invocation,
            )
            exit_code = _execute(
                client, run_id, resolved_experiment, invocation, code.directory, environment, say
            )
    return SubmittedRun(run_id, exit_code, invocation.command, client)


def rerun(
    run_id: str,
    *,
    uri: str | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    tracking_uri: str | None = None,
    log: Log | None = None,
) -> SubmittedRun:
    """Run a recorded project run again: same source, commit, entry point, parameters, env manager.

    ``run_id`` may be a unique prefix. The new run goes to the same experiment
    (unless another is named) and is tagged ``mltrack.project.rerun_of``.
    ``uri`` replaces the recorded source when the project has moved (another
    clone, another machine). A run made from a dirty tree is rerun from its
    commit; its recorded diff is not applied (a warning says so).
    """
    say = log or _quiet
    client = TrackingClient(tracking_uri)
    full_id = client.resolve_run_id(run_id)
    old = client.get_run(full_id)
    recorded = old.data.tags
    if recorded.get(TAG_SOURCE_TYPE) != PROJECT:
        raise InvalidParameterValue(
            f"Run {full_id} is not a project run ({TAG_SOURCE_TYPE}="
            f"{recorded.get(TAG_SOURCE_TYPE) or 'unset'}); only runs made with `mltrack run` "
            "can be rerun."
        )
    commit = recorded.get(TAG_COMMIT)
    if not commit:
        raise InvalidParameterValue(
            f"Run {full_id} was not made from a git commit (its project was not committed to "
            "git), so it cannot be rerun exactly; run the project again with `mltrack run`."
        )
    source = uri or recorded.get(TAG_SOURCE_NAME)
    if not source:
        raise InvalidParameterValue(
            f"Run {full_id} does not record where its project is; pass its location with --uri."
        )
    if recorded.get(TAG_DIRTY) == "true":
        say(
            f"Warning: run {full_id} was made from a tree with uncommitted changes (artifact "
            f"{DIFF_ARTIFACT}); the rerun uses commit {commit[:12]} as committed."
        )
    if experiment_name is None and experiment_id is None:
        experiment_id = old.info.experiment_id
    manager = env_manager or recorded.get(TAG_ENV)
    _check_arguments(True, "local", manager, experiment_name, experiment_id, run_name)
    return _run(
        source,
        recorded.get(TAG_ENTRY_POINT) or old.code.entry_point or "main",
        commit,
        _recorded_parameters(recorded, old.data.params),
        experiment_name=experiment_name,
        experiment_id=experiment_id,
        run_name=run_name,
        env_manager=manager,
        client=client,
        require_clean=False,
        tags={TAG_RERUN_OF: full_id},
        say=say,
        paths_from_project=True,
    )


def _recorded_parameters(tags: Mapping[str, str], params: Mapping[str, str]) -> dict[str, str]:
    """The parameters the project run was given (not params its script logged itself)."""
    try:
        names = json.loads(tags[TAG_PARAMETERS])
    except (KeyError, ValueError):
        return dict(params)
    return {name: params[name] for name in names if name in params}


# ---------------------------------------------------------------------- before anything runs


def _check_arguments(
    synchronous: bool,
    backend: str,
    env_manager: str | None,
    experiment_name: str | None,
    experiment_id: str | None,
    run_name: str | None,
) -> None:
    if not synchronous:
        raise InvalidParameterValue(
            "mltrack runs projects synchronously only: synchronous=False is not supported "
            "(call mltrack.projects.run in a thread or process of your own)."
        )
    if backend != "local":
        raise InvalidParameterValue(
            f"Backend {backend!r} is not supported: mltrack runs projects on this machine "
            "(backend='local')."
        )
    if env_manager is not None and env_manager not in ENV_MANAGERS:
        raise InvalidParameterValue(
            f"Unknown environment manager {env_manager!r}: use one of {', '.join(ENV_MANAGERS)}."
        )
    if experiment_name is not None and experiment_id is not None:
        raise InvalidParameterValue("Give an experiment name or an experiment id, not both.")
    if run_name is not None:
        validation.run_name(run_name)


def _active_parent(client: TrackingClient) -> str | None:
    """The caller's active run, if it lives in the tracking repository (MLflow nests then)."""
    active = fluent.active_run()
    if active is None:
        return None
    run_id = active.info.run_id
    try:
        client.repository.runs.locate(run_id)
    except ResourceDoesNotExist:
        return None
    return str(run_id)


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _experiment_id(
    client: TrackingClient, name: str | None, experiment_id: str | None, *, create: bool
) -> str | None:
    """The experiment to record in: by id, by name (created if new), from the environment, or 0."""
    if name is None and experiment_id is None:
        experiment_id = _env("MLTRACK_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_ID")
        name = None if experiment_id else _env("MLTRACK_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME")
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
        _require_active(experiment.lifecycle_stage, experiment.name)
        return experiment.experiment_id
    if name is None:
        if create:
            repo = client.repository
            repo.ensure_initialized()
            repo.ensure_default_experiment()
        return DEFAULT_EXPERIMENT_ID
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        _require_active(existing.lifecycle_stage, name)
        return existing.experiment_id
    validation.experiment_name(name)
    if not create:
        return None
    try:
        return client.create_experiment(name)
    except ResourceAlreadyExists:  # another process created it meanwhile
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _require_active(stage: str, name: str) -> None:
    if stage != LifecycleStage.ACTIVE:
        raise InvalidParameterValue(
            f"Experiment {name!r} is deleted; restore it with `mltrack experiments restore` or "
            "choose another experiment."
        )


# ---------------------------------------------------------------------- the run


def _run_tags(
    project: Project,
    source: ProjectSource,
    code: Checkout,
    invocation: Invocation,
    environment: Environment,
    version: str | None,
    extra: Mapping[str, str] | None,
) -> dict[str, str]:
    tags = {
        "mlflow.user": current_user(),
        TAG_SOURCE_NAME: source.source_name,
        TAG_SOURCE_TYPE: PROJECT,
        TAG_ENTRY_POINT: invocation.entry_point,
        TAG_NAME: project.name,
        TAG_PARAMETERS: json.dumps(list(invocation.params)),
        **environment.tags,
    }
    if code.commit:
        tags[TAG_COMMIT] = code.commit
    if code.repo_url:
        tags[TAG_REPO_URL] = code.repo_url
    if code.branch:
        tags[TAG_BRANCH] = code.branch
    if code.dirty is not None:
        tags[TAG_DIRTY] = "true" if code.dirty else "false"
    if version is not None:
        tags[TAG_VERSION] = version
    tags.update(extra or {})
    return tags


def _create_run(
    client: TrackingClient,
    experiment_id: str,
    tags: dict[str, str],
    run_name: str | None,
    parent_run_id: str | None,
    code: Checkout,
    invocation: Invocation,
) -> str:
    created = client.create_run(
        experiment_id,
        tags=tags,
        run_name=run_name,
        parent_run_id=parent_run_id,
        code=CodeVersion(code.commit, code.branch, code.dirty, invocation.entry_point),
    )
    run_id = created.info.run_id
    try:
        client.log_batch(run_id, params=[Param(k, v) for k, v in invocation.params.items()])
        if code.dirty:
            client.log_text(run_id, code.diff, DIFF_ARTIFACT)
        client.repository.runs.live(run_id).flush()  # the child reads the run from disk
    except BaseException:
        client.set_terminated(run_id, RunStatus.FAILED)
        raise
    return run_id


def _child_environment(
    client: TrackingClient, run_id: str, experiment_id: str, environment: Environment
) -> dict[str, str]:
    env = environment.child_environment(os.environ)
    for name in ("MLTRACK_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(name, None)
    root = str(client.repository.root)
    env.update(
        {
            "MLTRACK_TRACKING_URI": root,
            "MLFLOW_TRACKING_URI": root,
            "MLTRACK_RUN_ID": run_id,
            "MLFLOW_RUN_ID": run_id,
            "MLTRACK_EXPERIMENT_ID": experiment_id,
            "MLFLOW_EXPERIMENT_ID": experiment_id,
            "MLTRACK_SOURCE_TYPE": PROJECT,
        }
    )
    return env


def _execute(
    client: TrackingClient,
    run_id: str,
    experiment_id: str,
    invocation: Invocation,
    directory: Path,
    environment: Environment,
    say: Log,
) -> int:
    """Run the command, wait, record the final status; returns the exit code of a success."""
    shell = shutil.which("bash") or "/bin/sh"
    say(
        f"Running `{invocation.command}` in {directory} "
        f"(run {run_id}, {environment.manager} environment)"
    )
    try:
        child = subprocess.Popen(
            [shell, "-c", invocation.command],
            cwd=directory,
            env=_child_environment(client, run_id, experiment_id, environment),
        )
    except OSError as error:
        _finish(client, run_id, RunStatus.FAILED)
        raise ExecutionException(
            f"Run {run_id} failed: could not start {shell}: {error}; recorded as FAILED.", run_id
        ) from None
    try:
        exit_code = child.wait()
    except KeyboardInterrupt:
        _stop(child)
        _finish(client, run_id, RunStatus.KILLED)
        say(f"Run {run_id} was interrupted: recorded as KILLED.")
        raise
    if exit_code == 0:
        _finish(client, run_id, RunStatus.FINISHED)
        return exit_code
    if exit_code < 0:
        _finish(client, run_id, RunStatus.KILLED)
        raise ExecutionException(
            f"Run {run_id} was killed by signal {-exit_code} "
            f"({_signal_name(-exit_code)}); recorded as KILLED.",
            run_id,
        )
    _finish(client, run_id, RunStatus.FAILED)
    raise ExecutionException(
        f"Run {run_id} failed: `{invocation.command}` exited with status {exit_code}; "
        "recorded as FAILED.",
        run_id,
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


def _stop(child: subprocess.Popen[bytes]) -> None:
    """Stop the child after an interrupt, politely first; a second Ctrl-C skips ahead."""
    for sent, grace in _STOP_STEPS:
        if child.poll() is not None:
            return
        try:
            if sent is not None:
                child.send_signal(sent)
            child.wait(grace)
            return
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            continue
        except ProcessLookupError:
            return


def _finish(client: TrackingClient, run_id: str, status: str) -> None:
    """Record the final status; keeps the child's end time when it already ended the run so.

    The child's own ``end_run`` may have committed the run; then this commit
    changes nothing and is skipped (commit-per-run still holds).
    """
    repo = client.repository
    try:
        stored = repo.runs.parse_run_dir(repo.runs.locate(run_id))
        end_time = stored.end_time if stored.status == status else None
    except MltrackError:
        end_time = None
    repo.ensure_textconv_driver(recheck=True)  # a virtualenv child points it at its own python
    client.set_terminated(run_id, status, end_time)
