"""Logging a model into a run: the shared part of every flavor's ``log_model``.

The model directory lands under the run's ``artifacts/<name>/`` (so
``runs:/<run_id>/<name>`` names it), and the run records it as an MLflow 3
logged model (``models:/m-<id>``) with the sha256 of its MLmodel file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mltrack.exceptions import InvalidParameterValue
from mltrack.hashing import sha256_file
from mltrack.models import remote
from mltrack.models.model import MLMODEL, Model, ModelInfo
from mltrack.store import validation
from mltrack.store.model_store import ModelStore
from mltrack.store.repository import now_ms
from mltrack.tracking import fluent
from mltrack.uris import logged_model_uri, new_logged_model_id, runs_uri

if TYPE_CHECKING:
    from mltrack.tracking.remote import RemoteTrackingClient

__all__ = ["log_model_directory"]

Writer = Callable[[Path, Model], Model]


def log_model_directory(
    write: Writer,
    *,
    name: str | None,
    artifact_path: str | None,
    registered_model_name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
) -> ModelInfo:
    if name and artifact_path and name != artifact_path:
        raise InvalidParameterValue(
            "Pass either name (MLflow 3) or artifact_path (MLflow 2), not both."
        )
    relative = validation.artifact_path(name or artifact_path or "model", "model name")
    if not relative:
        raise InvalidParameterValue("The model name is empty.")
    the_client = fluent.client()
    if the_client.remote:
        info = remote.log_model(
            cast("RemoteTrackingClient", the_client),
            write,
            run_id=fluent.live_run().run_id,
            name=relative,
            params=params,
            tags=tags,
            model_type=model_type,
            step=step,
            registered_model_name=registered_model_name,
        )
        fluent.note_logged_model(str(info.model_id))
        return info
    live = fluent.local_live_run("Logging a model")
    run_id = live.run_id
    target = live.run_dir / "artifacts" / relative
    if target.exists():
        raise InvalidParameterValue(
            f"Run {run_id} already has a model or artifact at '{relative}'; choose another name."
        )
    model_id = new_logged_model_id()
    model = Model(artifact_path=relative, run_id=run_id, model_id=model_id, model_uuid=model_id)
    saved = write(target, model)
    live.add_outputs(
        [
            {
                "model_id": model_id,
                "name": relative,
                "artifact_path": relative,
                "step": int(step),
                "status": "READY",
                "model_type": model_type,
                "creation_timestamp": now_ms(),
                "tags": {str(k): str(v) for k, v in (tags or {}).items()},
                "params": {str(k): str(v) for k, v in (params or {}).items()},
                "mlmodel_sha256": sha256_file(target / MLMODEL),
            }
        ]
    )
    fluent.note_logged_model(model_id)
    version = None
    if registered_model_name:
        # The registry's store, not the registry (a layer above models): tag the next version
        # right after the run's commit, when the run ends.
        store = ModelStore(fluent.client().repository)
        version = store.register(registered_model_name, runs_uri(run_id, relative)).version
    return saved.info(
        logged_model_uri(model_id),
        artifact_path=relative,
        model_id=model_id,
        run_id=run_id,
        registered_model_version=version,
    )
