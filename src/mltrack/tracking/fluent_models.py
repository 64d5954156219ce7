"""MLflow 3's fluent logged-model functions and the active model.

``search_logged_models``/``get_logged_model`` read through the client of the
current repository (:class:`~mltrack.tracking.logged_models.LoggedModels` does
the filtering, ordering and paging for the library and ``mltrack server``
alike). The *active model* is per-thread state, as MLflow's
(:mod:`mltrack.tracking.active_model`):
``set_active_model`` picks a logged model by id or name (creating an external
one, with no files, for a new name), ``get_active_model_id`` falls back to
``MLFLOW_ACTIVE_MODEL_ID``, and the functions that take a ``model_id``
(``log_model_params``, ``set_logged_model_tags`` …) default to it. mltrack
records no traces and links a metric point to a model only when ``log_metric``
is given ``model_id=``, so nothing else reads it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from mltrack.entities import LoggedModel, LoggedModelStatus
from mltrack.exceptions import InvalidParameterValue
from mltrack.tracking import fluent
from mltrack.tracking.active_model import (
    clear_active_model,
    get_active_model_id,
    set_active_model_id,
)

if TYPE_CHECKING:
    import pandas

__all__ = [
    "ActiveModel",
    "clear_active_model",
    "create_external_model",
    "delete_logged_model_tag",
    "finalize_logged_model",
    "get_active_model_id",
    "get_logged_model",
    "initialize_logged_model",
    "log_model_params",
    "log_outputs",
    "search_logged_models",
    "set_active_model",
    "set_logged_model_tags",
]

EXTERNAL_TAG = "mlflow.model.isExternal"
logger = logging.getLogger("mltrack")


def get_logged_model(model_id: str) -> LoggedModel:
    return fluent.client().get_logged_model(model_id)


def search_logged_models(
    experiment_ids: list[str] | None = None,
    filter_string: str | None = None,
    datasets: list[dict[str, str]] | None = None,
    max_results: int | None = None,
    order_by: list[dict[str, Any]] | None = None,
    output_format: str = "pandas",
) -> pandas.DataFrame | list[LoggedModel]:
    """Logged models of the experiments (default: the active one), MLflow's filter grammar."""
    if output_format not in ("pandas", "list"):
        raise InvalidParameterValue(
            f"Unsupported output format {output_format!r}: use 'pandas' or 'list'."
        )
    client = fluent.client()
    ids = [str(e) for e in experiment_ids] if experiment_ids else [fluent.active_experiment_id()]
    models: list[LoggedModel] = []
    token: str | None = None
    while True:
        page = client.search_logged_models(
            ids,
            filter_string=filter_string,
            datasets=datasets,
            max_results=max_results,
            order_by=order_by,
            page_token=token,
        )
        models.extend(page)
        token = page.token
        if not token or (max_results is not None and len(models) >= max_results):
            break
    if max_results is not None:
        models = models[:max_results]
    if output_format == "list":
        return models
    import pandas as pd

    columns = [f.name for f in fields(LoggedModel) if f.name != "files_run_id"]
    return pd.DataFrame([asdict(m) for m in models], columns=columns)


# ---------------------------------------------------------------------- the active model


class ActiveModel(LoggedModel):
    """The logged model ``set_active_model`` made active; ``with`` restores the previous one."""

    def __enter__(self) -> ActiveModel:
        return self

    def __exit__(self, *exc: object) -> None:
        set_active_model_id(self.__dict__.get("_previous"))


def set_active_model(*, name: str | None = None, model_id: str | None = None) -> ActiveModel:
    """Make a logged model active in this thread: by id, or by name (the newest of that name,
    created as an external model with no files if there is none)."""
    if name is None and model_id is None:
        raise InvalidParameterValue("Either name or model_id must be provided")
    if model_id is not None:
        model = get_logged_model(model_id)
        if name is not None and model.name != name:
            raise InvalidParameterValue(
                f"LoggedModel with model_id {model_id!r} has name {model.name!r}, which does "
                f"not match the provided name {name!r}."
            )
    else:
        model = _newest_named(str(name))
    previous = get_active_model_id()
    active = ActiveModel(**{f.name: getattr(model, f.name) for f in fields(LoggedModel)})
    active.__dict__["_previous"] = previous
    set_active_model_id(active.model_id)
    return active


def _newest_named(name: str) -> LoggedModel:
    escaped = name.replace("'", "\\'")
    found = search_logged_models(
        filter_string=f"name = '{escaped}'",
        order_by=[{"field_name": "creation_timestamp", "ascending": False}],
        max_results=2,
        output_format="list",
    )
    assert isinstance(found, list)
    if len(found) > 1:
        logger.warning("several logged models are named %r: the newest one is active", name)
    if found:
        return found[0]
    return _create_external(name)


def _create_external(name: str) -> LoggedModel:
    return create_external_model(name)


def initialize_logged_model(
    name: str | None = None,
    source_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    model_type: str | None = None,
    experiment_id: str | None = None,
) -> LoggedModel:
    """A new PENDING logged model, in the active run (or ``source_run_id``) if any."""
    run = fluent.active_run()
    if source_run_id is None and run is not None:
        source_run_id = run.run_id
    if experiment_id is None:
        experiment_id = (
            fluent.get_run(source_run_id).info.experiment_id
            if source_run_id
            else fluent.active_experiment_id()
        )
    return fluent.client().create_logged_model(
        str(experiment_id),
        name=name,
        source_run_id=source_run_id,
        tags=tags,
        params=params,
        model_type=model_type,
    )


def create_external_model(
    name: str | None = None,
    source_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    model_type: str | None = None,
    experiment_id: str | None = None,
) -> LoggedModel:
    """A READY logged model whose files live elsewhere (tag ``mlflow.model.isExternal``)."""
    model = initialize_logged_model(
        name,
        source_run_id,
        {**(tags or {}), EXTERNAL_TAG: "true"},
        params,
        model_type,
        experiment_id,
    )
    fluent.note_logged_model(model.model_id)
    return fluent.client().finalize_logged_model(model.model_id, LoggedModelStatus.READY)


def finalize_logged_model(model_id: str, status: str) -> LoggedModel:
    return fluent.client().finalize_logged_model(model_id, status)


def log_outputs(models: list[Any] | None = None) -> None:
    """Record the active run's models (``LoggedModelOutput``: model id and step)."""
    fluent.client().log_outputs(fluent.live_run().run_id, list(models or ()))


def _model_id(model_id: str | None) -> str:
    chosen = model_id or get_active_model_id()
    if not chosen:
        raise InvalidParameterValue(
            "No model_id given and no active model: pass model_id= or call "
            "mltrack.set_active_model() first."
        )
    return chosen


def log_model_params(params: dict[str, Any], model_id: str | None = None) -> None:
    """Params of a logged model (default: the active model)."""
    fluent.client().log_model_params(_model_id(model_id), params)


def set_logged_model_tags(model_id: str | None, tags: dict[str, Any]) -> None:
    fluent.client().set_logged_model_tags(_model_id(model_id), tags)


def delete_logged_model_tag(model_id: str | None, key: str) -> None:
    fluent.client().delete_logged_model_tag(_model_id(model_id), key)
