"""Logged models, the registry and ``models:/`` URIs over http, written as an MLflow user would.

``import mltrack as mlflow`` with ``mlflow.set_tracking_uri(url)``, against a real
``mltrack server`` and a real ``mlflow server`` (SQLite) from the installed MLflow,
each started once for the module on a free port of 127.0.0.1. What mltrack's client
did is read back with MLflow's own client where that checks something more.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from conftest import reset_mltrack
from liveserver import make_repo
from support import TrackingServer
from test_remote_client import MlflowServer


class Server(NamedTuple):
    url: str
    kind: str  # "mltrack" or "mlflow"
    repo: Path | None = None  # mltrack server's repository


@pytest.fixture(scope="module", params=["mltrack", "mlflow"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A tracking server of either kind for the whole module (MLflow's takes ~10 s to start)."""
    base = tmp_path_factory.mktemp(f"{request.param}-server")
    if request.param == "mlflow":
        pytest.importorskip("mlflow")
        mlflow_server = MlflowServer(base)
        try:
            yield Server(mlflow_server.url, "mlflow")
        finally:
            mlflow_server.stop()
    else:
        repo, home = make_repo(base)
        tracking_server = TrackingServer(repo, home=home)
        try:
            yield Server(tracking_server.url, "mltrack", repo)
        finally:
            tracking_server.stop()


@pytest.fixture
def mlflow(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``import mltrack as mlflow`` logging to ``server``, from a directory with no repository."""
    import mltrack

    monkeypatch.chdir(tmp_path)
    mltrack.set_tracking_uri(server.url)
    try:
        yield mltrack
    finally:
        reset_mltrack()  # forgets the tracking URI too


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _echo_model(mlflow: Any) -> Any:
    class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return [f"echo:{x}" for x in model_input]

    return Echo()


def test_logged_models_are_read_searched_and_changed_over_http(mlflow: Any, server: Server) -> None:
    experiment_id = mlflow.set_experiment(_unique("logged-models")).experiment_id
    client = mlflow.MlflowClient()
    with mlflow.start_run() as run:
        mlflow.log_param("lr", "0.1")
        info = mlflow.pyfunc.log_model(name="echo", python_model=_echo_model(mlflow))
        assert mlflow.last_logged_model().model_id == info.model_id

    model = mlflow.get_logged_model(info.model_id)
    assert (model.name, model.source_run_id, model.experiment_id) == (
        "echo",
        run.info.run_id,
        experiment_id,
    )
    assert model.status == "READY" and model.params["lr"] == "0.1"
    assert model.artifact_location.startswith("mlflow-artifacts:")
    assert "MLmodel" in [f.path for f in client.list_logged_model_artifacts(info.model_id)]

    client.set_logged_model_tags(info.model_id, {"team": "vision", "drop": "me"})
    client.delete_logged_model_tag(info.model_id, "drop")
    mlflow.log_model_params({"depth": 3}, model_id=info.model_id)
    changed = client.get_logged_model(info.model_id)
    assert changed.tags["team"] == "vision" and "drop" not in changed.tags
    assert changed.params["depth"] == "3"

    pending = mlflow.initialize_logged_model(name="pending", experiment_id=experiment_id)
    assert pending.status == "PENDING"
    finished = mlflow.finalize_logged_model(pending.model_id, "READY")
    assert finished.status == "READY"
    external = mlflow.create_external_model(name="outside", experiment_id=experiment_id)
    assert mlflow.get_logged_model(external.model_id).tags["mlflow.model.isExternal"] == "true"

    named = mlflow.search_logged_models(
        experiment_ids=[experiment_id], filter_string="name = 'echo'", output_format="list"
    )
    assert [m.model_id for m in named] == [info.model_id]
    newest_first = mlflow.search_logged_models(
        experiment_ids=[experiment_id],
        order_by=[{"field_name": "creation_timestamp", "ascending": False}],
        output_format="list",
    )
    every = {info.model_id, pending.model_id, external.model_id}
    assert {m.model_id for m in newest_first} == every
    stamps = [m.creation_timestamp for m in newest_first]
    assert stamps == sorted(stamps, reverse=True)
    frame = mlflow.search_logged_models(experiment_ids=[experiment_id])
    assert set(frame["model_id"]) == every and set(frame["name"]) == {"echo", "pending", "outside"}
    assert (
        len(mlflow.search_logged_models([experiment_id], max_results=2, output_format="list")) == 2
    )

    pages, token = [], None
    for _ in range(5):
        page = client.search_logged_models([experiment_id], max_results=1, page_token=token)
        pages.append([m.model_id for m in page])
        token = page.token
        if not token:
            break
    assert [len(p) for p in pages] == [1, 1, 1] and set(itertools.chain(*pages)) == every

    with mlflow.set_active_model(name="outside") as active:
        assert active.model_id == external.model_id
        mlflow.log_model_params({"source": "s3"})
    assert mlflow.get_logged_model(external.model_id).params["source"] == "s3"


def test_model_inputs_and_outputs_are_sent_as_mlflow_sends_them(
    mlflow: Any, server: Server
) -> None:
    import mlflow as real_mlflow

    mlflow.set_experiment(_unique("inputs"))
    used = mlflow.initialize_logged_model(name="used")
    with mlflow.start_run() as run:
        made = mlflow.initialize_logged_model(name="made")
        client = mlflow.MlflowClient()
        client.log_inputs(run.info.run_id, models=[used.model_id])
        client.log_outputs(run.info.run_id, [mlflow.entities.LoggedModelOutput(made.model_id, 4)])
    stored = real_mlflow.MlflowClient(server.url).get_run(run.info.run_id)
    assert [(m.model_id, m.step) for m in stored.outputs.model_outputs] == [(made.model_id, 4)]
    assert [m.model_id for m in stored.inputs.model_inputs] == [used.model_id]


def _logged_echo(mlflow: Any, name: str) -> tuple[str, Any]:
    mlflow.set_experiment(_unique("registry"))
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(
            name="echo", python_model=_echo_model(mlflow), registered_model_name=name
        )
    return run.info.run_id, info


def test_the_registry_is_managed_over_http(mlflow: Any, server: Server) -> None:
    from mltrack.exceptions import MltrackError, ResourceDoesNotExist

    name = _unique("reg")
    client = mlflow.MlflowClient()
    created = client.create_registered_model(name, tags={"owner": "ana"}, description="first")
    assert created.name == name
    run_id, info = _logged_echo(mlflow, name)
    second = mlflow.register_model(info.model_uri, name)
    assert second.version in (2, "2")

    client.update_registered_model(name, description="the echo model")
    client.set_registered_model_tag(name, "task", "echo")
    client.delete_registered_model_tag(name, "owner")
    got = client.get_registered_model(name)
    assert got.description == "the echo model" and got.tags == {"task": "echo"}

    renamed = _unique("renamed")
    assert client.rename_registered_model(name, renamed).name == renamed
    with pytest.raises(ResourceDoesNotExist):
        client.get_registered_model(name)
    name = renamed

    assert [m.name for m in client.search_registered_models(f"name = '{name}'")] == [name]
    assert [m.name for m in mlflow.search_registered_models(filter_string=f"name = '{name}'")] == [
        name
    ]
    like = client.search_registered_models(f"name LIKE '{name[:-2]}%'", max_results=10)
    assert name in [m.name for m in like]

    client.update_model_version(name, 1, "version one")
    assert client.get_model_version(name, 1).description == "version one"
    client.transition_model_version_stage(name, 1, "Production")
    [production] = client.get_latest_versions(name, ["Production"])
    assert str(production.version) == "1" and production.current_stage == "Production"
    client.set_model_version_tag(name, 2, "checked", "yes")
    client.set_model_version_tag(name, key="deployed", value="yes", stage="Production")
    client.delete_model_version_tag(name, 2, "checked")
    assert client.get_model_version(name, 1).tags == {"deployed": "yes"}
    assert "checked" not in client.get_model_version(name, 2).tags

    versions = client.search_model_versions(f"name = '{name}'")
    assert sorted(str(v.version) for v in versions) == ["1", "2"]
    assert all(v.run_id == run_id for v in versions)
    fluent = mlflow.search_model_versions(filter_string=f"name = '{name}'", max_results=1)
    assert len(fluent) == 1
    first_page = client.search_model_versions(f"name = '{name}'", max_results=1)
    assert len(first_page) == 1 and first_page.token
    rest = client.search_model_versions(
        f"name = '{name}'", max_results=1, page_token=first_page.token
    )
    assert {str(first_page[0].version), str(rest[0].version)} == {"1", "2"}

    assert client.get_model_version_download_uri(name, 1).startswith("mlflow-artifacts:")

    client.delete_model_version(name, 2)
    assert [str(v.version) for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
    client.delete_registered_model(name)
    with pytest.raises(ResourceDoesNotExist):
        client.get_registered_model(name)
    assert mlflow.search_registered_models(filter_string=f"name = '{name}'") == []
    with pytest.raises(MltrackError, match=r"^Give either version or stage"):
        client.set_model_version_tag(name, key="k", value="v")


def test_models_uris_are_downloaded_read_and_loaded_over_http(
    mlflow: Any, server: Server, tmp_path: Path
) -> None:
    name = _unique("served")
    _, info = _logged_echo(mlflow, name)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, "champion", 1)
    client.transition_model_version_stage(name, 1, "Staging")

    whole = Path(
        mlflow.artifacts.download_artifacts("models:/" + name + "/1", dst_path=str(tmp_path / "a"))
    )
    assert whole == tmp_path / "a" and (whole / "MLmodel").is_file()
    one = mlflow.artifacts.download_artifacts(
        f"models:/{name}@champion/MLmodel", dst_path=str(tmp_path / "b")
    )
    assert Path(one) == tmp_path / "b" / "MLmodel"
    assert "python_function" in mlflow.artifacts.load_text(f"models:/{name}/Staging/MLmodel")
    assert "python_function" in mlflow.artifacts.load_text(f"models:/{info.model_id}/MLmodel")
    assert "dependencies" in mlflow.artifacts.load_dict(f"models:/{name}/latest/conda.yaml")
    listed = [f.path for f in mlflow.artifacts.list_artifacts(f"models:/{name}/1")]
    assert "MLmodel" in listed and "python_model.pkl" in listed

    for uri in (
        f"models:/{name}/1",
        f"models:/{name}@champion",
        f"models:/{name}/Staging",
        f"models:/{name}/latest",
        info.model_uri,
    ):
        assert mlflow.pyfunc.load_model(uri).predict(["a"]) == ["echo:a"], uri

    from mltrack.exceptions import MltrackError

    with pytest.raises(MltrackError):
        mlflow.artifacts.load_text(f"models:/{name}/1/nothing.txt")
    with pytest.raises(MltrackError):
        mlflow.pyfunc.load_model(f"models:/{name}/Production")


def test_set_signature_and_model_info_over_http(mlflow: Any, server: Server) -> None:
    from mltrack.models.signature import ModelSignature
    from mltrack.types.schema import ColSpec, Schema

    mlflow.set_experiment(_unique("signature"))
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="echo", python_model=_echo_model(mlflow))
    signature = ModelSignature(inputs=Schema([ColSpec("string", "text")]))
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/echo"):
        mlflow.models.set_signature(uri, signature)
        assert mlflow.models.get_model_info(uri).signature.inputs.input_names() == ["text"]
        assert mlflow.pyfunc.load_model(uri).metadata.signature.inputs.input_names() == ["text"]
    if server.repo is not None:  # the server recorded the new MLmodel's hash: it loads there too
        from mltrack.models.uri import local_artifact
        from mltrack.tracking.context import open_repository

        assert (
            local_artifact(info.model_uri, open_repository(str(server.repo))) / "MLmodel"
        ).is_file()


def test_evaluate_over_http_logs_metrics_and_plots_to_the_server(
    mlflow: Any, server: Server, tmp_path: Path
) -> None:
    """Computed here, logged through the REST client to the run on the server; the result's
    artifacts are the server's and read back from it."""
    import mlflow as real_mlflow
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    labels = (features["a"] + 0.3 * rng.normal(size=60) > 0).astype(int)
    model = LogisticRegression().fit(features, labels)
    data = features.assign(label=labels)
    mlflow.set_experiment(_unique("evaluate"))
    with mlflow.start_run() as run:
        result = mlflow.evaluate(model.predict, data, targets="label", model_type="classifier")
    assert result.run_id == run.info.run_id
    expected = float((model.predict(features) == labels).mean())
    assert result.metrics["accuracy_score"] == pytest.approx(expected)
    stored = real_mlflow.MlflowClient(server.url).get_run(run.info.run_id)
    assert stored.data.metrics["accuracy_score"] == pytest.approx(expected)
    assert stored.data.metrics["example_count"] == 60
    listed = [f.path for f in real_mlflow.MlflowClient(server.url).list_artifacts(run.info.run_id)]
    assert "confusion_matrix.png" in listed
    matrix = result.artifacts["confusion_matrix"]
    assert not matrix.uri.startswith("file:") and matrix.uri.endswith("/confusion_matrix.png")
    assert matrix.content.size[0] > 0  # a PIL image, downloaded from the server
    result.save(tmp_path / "saved")
    assert (tmp_path / "saved" / "artifacts" / "confusion_matrix.png").is_file()
    assert [i.dataset.name for i in stored.inputs.dataset_inputs] == ["dataset"]
