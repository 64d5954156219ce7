"""Bad input: one clear error each, nothing half-written, and the other runs still readable."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import git, invoke, reset_mltrack
from mltrack.exceptions import (
    CorruptStore,
    InvalidParameterValue,
    MltrackError,
    ResourceDoesNotExist,
)
from mltrack.store import yamlio


def store_state(root: Path) -> tuple[str, str, dict[str, str]]:
    """HEAD, `git status`, and the content of every file under .mltrack/."""
    from mltrack.store.runs import flush_all_live_runs

    flush_all_live_runs()
    files = {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / ".mltrack").rglob("*"))
        if p.is_file()
    }
    head = git(root, "rev-parse", "HEAD")
    return head, git(root, "status", "--porcelain", "--untracked-files=all"), files


@contextlib.contextmanager
def nothing_written(root: Path) -> Iterator[None]:
    before = store_state(root)
    yield
    after = store_state(root)
    assert not [p for p in after[2] if ".tmp-" in p]
    assert after[0] == before[0], "a commit was made"
    assert after[1] == before[1], "git status changed"
    assert after[2] == before[2], "files under .mltrack/ changed"


def refused(
    root: Path, error: type[MltrackError], match: str, call: Callable[[], object]
) -> MltrackError:
    """``call`` raises ``error`` with a message matching ``match`` and leaves no trace."""
    with nothing_written(root), pytest.raises(error, match=match) as caught:
        call()
    return caught.value


@dataclass
class Demo:
    root: Path
    experiment_id: str
    keep: str  # a finished run that must stay readable whatever goes wrong elsewhere
    other: str

    def run_yaml(self, run_id: str) -> Path:
        return self.root / f".mltrack/experiments/{self.experiment_id}/runs/{run_id}/run.yaml"

    def readable(self) -> None:
        import mltrack

        run = mltrack.MltrackClient().get_run(self.keep)
        assert run.data.params == {"lr": "0.1"}
        assert run.data.metrics == {"acc": 0.5}


@pytest.fixture
def demo(repo: Path) -> Demo:
    import mltrack

    experiment = mltrack.set_experiment("demo")
    with mltrack.start_run(run_name="keep") as keep:
        mltrack.log_param("lr", "0.1")
        mltrack.log_metric("acc", 0.5)
    with mltrack.start_run(run_name="other") as other:
        mltrack.log_param("lr", "0.2")
    return Demo(repo, experiment.experiment_id, keep.info.run_id, other.info.run_id)


@pytest.fixture
def active(demo: Demo) -> Iterator[Any]:
    """An active run with a param and a metric already logged and flushed."""
    import mltrack

    with mltrack.start_run(run_name="active") as run:
        mltrack.log_param("batch", "32")
        mltrack.log_metric("loss", 1.0)
        yield run
    demo.readable()


# ---------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("", "must be a non-empty string"),
        ("   ", "must be a non-empty string"),
        ("../x", r"'\.\.' path segment is not allowed"),
        ("a/../b", r"'\.\.' path segment is not allowed"),
        ("x" * 501, "501 characters is longer than the limit of 500"),
        ("tab\there", "control characters"),
    ],
)
def test_bad_experiment_names(demo: Demo, name: Any, match: str) -> None:
    import mltrack

    refused(demo.root, InvalidParameterValue, match, lambda: mltrack.create_experiment(name))
    refused(demo.root, InvalidParameterValue, match, lambda: mltrack.set_experiment(name))
    client = mltrack.MltrackClient()
    refused(
        demo.root,
        InvalidParameterValue,
        match,
        lambda: client.rename_experiment(demo.experiment_id, name),
    )
    assert mltrack.get_experiment(demo.experiment_id).name == "demo"
    demo.readable()


def test_experiment_name_none(demo: Demo) -> None:
    import mltrack

    match = "must be a non-empty string"
    refused(demo.root, InvalidParameterValue, match, lambda: mltrack.create_experiment(None))  # type: ignore[arg-type]
    refused(
        demo.root, InvalidParameterValue, "exactly one of", lambda: mltrack.set_experiment(None)
    )


def test_experiment_name_of_500_chars_is_fine(demo: Demo) -> None:
    import mltrack

    experiment_id = mltrack.create_experiment("x" * 500)
    assert mltrack.get_experiment(experiment_id).name == "x" * 500


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("..", r"'\.\.' path segment"),
        ("../escape", r"'\.\.' path segment"),
        ("a/../../b", r"'\.\.' path segment"),
        ("x" * 251, "longer than the limit of 250"),
        ("new\nline", "control characters"),
    ],
)
def test_bad_run_names(demo: Demo, name: str, match: str) -> None:
    import mltrack

    refused(demo.root, InvalidParameterValue, match, lambda: mltrack.start_run(run_name=name))
    assert mltrack.active_run() is None
    client = mltrack.MltrackClient()
    refused(
        demo.root,
        InvalidParameterValue,
        match,
        lambda: client.create_run(demo.experiment_id, run_name=name),
    )
    demo.readable()


def test_bad_run_name_in_a_fresh_repository_writes_nothing(repo: Path) -> None:
    import mltrack

    with pytest.raises(InvalidParameterValue, match="path segment"):
        mltrack.start_run(run_name="../x")
    assert not (repo / ".mltrack").exists()
    assert git(repo, "status", "--porcelain") == ""


# ---------------------------------------------------------------------- params, metrics, tags


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("lr!", "may only contain alphanumerics"),
        ("a@b", "may only contain alphanumerics"),
        ("../x", "would resolve to"),
        ("a/../b", "would resolve to"),
        ("/abs", "would resolve to|may only"),
        ("", "non-empty string"),
        ("k" * 251, "longer than 250"),
    ],
)
def test_bad_param_keys(demo: Demo, active: Any, key: str, match: str) -> None:
    import mltrack

    refused(demo.root, InvalidParameterValue, match, lambda: mltrack.log_param(key, "1"))
    refused(
        demo.root, InvalidParameterValue, match, lambda: mltrack.log_params({"ok": "1", key: "1"})
    )
    refused(demo.root, InvalidParameterValue, match, lambda: mltrack.set_tag(key, "1"))
    refused(demo.root, InvalidParameterValue, match, lambda: mltrack.log_metric(key, 1.0))
    # log_params checks everything before keeping anything.
    assert "ok" not in mltrack.get_run(active.info.run_id).data.params


def test_param_value_over_6000_chars(demo: Demo, active: Any) -> None:
    import mltrack

    error = refused(
        demo.root,
        InvalidParameterValue,
        "6001 characters; the limit is 6000",
        lambda: mltrack.log_param("notes", "x" * 6001),
    )
    assert "log_text" in str(error)
    mltrack.log_param("notes", "x" * 6000)
    assert len(mltrack.get_run(active.info.run_id).data.params["notes"]) == 6000


def test_changing_a_logged_param(demo: Demo, active: Any) -> None:
    import mltrack

    error = refused(
        demo.root,
        InvalidParameterValue,
        "Changing param values is not allowed",
        lambda: mltrack.log_param("batch", "64"),
    )
    assert "'32'" in str(error) and "'64'" in str(error)
    refused(
        demo.root,
        InvalidParameterValue,
        "Changing param values",
        lambda: mltrack.log_params({"fresh": "1", "batch": "64"}),
    )
    assert mltrack.get_run(active.info.run_id).data.params == {"batch": "32"}
    mltrack.log_param("batch", 32)  # the same value again is fine (as MLflow)


@pytest.mark.parametrize("value", ["abc", None, True, [1.0], "1.0"])
def test_non_numeric_metric_values(demo: Demo, active: Any, value: Any) -> None:
    import mltrack

    match = "metric values must be numbers"
    refused(demo.root, InvalidParameterValue, match, lambda: mltrack.log_metric("m", value))
    refused(
        demo.root,
        InvalidParameterValue,
        match,
        lambda: mltrack.log_metrics({"ok": 1.0, "m": value}),
    )
    client = mltrack.MltrackClient()
    refused(
        demo.root,
        InvalidParameterValue,
        match,
        lambda: client.log_metric(active.info.run_id, "m", value),
    )
    assert mltrack.get_run(active.info.run_id).data.metrics == {"loss": 1.0}


@pytest.mark.parametrize("step", [1.5, "3", True])
def test_non_integer_steps(demo: Demo, active: Any, step: Any) -> None:
    import mltrack

    match = "steps must be integers"
    refused(
        demo.root, InvalidParameterValue, match, lambda: mltrack.log_metric("m", 1.0, step=step)
    )
    refused(
        demo.root, InvalidParameterValue, match, lambda: mltrack.log_metrics({"m": 1.0}, step=step)
    )
    assert mltrack.MltrackClient().get_metric_history(active.info.run_id, "m") == []


def test_integral_float_step_is_accepted(demo: Demo, active: Any) -> None:
    import mltrack

    mltrack.log_metric("m", 1.0, step=2.0)
    (point,) = mltrack.MltrackClient().get_metric_history(active.info.run_id, "m")
    assert point.step == 2 and type(point.step) is int


def test_bad_timestamps(demo: Demo, active: Any) -> None:
    import mltrack

    refused(
        demo.root,
        InvalidParameterValue,
        "non-negative milliseconds",
        lambda: mltrack.log_metric("m", 1.0, timestamp=-5),
    )


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"name": "n" * 501}, "Invalid dataset name 'nnnn.*: it must be a string of 1 to 500"),
        ({"digest": "d" * 37}, "Invalid dataset digest .*1 to 36 characters"),
        ({"digest": ""}, "Invalid dataset digest ''"),
    ],
)
def test_bad_datasets_are_refused_when_logged(
    demo: Demo, options: dict[str, str], match: str
) -> None:
    """Not at the next flush: that would fail end_run and lose the run's other data."""
    import pandas as pd

    import mltrack

    dataset = mltrack.data.from_pandas(pd.DataFrame({"a": [1, 2]}), **options)
    with mltrack.start_run(run_name="data") as run:
        mltrack.log_metric("m", 1.0)
        refused(demo.root, InvalidParameterValue, match, lambda: mltrack.log_input(dataset))
    stored = yamlio.load(demo.run_yaml(run.info.run_id).read_bytes())
    assert (stored["status"], stored["inputs"], stored["metrics"]["m"]["value"]) == (
        "FINISHED",
        [],
        1.0,
    )
    assert git(demo.root, "log", "-1", "--format=%s") == "Run data: FINISHED in demo\n"


# ---------------------------------------------------------------------- unknown ids


def test_unknown_run_ids(demo: Demo) -> None:
    import mltrack

    client = mltrack.MltrackClient()
    missing = "0" * 32
    error = refused(
        demo.root,
        ResourceDoesNotExist,
        f"Run '{missing}' not found",
        lambda: client.get_run(missing),
    )
    assert error.error_code == "RESOURCE_DOES_NOT_EXIST"
    refused(demo.root, ResourceDoesNotExist, "not found", lambda: mltrack.get_run("abc123"))
    refused(
        demo.root, ResourceDoesNotExist, "not found", lambda: client.log_param(missing, "a", "1")
    )
    refused(demo.root, ResourceDoesNotExist, "not found", lambda: client.set_terminated(missing))
    refused(demo.root, ResourceDoesNotExist, "not found", lambda: client.delete_run(missing))
    refused(
        demo.root,
        ResourceDoesNotExist,
        "not found",
        lambda: client.get_metric_history(missing, "m"),
    )
    refused(
        demo.root,
        InvalidParameterValue,
        "Invalid run id",
        lambda: client.get_run("../" + demo.keep),
    )
    refused(demo.root, ResourceDoesNotExist, "not found", lambda: mltrack.start_run(run_id=missing))
    refused(
        demo.root,
        ResourceDoesNotExist,
        "not found",
        lambda: mltrack.start_run(run_name="child", parent_run_id=missing),
    )
    assert mltrack.active_run() is None
    demo.readable()


def test_unknown_experiment_ids(demo: Demo) -> None:
    import mltrack

    client = mltrack.MltrackClient()
    match = "No experiment with id 12345"
    refused(demo.root, ResourceDoesNotExist, match, lambda: mltrack.get_experiment("12345"))
    refused(
        demo.root,
        ResourceDoesNotExist,
        match,
        lambda: mltrack.set_experiment(experiment_id="12345"),
    )
    refused(
        demo.root, ResourceDoesNotExist, match, lambda: mltrack.start_run(experiment_id="12345")
    )
    refused(demo.root, ResourceDoesNotExist, match, lambda: client.create_run("12345"))
    refused(demo.root, ResourceDoesNotExist, match, lambda: mltrack.delete_experiment("12345"))
    refused(
        demo.root, InvalidParameterValue, "ids are digits", lambda: mltrack.get_experiment("../0")
    )
    assert mltrack.get_experiment_by_name("nope") is None
    assert mltrack.active_run() is None


# ---------------------------------------------------------------------- artifacts


@pytest.mark.parametrize("path", ["../x", "a/../../b", "..", "/abs", "/etc/passwd", "C:/win"])
def test_artifact_paths_outside_the_run(demo: Demo, active: Any, tmp_path: Path, path: str) -> None:
    import mltrack

    local = tmp_path / "local.txt"
    local.write_text("data")
    local_dir = tmp_path / "dir"
    local_dir.mkdir()
    (local_dir / "f.txt").write_text("data")
    match = "artifact|'\\.\\.' would leave"
    refused(demo.root, InvalidParameterValue, match, lambda: mltrack.log_text("x", path))
    refused(demo.root, InvalidParameterValue, match, lambda: mltrack.log_dict({"a": 1}, path))
    refused(demo.root, InvalidParameterValue, match, lambda: mltrack.log_artifact(str(local), path))
    refused(
        demo.root, InvalidParameterValue, match, lambda: mltrack.log_artifacts(str(local_dir), path)
    )
    client = mltrack.MltrackClient()
    run_id = active.info.run_id
    refused(demo.root, InvalidParameterValue, match, lambda: client.list_artifacts(run_id, path))
    refused(
        demo.root,
        InvalidParameterValue,
        match,
        lambda: client.download_artifacts(run_id, path, str(tmp_path)),
    )
    assert not (demo.root / "x").exists() and not (demo.root.parent / "x").exists()


def test_absolute_artifact_path_writes_nothing_there(
    demo: Demo, active: Any, tmp_path: Path
) -> None:
    import mltrack

    outside = tmp_path / "outside"
    with pytest.raises(InvalidParameterValue, match="relative to the run's artifact root"):
        mltrack.log_text("x", str(outside / "f.txt"))
    assert not outside.exists()


def test_missing_local_artifact(demo: Demo, active: Any, tmp_path: Path) -> None:
    import mltrack

    refused(
        demo.root,
        ResourceDoesNotExist,
        "No such file to log",
        lambda: mltrack.log_artifact(str(tmp_path / "nope.txt")),
    )
    refused(
        demo.root,
        ResourceDoesNotExist,
        "No such directory",
        lambda: mltrack.log_artifacts(str(tmp_path / "nope")),
    )


# ---------------------------------------------------------------------- corrupted files


def corrupt(demo: Demo, change: Callable[[dict[str, Any]], None] | str) -> str:
    """Hand-edit the ``keep`` run's run.yaml; returns its path relative to the repo."""
    path = demo.run_yaml(demo.keep)
    if isinstance(change, str):
        path.write_text(change)
    else:
        document = yamlio.load(path.read_bytes())
        change(document)
        path.write_bytes(yamlio.dump(document))
    return path.relative_to(demo.root).as_posix()


def set_field(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda document: document.__setitem__(name, value)


def drop_field(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda document: document.pop(name)


def set_metric_step(document: dict[str, Any]) -> None:
    document["metrics"]["acc"]["step"] = "one"


CORRUPTIONS = [
    ("run_id: [unclosed\n", r"not valid YAML \(line 2, column 1: did not find expected"),
    ("params: {lr: 0.1}\nstatus: [\n", r"not valid YAML \(line \d+, column \d+"),
    ("- just\n- a list\n", "expected a YAML mapping, found list"),
    ("", "expected a YAML mapping, found NoneType"),
    (set_field("status", 3), r"field 'status': 3 is not one of"),
    (
        set_field("start_time", "yesterday"),
        r"field 'start_time': 'yesterday' is not of type 'integer'",
    ),
    (set_field("start_time", 1.7e12), r"field 'start_time': .* is not of type 'integer'"),
    (set_field("params", {"lr": 0.1}), r"field 'params\.lr': 0\.1 is not of type 'string'"),
    (set_metric_step, r"field 'metrics\.acc\.step'"),
    (drop_field("user"), "'user' is a required property"),
    (drop_field("params"), "'params' is a required property"),
    (set_field("colour", "blue"), r"'colour' was unexpected"),
    (
        set_field("run_id", "f" * 32),
        r"field 'run_id'/'experiment_id' does not match the run's directory",
    ),
]


@pytest.mark.parametrize(("change", "match"), CORRUPTIONS)
def test_corrupted_run_yaml(demo: Demo, change: Any, match: str) -> None:
    import mltrack

    where = corrupt(demo, change)
    reset_mltrack()  # a new process: nothing of these runs is in memory
    client = mltrack.MltrackClient()
    with pytest.raises(CorruptStore) as caught:
        client.get_run(demo.keep)
    message = str(caught.value)
    assert caught.value.path == where
    assert message.startswith(f"{where}: ")
    assert re.search(match, message), message
    with pytest.raises(CorruptStore, match=re.escape(where)):
        mltrack.get_run(demo.keep)
    # The other runs are still there.
    found = mltrack.search_runs([demo.experiment_id], output_format="list")
    assert [r.info.run_id for r in found] == [demo.other]
    frame = mltrack.search_runs([demo.experiment_id])
    assert list(frame["run_id"]) == [demo.other]
    assert client.get_run(demo.other).data.params == {"lr": "0.2"}
    # And writing to the corrupted run is refused without writing anything.
    refused(demo.root, CorruptStore, re.escape(where), lambda: client.set_tag(demo.keep, "a", "b"))


def test_corruption_seen_by_a_process_that_wrote_the_run(demo: Demo) -> None:
    """Even the process that logged the run reads the hand-edited file, not its memory."""
    import mltrack

    where = corrupt(demo, set_field("status", "DONE"))
    with pytest.raises(CorruptStore, match=f"{re.escape(where)}: field 'status'"):
        mltrack.MltrackClient().get_run(demo.keep)


def test_garbage_metrics_arrow(demo: Demo) -> None:
    import mltrack

    arrow = demo.run_yaml(demo.keep).with_name("metrics.arrow")
    arrow.write_bytes(b"this is not arrow")
    reset_mltrack()
    client = mltrack.MltrackClient()
    with pytest.raises(CorruptStore, match="not a readable Arrow IPC file") as caught:
        client.get_metric_history(demo.keep, "acc")
    assert (
        caught.value.path == arrow.relative_to(demo.root).as_posix()
    )  # repo-relative, as for YAML
    # The run's summary (run.yaml) and the other runs stay readable.
    assert client.get_run(demo.keep).data.metrics == {"acc": 0.5}
    assert len(mltrack.search_runs([demo.experiment_id], output_format="list")) == 2


def test_metrics_arrow_with_wrong_columns(demo: Demo) -> None:
    import pyarrow as pa

    import mltrack

    arrow = demo.run_yaml(demo.keep).with_name("metrics.arrow")
    table = pa.table({"key": ["acc"], "value": ["high"]})
    with pa.OSFile(str(arrow), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    reset_mltrack()
    with pytest.raises(CorruptStore, match=r"unexpected columns \['key', 'value'\]"):
        mltrack.MltrackClient().get_metric_history(demo.keep, "acc")


def test_corrupt_settings_file(demo: Demo) -> None:
    import mltrack

    (demo.root / ".mltrack/mltrack.yaml").write_bytes(yamlio.dump({"format_version": 2}))
    reset_mltrack()
    with pytest.raises(CorruptStore, match="format_version"), mltrack.start_run():
        pass


# ---------------------------------------------------------------------- the same through the CLI


def one_line_error(result: Any) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("experiments", "create", ""), "must be a non-empty string"),
        (("experiments", "create", "../x"), "'..' path segment is not allowed"),
        (("experiments", "create", "x" * 501), "longer than the limit of 500"),
        (("experiments", "rename", "demo", "../x"), "'..' path segment is not allowed"),
        (("experiments", "delete", "12345"), "No experiment named or numbered '12345'"),
        (("runs", "show", "0" * 32), f"Run '{'0' * 32}' not found"),
        (("runs", "show", "../../etc"), "Invalid run id|No run id starts with"),
        (("runs", "delete", "ffff"), "No run id starts with 'ffff'"),
        (("runs", "list", "--filter", "metrics.acc = 'high'"), "numeric"),
        (("runs", "list", "--order-by", "acc"), "acc"),
    ],
)
def test_cli_errors_are_one_line(
    demo: Demo, cli: CliRunner, args: tuple[str, ...], match: str
) -> None:
    with nothing_written(demo.root):
        error = one_line_error(invoke(cli, *args))
    assert re.search(match, error) or match in error, error


def test_cli_corrupted_run(demo: Demo, cli: CliRunner) -> None:
    where = corrupt(demo, set_field("status", 3))
    reset_mltrack()
    for run in (demo.keep, demo.keep[:8]):
        with nothing_written(demo.root):
            error = one_line_error(invoke(cli, "runs", "show", run))
        assert error.startswith(f"Error: {where}: field 'status'")
    error = one_line_error(invoke(cli, "runs", "delete", demo.keep[:8]))
    assert error.startswith(f"Error: {where}: field 'status'")
    # The other run is still listed; the broken one is a warning that points at fsck.
    listed = invoke(cli, "runs", "list", "--format", "json")
    assert listed.exit_code == 0
    assert [r["info"]["run_id"] for r in json.loads(listed.stdout)] == [demo.other]
    assert "mltrack fsck" in listed.stderr


def test_cli_garbage_metrics(demo: Demo, cli: CliRunner) -> None:
    demo.run_yaml(demo.keep).with_name("metrics.arrow").write_bytes(b"garbage")
    reset_mltrack()
    error = one_line_error(invoke(cli, "metrics", demo.keep[:8], "acc"))
    assert "metrics.arrow: not a readable Arrow IPC file" in error
