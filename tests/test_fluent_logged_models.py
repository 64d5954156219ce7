"""MLflow 3's fluent logged-model functions and the active model, as an MLflow user writes them."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

import mltrack as mlflow
from mltrack.entities import LoggedModelInput, LoggedModelOutput
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist


def _log_two_models() -> tuple[str, str]:
    with mlflow.start_run():
        first = mlflow.sklearn.log_model(LinearRegression().fit([[0], [1]], [0, 1]), name="model")
        second = mlflow.sklearn.log_model(
            LinearRegression().fit([[0], [1]], [1, 0]), name="another_model"
        )
    return first.model_id, second.model_id


def test_search_logged_models_as_mlflows_example(repo: Path) -> None:
    first, second = _log_two_models()
    models = mlflow.search_logged_models(output_format="list")
    assert [m.name for m in models] == ["another_model", "model"]
    models = mlflow.search_logged_models(
        filter_string="name = 'another_model'", output_format="list"
    )
    assert [m.model_id for m in models] == [second]
    models = mlflow.search_logged_models(
        order_by=[{"field_name": "creation_time", "ascending": True}], output_format="list"
    )
    assert [m.name for m in models] == ["model", "another_model"]
    assert [
        m.model_id for m in mlflow.search_logged_models(max_results=1, output_format="list")
    ] == [second]
    frame = mlflow.search_logged_models()
    assert list(frame["model_id"]) == [second, first]
    assert {
        "name", "status", "source_run_id", "artifact_location", "tags", "params", "metrics"
    } <= set(frame.columns)  # fmt: skip
    assert "files_run_id" not in frame.columns  # mltrack's own field


def test_search_logged_models_by_experiment_and_paging(repo: Path) -> None:
    _log_two_models()
    other = mlflow.create_experiment("other")
    with mlflow.start_run(experiment_id=other):
        for index in range(3):
            mlflow.sklearn.log_model(
                LinearRegression().fit([[0], [1]], [0, index]), name=f"m{index}"
            )
    found = mlflow.search_logged_models(experiment_ids=[other], output_format="list")
    assert sorted(m.name for m in found) == ["m0", "m1", "m2"]
    both = mlflow.search_logged_models(experiment_ids=["0", other], output_format="list")
    assert len(both) == 5
    client_page = mlflow.MlflowClient().search_logged_models(["0", other], max_results=2)
    assert len(client_page) == 2 and client_page.token


def test_search_logged_models_refuses_what_it_cannot_answer(repo: Path) -> None:
    with pytest.raises(InvalidParameterValue, match="Unsupported output format"):
        mlflow.search_logged_models(output_format="json")
    with pytest.raises(InvalidParameterValue, match="`dataset_name` in the `datasets` clause"):
        mlflow.search_logged_models(datasets=[{"dataset_digest": "abc"}])


def test_model_metrics_on_a_dataset_as_mlflows_example(repo: Path) -> None:
    """MLflow 3's "model metrics" flow: log a model, evaluate it on a dataset in another run."""
    first, second = _log_two_models()
    evaluation = mlflow.data.from_numpy(np.array([[0.0], [1.0]]), name="holdout")
    with mlflow.start_run() as run:
        mlflow.log_metric("rmse", 0.25, step=1, model_id=first, dataset=evaluation)
        mlflow.log_metrics({"mae": 0.5, "r2": 0.9}, model_id=first, dataset=evaluation)
        mlflow.log_metric("plain", 1.0)
    model = mlflow.get_logged_model(first)
    digest = evaluation.digest
    assert {
        (m.key, m.value, m.step, m.run_id, m.dataset_name, m.dataset_digest) for m in model.metrics
    } == {
        ("rmse", 0.25, 1, run.info.run_id, "holdout", digest),
        ("mae", 0.5, 0, run.info.run_id, "holdout", digest),
        ("r2", 0.9, 0, run.info.run_id, "holdout", digest),
    }
    assert mlflow.get_logged_model(second).metrics == []
    # as MLflow's fluent API: the model and the dataset became inputs of the evaluating run
    inputs = mlflow.get_run(run.info.run_id).inputs
    assert [m.model_id for m in inputs.model_inputs] == [first]
    assert [(d.dataset.name, d.dataset.digest) for d in inputs.dataset_inputs] == [
        ("holdout", digest)
    ]
    assert mlflow.get_run(run.info.run_id).data.metrics == {
        "rmse": 0.25, "mae": 0.5, "r2": 0.9, "plain": 1.0
    }  # fmt: skip
    found = mlflow.search_logged_models(
        datasets=[{"dataset_name": "holdout", "dataset_digest": digest}], output_format="list"
    )
    assert [m.model_id for m in found] == [first]


def test_log_inputs_and_outputs_of_models(repo: Path) -> None:
    first, second = _log_two_models()
    with mlflow.start_run() as run:
        mlflow.log_inputs(models=[LoggedModelInput(first)])
        mlflow.log_input(model=LoggedModelInput(second))
        mlflow.log_outputs([LoggedModelOutput(second, 5)])
    fetched = mlflow.get_run(run.info.run_id)
    assert [m.model_id for m in fetched.inputs.model_inputs] == [first, second]
    assert fetched.outputs.model_outputs == (LoggedModelOutput(second, 5),)
    assert fetched.inputs.dataset_inputs == ()


def test_get_logged_model(repo: Path) -> None:
    first, _ = _log_two_models()
    model = mlflow.get_logged_model(first)
    assert model.name == "model" and model.status == "READY"
    assert mlflow.MlflowClient().get_logged_model(first) == model
    with pytest.raises(ResourceDoesNotExist):
        mlflow.get_logged_model("m-0000")


def test_set_active_model_by_name_creates_and_then_finds_it(repo: Path) -> None:
    assert mlflow.get_active_model_id() is None
    active = mlflow.set_active_model(name="agent")
    assert mlflow.get_active_model_id() == active.model_id
    assert active.name == "agent" and active.tags["mlflow.model.isExternal"] == "true"
    again = mlflow.set_active_model(name="agent")
    assert again.model_id == active.model_id
    assert len(mlflow.search_logged_models(output_format="list")) == 1


def test_set_active_model_by_id_and_as_a_context_manager(repo: Path) -> None:
    first, second = _log_two_models()
    mlflow.set_active_model(model_id=first)
    with mlflow.set_active_model(model_id=second) as active:
        assert isinstance(active, mlflow.ActiveModel)
        assert mlflow.get_active_model_id() == second
    assert mlflow.get_active_model_id() == first
    mlflow.clear_active_model()
    assert mlflow.get_active_model_id() is None
    with pytest.raises(InvalidParameterValue, match="does not match the provided name"):
        mlflow.set_active_model(name="wrong", model_id=first)
    with pytest.raises(InvalidParameterValue, match="Either name or model_id"):
        mlflow.set_active_model()
    with pytest.raises(ResourceDoesNotExist):
        mlflow.set_active_model(model_id="m-0000")


def test_the_active_model_is_per_thread_with_the_environment_as_default(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _log_two_models()
    monkeypatch.setenv("MLFLOW_ACTIVE_MODEL_ID", first)
    assert mlflow.get_active_model_id() == first
    mlflow.set_active_model(model_id=second)
    seen: list[str | None] = []
    thread = threading.Thread(target=lambda: seen.append(mlflow.get_active_model_id()))
    thread.start()
    thread.join()
    assert seen == [first] and mlflow.get_active_model_id() == second
    mlflow.clear_active_model()
    assert mlflow.get_active_model_id() is None


def test_model_functions_default_to_the_active_model(repo: Path) -> None:
    first, _ = _log_two_models()
    with pytest.raises(InvalidParameterValue, match="no active model"):
        mlflow.log_model_params({"alpha": 1})
    mlflow.set_active_model(model_id=first)
    mlflow.log_model_params({"alpha": 1})
    mlflow.set_logged_model_tags(None, {"stage": "candidate"})
    model = mlflow.get_logged_model(first)
    assert model.params["alpha"] == "1" and model.tags["stage"] == "candidate"
    mlflow.delete_logged_model_tag(first, "stage")
    assert "stage" not in mlflow.get_logged_model(first).tags


def test_initialize_finalize_and_external_models(repo: Path) -> None:
    with mlflow.start_run() as run:
        pending = mlflow.initialize_logged_model(name="custom", params={"k": "v"})
        assert pending.status == "PENDING" and pending.source_run_id == run.info.run_id
        ready = mlflow.finalize_logged_model(pending.model_id, "READY")
        assert ready.status == "READY"
        external = mlflow.create_external_model(name="served-elsewhere", model_type="agent")
    assert external.status == "READY" and external.model_type == "agent"
    assert mlflow.last_logged_model().model_id == external.model_id


def test_client_lists_a_models_files_relative_to_the_model(repo: Path) -> None:
    first, _ = _log_two_models()
    client = mlflow.MlflowClient()
    files = client.list_logged_model_artifacts(first)
    assert "MLmodel" in {f.path for f in files if not f.is_dir}
    assert all(not f.path.startswith("model/") for f in files)
    assert client.list_logged_model_artifacts(first, "no-such-dir") == []
    with pytest.raises(InvalidParameterValue):
        client.list_logged_model_artifacts(first, "../another_model")
