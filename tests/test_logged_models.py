"""MLflow 3 logged models kept with their run, and artifacts streamed in and out."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import mltrack
from conftest import git
from mltrack.client import MltrackClient
from mltrack.entities import LoggedModelInput, LoggedModelOutput, Metric
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.registry import Registry
from mltrack.store.records import RunRecord


@pytest.fixture
def client(repo: Path) -> MltrackClient:
    client = MltrackClient(str(repo))
    client.repository.init()
    return client


def _upload_model(client: MltrackClient, run_id: str, artifact_path: str) -> None:
    for name, data in [("MLmodel", b"flavors: {}\n"), ("model.pkl", b"\x80\x04N.")]:
        with client.open_artifact_writer(run_id, f"{artifact_path}/{name}") as writer:
            writer.write(data)


def test_a_logged_model_lives_in_its_run(client: MltrackClient) -> None:
    experiment = client.create_experiment("demo")
    run_id = client.create_run(experiment).info.run_id
    model = client.create_logged_model(
        experiment, "model", run_id, tags={"t": "1"}, params={"alpha": "0.5"}
    )
    assert model.model_id.startswith("m-") and model.status == "PENDING"
    assert model.artifact_path == "model"
    assert model.artifact_location.endswith(f"/runs/{run_id}/artifacts/model")
    _upload_model(client, run_id, model.artifact_path)
    ready = client.finalize_logged_model(model.model_id, "LOGGED_MODEL_READY")
    assert ready.status == "READY"
    outputs = client.repository.runs.get(run_id).outputs
    assert outputs[0]["mlmodel_sha256"] and outputs[0]["params"] == {"alpha": "0.5"}
    assert [o.model_id for o in client.get_run(run_id).outputs.model_outputs] == [model.model_id]


def test_names_are_made_unique_within_a_run(client: MltrackClient) -> None:
    run_id = client.create_run("0").info.run_id
    with client.open_artifact_writer(run_id, "taken/notes.txt") as writer:
        writer.write(b"an ordinary artifact")
    paths = [client.create_logged_model("0", name, run_id).artifact_path for name in ("model",) * 3]
    assert paths == ["model", "model-2", "model-3"]
    assert client.create_logged_model("0", "taken", run_id).artifact_path == "taken-2"


def test_search_tags_and_errors(client: MltrackClient) -> None:
    run_id = client.create_run("0").info.run_id
    first = client.create_logged_model("0", "model", run_id)
    client.create_logged_model("0", "other", run_id)
    found = client.search_logged_models(["0"], "name = 'model'")
    assert [m.model_id for m in found] == [first.model_id]
    page = client.search_logged_models(["0"], max_results=1)
    assert len(page) == 1 and page.token
    client.set_logged_model_tags(first.model_id, {"k": "v"})
    assert client.get_logged_model(first.model_id).tags == {"k": "v"}
    client.delete_logged_model_tag(first.model_id, "k")
    assert client.get_logged_model(first.model_id).tags == {}
    with pytest.raises(ResourceDoesNotExist, match="Logged model with ID 'm-0' not found"):
        client.get_logged_model("m-0")
    with pytest.raises(InvalidParameterValue):
        client.create_logged_model("0", "../escape", run_id)


def test_a_model_without_a_run_gets_a_holder_run(client: MltrackClient, repo: Path) -> None:
    model = client.create_logged_model("0", "lonely")
    holder = client.get_run(model.source_run_id)
    assert holder.info.status == "RUNNING"
    assert holder.data.tags["mltrack.loggedModelHolder"] == "true"
    _upload_model(client, model.source_run_id, model.artifact_path)
    client.finalize_logged_model(model.model_id, "READY")
    assert client.get_run(model.source_run_id).info.status == "FINISHED"
    assert "Run lonely: FINISHED" in git(repo, "log", "-1", "--format=%s")


def test_registering_either_uri_makes_the_same_tag(client: MltrackClient, repo: Path) -> None:
    run_id = client.create_run("0").info.run_id
    model = client.create_logged_model("0", "model", run_id)
    _upload_model(client, run_id, "model")
    client.finalize_logged_model(model.model_id, "READY")
    client.set_terminated(run_id)
    registry = Registry(client.repository)
    one = registry.create_model_version("clf", f"runs:/{run_id}/model")
    two = registry.create_model_version("clf", f"models:/{model.model_id}")
    assert one.source == two.source == f"models:/{model.model_id}"
    assert git(repo, "rev-parse", "mltrack/clf/v1^{commit}") == git(
        repo, "rev-parse", "mltrack/clf/v2^{commit}"
    )
    snapshot = Path(registry.get_model_version_download_uri("clf", 1).removeprefix("file://"))
    assert registry.store.snapshot(snapshot.name) == snapshot
    assert sorted(p.name for p in snapshot.iterdir()) == ["MLmodel", "model.pkl"]


def test_artifact_writer_is_atomic_and_refuses_escapes(client: MltrackClient) -> None:
    run_id = client.create_run("0").info.run_id
    with pytest.raises(RuntimeError), client.open_artifact_writer(run_id, "big.bin") as writer:
        writer.write(b"partial")
        raise RuntimeError("the connection dropped")
    root = client.repository.runs.artifact_dir(run_id)
    assert not root.exists() or list(root.iterdir()) == []
    for bad in ("../x", "/etc/passwd", "a/../../x"):
        with pytest.raises(InvalidParameterValue):
            client.open_artifact_writer(run_id, bad)
    with client.open_artifact_writer(run_id, "dir/file.txt") as writer:
        writer.write(b"hello")
    assert client.get_artifact_file(run_id, "dir/file.txt").read_bytes() == b"hello"
    with pytest.raises(InvalidParameterValue, match="directory"):
        client.get_artifact_file(run_id, "dir")
    with pytest.raises(ResourceDoesNotExist):
        client.get_artifact_file(run_id, "nope.txt")


# ---------------------------------------------------------------------- MLflow 3's links


def test_metrics_logged_with_a_model_id_are_the_models(client: MltrackClient) -> None:
    run_id = client.create_run("0").info.run_id
    model = client.create_logged_model("0", "model")
    client.log_metric(
        run_id, "acc", 0.5, timestamp=1000, step=1, dataset_name="eval",
        dataset_digest="d1", model_id=model.model_id,
    )  # fmt: skip
    client.log_metric(run_id, "acc", 0.7, timestamp=900, step=2, model_id=model.model_id)
    client.log_metric(run_id, "acc", 0.1, timestamp=2000, step=1, model_id=model.model_id)
    client.log_batch(
        run_id,
        metrics=[Metric("loss", 0.3, 1500, 0, None, model.model_id, "eval", "d1")],
    )
    found = client.get_logged_model(model.model_id).metrics
    assert found == [
        Metric("acc", 0.7, 900, 2, run_id, model.model_id),  # the latest of its key, run, dataset
        Metric("acc", 0.5, 1000, 1, run_id, model.model_id, "eval", "d1"),
        Metric("loss", 0.3, 1500, 0, run_id, model.model_id, "eval", "d1"),
    ]
    # the run keeps every point as before
    assert [m.value for m in client.get_metric_history(run_id, "acc")] == [0.5, 0.7, 0.1]
    # kept in the model's entry of its (holder) run's run.yaml, read back by a new client
    fresh = MltrackClient(str(client.repository.root))
    assert fresh.get_logged_model(model.model_id).metrics == found
    with pytest.raises(ResourceDoesNotExist, match="not found"):
        client.log_metric(run_id, "acc", 1.0, step=9, model_id=f"m-{'0' * 32}")
    assert 9 not in [m.step for m in client.get_metric_history(run_id, "acc")]


def test_search_logged_models_by_datasets(client: MltrackClient) -> None:
    run_id = client.create_run("0").info.run_id
    on_eval = client.create_logged_model("0", "on_eval")
    client.create_logged_model("0", "unmeasured")
    client.log_metric(
        run_id, "acc", 0.9, dataset_name="eval", dataset_digest="d1", model_id=on_eval.model_id
    )

    def names(datasets: list[dict[str, str]]) -> list[str]:
        return [m.name for m in client.search_logged_models(["0"], datasets=datasets)]

    assert names([{"dataset_name": "eval"}]) == ["on_eval"]
    assert names([{"dataset_name": "eval", "dataset_digest": "d1"}]) == ["on_eval"]
    assert names([{"dataset_name": "eval", "dataset_digest": "other"}]) == []
    assert names([{"dataset_name": "train"}, {"dataset_name": "eval"}]) == ["on_eval"]
    assert sorted(names([])) == ["on_eval", "unmeasured"]
    with pytest.raises(InvalidParameterValue, match="`dataset_name` in the `datasets` clause"):
        names([{"dataset_digest": "d1"}])


def test_model_inputs_and_outputs_of_another_run(client: MltrackClient) -> None:
    run_id = client.create_run("0").info.run_id
    used = client.create_logged_model("0", "used")
    made = client.create_logged_model("0", "made")
    client.log_inputs(run_id, models=[LoggedModelInput(used.model_id)])
    client.log_inputs(run_id, models=[LoggedModelInput(used.model_id)])  # recorded once
    client.log_outputs(run_id, [LoggedModelOutput(made.model_id, 3)])
    client.log_outputs(run_id, [LoggedModelOutput(made.model_id, 4)])  # the step moves
    fresh = MltrackClient(str(client.repository.root)).get_run(run_id)
    assert fresh.inputs.model_inputs == (LoggedModelInput(used.model_id),)
    assert fresh.outputs.model_outputs == (LoggedModelOutput(made.model_id, 4),)
    # the model itself stays in its holder run, whose outputs are unchanged
    assert [o.model_id for o in client.get_run(made.source_run_id).outputs.model_outputs] == [
        made.model_id
    ]
    with pytest.raises(ResourceDoesNotExist):
        client.log_inputs(run_id, models=[LoggedModelInput(f"m-{'1' * 32}")])
    with pytest.raises(InvalidParameterValue, match="Invalid logged model id"):
        client.log_inputs(run_id, models=["not-a-model"])


def test_deleting_a_logged_model_keeps_its_files(client: MltrackClient, repo: Path) -> None:
    run_id = client.create_run("0").info.run_id
    model = client.create_logged_model("0", "model", run_id)
    kept = client.create_logged_model("0", "kept", run_id)
    _upload_model(client, run_id, "model")
    client.finalize_logged_model(model.model_id, "READY")
    client.set_terminated(run_id)
    client.delete_logged_model(model.model_id)
    with pytest.raises(ResourceDoesNotExist, match=f"Logged model with ID '{model.model_id}'"):
        client.get_logged_model(model.model_id)
    assert [m.model_id for m in client.search_logged_models(["0"])] == [kept.model_id]
    with pytest.raises(ResourceDoesNotExist):
        client.delete_logged_model(model.model_id)
    with pytest.raises(ResourceDoesNotExist):
        mltrack.pyfunc.load_model(f"models:/{model.model_id}")
    # MLflow's soft delete: the record says so, the files stay (and the run's files load)
    entry = next(
        o for o in client.repository.runs.get(run_id).outputs if o["artifact_path"] == "model"
    )
    assert entry["lifecycle_stage"] == "deleted" and entry["deleted_time"] > 0
    assert (client.repository.runs.artifact_dir(run_id) / "model" / "MLmodel").is_file()
    assert "lifecycle_stage: deleted" in git(repo, "show", "HEAD", "--", "*run.yaml")


def test_a_source_run_this_repository_lacks_is_kept(client: MltrackClient) -> None:
    model = client.create_logged_model("0", "imported", source_run_id="123")
    assert model.source_run_id == "123"
    holder = client.get_run(model.files_run_id)
    assert holder.data.tags["mltrack.loggedModelHolder"] == "true"
    assert model.artifact_location.endswith(f"/runs/{model.files_run_id}/artifacts/imported")
    assert client.get_logged_model(model.model_id).source_run_id == "123"
    found = client.search_logged_models(["0"], "source_run_id = '123'")
    assert [m.model_id for m in found] == [model.model_id]
    local = client.create_run("0").info.run_id
    assert client.create_logged_model("0", "here", local).files_run_id == local


def test_registered_versions_are_listed_on_the_logged_model(client: MltrackClient) -> None:
    run_id = client.create_run("0").info.run_id
    model = client.create_logged_model("0", "model", run_id)
    _upload_model(client, run_id, "model")
    client.finalize_logged_model(model.model_id, "READY")
    client.set_terminated(run_id)
    assert "mlflow.modelVersions" not in client.get_logged_model(model.model_id).tags
    registry = Registry(client.repository)
    registry.create_model_version("clf", f"models:/{model.model_id}")
    registry.create_model_version("other", f"runs:/{run_id}/model")
    expected = '[{"name": "clf", "version": 1}, {"name": "other", "version": 1}]'
    assert client.get_logged_model(model.model_id).tags["mlflow.modelVersions"] == expected
    [found] = client.search_logged_models(["0"])
    assert found.tags["mlflow.modelVersions"] == expected
    # MLflow's client sets it after registering: it is derived, never stored
    client.set_logged_model_tags(model.model_id, {"mlflow.modelVersions": "[]"})
    assert client.get_logged_model(model.model_id).tags["mlflow.modelVersions"] == expected
    assert (
        "modelVersions"
        not in (client.repository.runs.run_dir("0", run_id) / "run.yaml").read_text()
    )


def test_a_run_index_cache_from_before_model_links_reads(client: MltrackClient) -> None:
    """The run index pickles records; one pickled before model_inputs existed must still load."""
    record = client.repository.runs.get(client.create_run("0").info.run_id)
    state = {name: getattr(record, name) for name in RunRecord.__slots__}
    del state["model_inputs"], state["model_outputs"]
    old = RunRecord.__new__(RunRecord)
    old.__setstate__((None, state))
    assert old.model_inputs == [] and old.model_outputs == []
    assert old.to_run().inputs.model_inputs == ()
    assert pickle.loads(pickle.dumps(record)).to_dict() == record.to_dict()
