"""mltrack: MLflow's ML lifecycle stored in your own git repository.

``import mltrack as mlflow`` keeps MLflow scripts working: the fluent tracking
functions, ``MltrackClient`` (also as ``MlflowClient``), ``mltrack.data``,
``mltrack.sklearn``, ``mltrack.xgboost``, ``mltrack.lightgbm``, ``mltrack.pytorch``,
``mltrack.keras``, ``mltrack.autolog``, ``mltrack.pyfunc`` and ``mltrack.projects`` (with
``mltrack.run``) are all here. Everything is loaded on first use, so
``import mltrack`` stays fast and imports no ML framework.
"""

# No `from __future__ import annotations` and only private imports here: every
# public name of this module is part of the API (tests check __all__ against dir()).
import importlib as _importlib
from typing import Any as _Any

__version__ = "0.1.0"

_FLUENT = (
    "ActiveRun",
    "active_run",
    "create_experiment",
    "delete_experiment",
    "delete_experiment_tag",
    "delete_run",
    "delete_tag",
    "end_run",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_parent_run",
    "get_registry_uri",
    "get_run",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "last_active_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_inputs",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_stream",
    "log_text",
    "restore_experiment",
    "restore_run",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_registry_uri",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
)

_MEDIA = ("load_table", "log_image", "log_table")

_LOGGED_MODELS = (
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
)

_SYSTEM_METRICS = (
    "disable_system_metrics_logging",
    "enable_system_metrics_logging",
    "set_system_metrics_node_id",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
)

_REGISTRY = ("search_model_versions", "search_registered_models", "set_model_version_tag")

_ASYNC = ("RunOperations", "flush_artifact_async_logging", "flush_async_logging")

# public name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    **{name: ("mltrack.tracking.fluent", name) for name in _FLUENT},
    **{name: ("mltrack.tracking.fluent_media", name) for name in _MEDIA},
    **{name: ("mltrack.tracking.fluent_models", name) for name in _LOGGED_MODELS},
    **{name: ("mltrack.tracking.system_metrics", name) for name in _SYSTEM_METRICS},
    **{name: ("mltrack.tracking.async_logging", name) for name in _ASYNC},
    "system_metrics": ("mltrack.tracking.system_metrics", None),
    "client": ("mltrack.client", None),
    "last_logged_model": ("mltrack.tracking.fluent", "last_logged_model"),
    "artifacts": ("mltrack.artifacts", None),
    "MltrackClient": ("mltrack.client", "MltrackClient"),
    "MlflowClient": ("mltrack.client", "MltrackClient"),
    "MltrackError": ("mltrack.exceptions", "MltrackError"),
    "MlflowException": ("mltrack.exceptions", "MlflowException"),
    "register_model": ("mltrack.registry", "register_model"),
    **{name: ("mltrack.registry.fluent", name) for name in _REGISTRY},
    "infer_signature": ("mltrack.models.signature", "infer_signature"),
    "evaluate": ("mltrack.models.evaluation", "evaluate"),
    "metrics": ("mltrack.metrics", None),
    "data": ("mltrack.data", None),
    "models": ("mltrack.models", None),
    "pyfunc": ("mltrack.pyfunc", None),
    "sklearn": ("mltrack.sklearn", None),
    "xgboost": ("mltrack.xgboost", None),
    "lightgbm": ("mltrack.lightgbm", None),
    "pytorch": ("mltrack.pytorch", None),
    "keras": ("mltrack.keras", None),
    "autolog": ("mltrack.models.autolog_all", "autolog"),
    "entities": ("mltrack.entities", None),
    "exceptions": ("mltrack.exceptions", None),
    "projects": ("mltrack.projects", None),
    "run": ("mltrack.projects", "run"),  # mlflow.run: run a project
    "tracking": ("mltrack.tracking", None),
    "types": ("mltrack.types", None),
}

VERSION = __version__  # mlflow.VERSION

__all__ = sorted([*_LAZY, "VERSION", "__version__"])


def __getattr__(name: str) -> _Any:
    target = _LAZY.get(name)
    if target is None:
        if not name.startswith("_"):
            from mltrack.not_offered import not_offered

            error = not_offered(name)
            if error is not None:  # an MLflow name mltrack does not offer: say why
                raise error
        raise AttributeError(f"module 'mltrack' has no attribute {name!r}")
    module = _importlib.import_module(target[0])
    value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
