"""Versions registered from sources outside this repository, as MLflow accepts them.

A ``runs:/`` URI of a run this repository does not have, a bucket or a path, a logged
model with no files: the version records its source (and the ``run_id`` given), its tag
marks the commit that registered it, ``models verify`` lists it as unverifiable and loading
it says where its files must come from.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from conftest import git, invoke
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.server.app import create_app
from mltrack.server.config import ServerConfig, open_backend

API = "/api/2.0/mlflow"


@pytest.fixture
def registry(repo: Path):  # type: ignore[no-untyped-def]
    from mltrack import MltrackClient

    return MltrackClient().registry


def test_a_run_this_repository_lacks_is_registered_without_files(repo: Path, registry, cli) -> None:  # type: ignore[no-untyped-def]
    elsewhere = uuid.uuid4().hex
    registry.create_registered_model("imported")
    version = registry.create_model_version(
        "imported", f"runs:/{elsewhere}/model", run_id=elsewhere, tags={"origin": "team-b"}
    )
    assert (version.version, version.source, version.run_id) == (
        1,
        f"runs:/{elsewhere}/model",
        elsewhere,
    )
    assert version.tags == {"origin": "team-b"}
    tag = git(repo, "tag", "-l", "*imported*").split()
    assert len(tag) == 1
    # the tag marks the commit that registered it: the model's creation, before its tags
    assert git(repo, "log", "-1", "--format=%s", tag[0]).strip() == (
        "Create registered model 'imported'"
    )
    second = registry.create_model_version("imported", "s3://bucket/models/clf")
    assert (second.version, second.source, second.run_id) == (2, "s3://bucket/models/clf", "")

    result = invoke(cli, "models", "verify", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and len(report["unverifiable"]) == 2
    assert "s3://bucket/models/clf" in report["unverifiable"][1]
    text = invoke(cli, "models", "verify")
    assert text.exit_code == 0 and "unverifiable: 'imported' version 1" in text.stdout

    import mltrack

    with pytest.raises(ResourceDoesNotExist, match="load its files from that source"):
        mltrack.pyfunc.load_model("models:/imported/2")
    with pytest.raises(ResourceDoesNotExist, match="s3://bucket/models/clf"):
        registry.get_model_version_download_uri("imported", 2)


def test_a_typo_in_a_run_of_this_repository_is_still_an_error(repo: Path, registry) -> None:  # type: ignore[no-untyped-def]
    import mltrack

    with mltrack.start_run() as run:
        mltrack.log_param("p", 1)
    with pytest.raises(ResourceDoesNotExist, match="has no model at 'modle'"):
        registry.create_model_version("typo", f"runs:/{run.info.run_id}/modle")


def test_a_runs_source_must_name_the_run_id_sent_with_it(registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidParameterValue, match="must identify the resource"):
        registry.create_model_version("m", f"runs:/{uuid.uuid4().hex}/model", run_id="other")


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_over_rest_as_mlflow_answers(repo: Path) -> None:
    root = open_backend(str(repo), init=True)
    app = create_app(ServerConfig(root, owner_pid=os.getpid()))
    with TestClient(app, base_url="http://localhost") as http:
        ok(http.post(f"{API}/registered-models/create", json={"name": "m"}))
        created = ok(
            http.post(
                f"{API}/model-versions/create",
                json={"name": "m", "source": "runs:/run_id/model", "run_id": "run_id"},
            )
        )["model_version"]
        assert created["source"] == "runs:/run_id/model" and created["run_id"] == "run_id"
        found = ok(http.get(f"{API}/model-versions/search", params={"filter": "run_id = 'run_id'"}))
        assert [v["version"] for v in found["model_versions"]] == ["1"]
        mismatch = http.post(
            f"{API}/model-versions/create",
            json={"name": "m", "source": "runs:/run_id/model", "run_id": "run_id_1"},
        )
        assert mismatch.status_code == 400
        assert mismatch.json()["message"] == (
            "Invalid model version source: 'runs:/run_id/model'. The run_id request parameter "
            "must identify the resource that contains the source."
        )
        experiment_id = ok(http.post(f"{API}/experiments/create", json={"name": "e"}))[
            "experiment_id"
        ]
        model = ok(http.post(f"{API}/logged-models", json={"experiment_id": experiment_id}))
        model_id = model["model"]["info"]["model_id"]
        empty = ok(
            http.post(
                f"{API}/model-versions/create",
                json={"name": "m", "source": f"models:/{model_id}", "model_id": model_id},
            )
        )["model_version"]
        assert empty["version"] == "2" and empty["model_id"] == model_id
