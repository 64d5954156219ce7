"""MLflow 3 logged models kept with their run, and artifacts streamed in and out."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import git
from mltrack.client import MltrackClient
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.registry import Registry


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
