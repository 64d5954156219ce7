"""The XGBoost flavor: ``save_model``, ``log_model``, ``load_model``, ``autolog``.

The model is stored in XGBoost's own format (``model.ubj`` by default, or
``model.json``), never pickled; MLmodel records ``model_class`` so a Booster
comes back as a Booster and an ``XGBClassifier`` as an ``XGBClassifier``,
exactly as MLflow's ``mlflow.xgboost`` writes and reads it.
"""

from __future__ import annotations

import importlib
import inspect
import os
import platform
from pathlib import Path
from typing import Any

from mltrack.exceptions import InvalidParameterValue
from mltrack.models.model import Model, ModelInfo
from mltrack.models.signature import ModelSignature

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "load_pyfunc", "log_model", "save_model"]

FLAVOR_NAME = "xgboost"
MODEL_FORMATS = ("ubj", "json", "deprecated")


def _class_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__name__}"


def save_model(
    xgb_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Model | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    model_format: str = "ubj",
    metadata: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Model:
    """Save an XGBoost Booster or scikit-learn-API model as an MLflow-compatible directory."""
    import xgboost as xgb

    from mltrack.models.flavor import build_directory, example_signature, write_requirements

    if not isinstance(xgb_model, (xgb.Booster, xgb.XGBModel)):
        raise InvalidParameterValue(
            f"xgb_model must be an xgboost.Booster or XGBModel, not {type(xgb_model).__name__}."
        )
    if model_format not in MODEL_FORMATS:
        raise InvalidParameterValue(
            f"Unknown model_format {model_format!r}: use one of {', '.join(MODEL_FORMATS)}."
        )
    with build_directory(path) as build:
        file_name = f"model.{model_format}"
        xgb_model.save_model(str(build / file_name), **kwargs)
        model = mlflow_model or Model()
        model.signature = example_signature(
            build, model, input_example, signature, _XGBoostWrapper(xgb_model).predict
        )
        model.metadata = metadata
        model.add_flavor(
            "python_function",
            loader_module="mlflow.xgboost",
            data=file_name,
            env={"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            python_version=platform.python_version(),
        )
        model.add_flavor(
            FLAVOR_NAME,
            xgb_version=xgb.__version__,
            data=file_name,
            model_class=_class_name(xgb_model),
            model_format=model_format,
            code=None,
        )
        modules = {"xgboost"} | ({"sklearn"} if isinstance(xgb_model, xgb.XGBModel) else set())
        write_requirements(build, modules, pip_requirements, extra_pip_requirements)
        model.save(build)
    return model


def log_model(
    xgb_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    model_format: str = "ubj",
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log an XGBoost model to the active run (``name`` as MLflow 3, ``artifact_path`` as MLflow 2)."""
    from mltrack.models.logging import log_model_directory

    def write(path: Path, model: Model) -> Model:
        return save_model(
            xgb_model,
            path,
            mlflow_model=model,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            model_format=model_format,
            metadata=metadata,
            **kwargs,
        )

    return log_model_directory(
        write,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
    )


def _load(directory: Path, model: Model) -> Any:
    from mltrack.models.flavor import flavor_file

    conf = model.flavors.get(FLAVOR_NAME) or model.flavors.get("python_function") or {}
    path = flavor_file(directory, conf, "data")
    module_name, _, class_name = str(conf.get("model_class") or "xgboost.core.Booster").rpartition(
        "."
    )
    if module_name.split(".", 1)[0] != "xgboost":
        raise InvalidParameterValue(
            f"{directory / 'MLmodel'}: model_class {conf.get('model_class')!r} is not an XGBoost class."
        )
    xgb_model = getattr(importlib.import_module(module_name), class_name)()
    xgb_model.load_model(str(path))
    return xgb_model


class _XGBoostWrapper:
    def __init__(self, xgb_model: Any) -> None:
        self.raw_model = xgb_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import xgboost as xgb

        model = self.raw_model
        if isinstance(model, xgb.Booster):
            return model.predict(xgb.DMatrix(data), **_accepted(model.predict, params))
        return model.predict(data, **_accepted(model.predict, params))


def _accepted(function: Any, params: dict[str, Any] | None) -> dict[str, Any]:
    """The inference params ``function`` takes (others are ignored, as MLflow ignores them)."""
    names = inspect.signature(function).parameters
    return {k: v for k, v in (params or {}).items() if k in names}


def load_pyfunc(directory: Path, model: Model) -> _XGBoostWrapper:
    return _XGBoostWrapper(_load(directory, model))


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The XGBoost model itself: a Booster or the saved scikit-learn-API class (files checked first)."""
    from mltrack.models.flavor import open_flavor

    directory, model = open_flavor(model_uri, FLAVOR_NAME)
    return _load(directory, model)


def autolog(*args: Any, **kwargs: Any) -> None:
    """Log params, per-round metrics and the model of every ``xgboost.train`` (MLflow's autolog)."""
    from mltrack.models.autolog_boosting import autolog_xgboost

    autolog_xgboost(*args, **kwargs)
