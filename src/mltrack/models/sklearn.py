"""The scikit-learn flavor: ``save_model``, ``log_model``, ``load_model``, ``autolog``.

Directories are written exactly as MLflow lays them out (``loader_module:
mlflow.sklearn``), so ``mlflow.pyfunc.load_model`` reads them; MLflow-written
ones (skops, pickle, cloudpickle) load here.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.models import pickling
from mltrack.models.flavor import write_requirements
from mltrack.models.logging import log_model_directory
from mltrack.models.model import (
    Model,
    ModelInfo,
    installed_version,
    verify_directory,
)
from mltrack.models.requirements import modules_in_pickle
from mltrack.models.saving import prepare_target, save_example
from mltrack.models.signature import ModelSignature, infer_signature
from mltrack.models.uri import resolve

__all__ = ["FLAVOR_NAME", "load_model", "load_pyfunc", "log_model", "save_model"]

FLAVOR_NAME = "sklearn"
SERIALIZATION_FORMATS = ("cloudpickle", "pickle", "skops")
_FILES = {"pickle": "model.pkl", "cloudpickle": "model.pkl", "skops": "model.skops"}


def _sample(example: Any, rows: int = 5) -> Any:
    return example.head(rows) if hasattr(example, "head") else example[:rows]


def save_model(
    sk_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Model | None = None,
    serialization_format: str = "cloudpickle",
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    skops_trusted_types: list[str] | None = None,
    **_: Any,
) -> Model:
    """Save a fitted estimator as an MLflow-compatible model directory at ``path``."""
    if serialization_format not in SERIALIZATION_FORMATS:
        raise InvalidParameterValue(
            f"Unknown serialization_format {serialization_format!r}: use one of {', '.join(SERIALIZATION_FORMATS)}."
        )
    if not callable(getattr(sk_model, pyfunc_predict_fn, None)):
        raise InvalidParameterValue(
            f"The model has no method {pyfunc_predict_fn!r} to serve as its predict function."
        )
    target = prepare_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=".mltrack-model-", dir=target.parent))
    try:
        file_name = _FILES[serialization_format]
        if serialization_format == "skops":
            sio = skops_io()
            sio.dump(sk_model, build / file_name)
        else:
            pickling.dump(sk_model, build / file_name, serialization_format)
        model = mlflow_model or Model()
        example = save_example(build, model, input_example) if input_example is not None else None
        if signature is None and example is not None:
            sample = _sample(example)
            signature = infer_signature(sample, sk_model.predict(sample))
        model.signature = signature
        model.metadata = metadata
        model.add_flavor(
            "python_function",
            env={"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            loader_module="mlflow.sklearn",
            model_path=file_name,
            predict_fn=pyfunc_predict_fn,
            python_version=platform.python_version(),
        )
        model.add_flavor(
            FLAVOR_NAME,
            code=None,
            pickled_model=file_name,
            serialization_format=serialization_format,
            sklearn_version=installed_version("scikit-learn"),
            skops_trusted_types=skops_trusted_types,
        )
        if serialization_format == "skops":
            modules = {"sklearn", "numpy", "scipy", "skops"}
        else:  # the packages of every class and function the pickle references
            modules = {"sklearn"} | modules_in_pickle(build / file_name)
            if serialization_format == "cloudpickle":
                modules.add("cloudpickle")
        write_requirements(build, modules, pip_requirements, extra_pip_requirements)
        model.save(build)
        if target.exists():
            target.rmdir()
        os.replace(build, target)
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)
    return model


def log_model(
    sk_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    serialization_format: str = "cloudpickle",
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    name: str | None = None,
    skops_trusted_types: list[str] | None = None,
) -> ModelInfo:
    """Log a fitted estimator to the active run (``name`` as MLflow 3, ``artifact_path`` as MLflow 2)."""

    def write(path: Path, model: Model) -> Model:
        return save_model(
            sk_model,
            path,
            mlflow_model=model,
            serialization_format=serialization_format,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            pyfunc_predict_fn=pyfunc_predict_fn,
            metadata=metadata,
            skops_trusted_types=skops_trusted_types,
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


def skops_io() -> Any:
    try:
        import skops.io as sio
    except ImportError:
        raise InvalidParameterValue(
            "This model is stored in skops format; install skops (pip install skops) to load it."
        ) from None
    return sio


def _load_estimator(directory: Path, model: Model) -> Any:
    conf = model.flavors.get(FLAVOR_NAME)
    pyfunc = model.flavors.get("python_function") or {}
    if conf is not None:
        file_name = conf.get("pickled_model") or pyfunc.get("model_path")
        serialization = conf.get("serialization_format") or "pickle"
        trusted = conf.get("skops_trusted_types")
    else:
        file_name = pyfunc.get("model_path") or pyfunc.get("data")
        serialization, trusted = "pickle", None
    if not file_name:
        raise InvalidParameterValue(
            f"{directory / 'MLmodel'} names no model file (pickled_model/model_path)."
        )
    path = directory / file_name
    if not path.is_file():
        raise ResourceDoesNotExist(f"Model file {path} is missing.")
    if serialization == "skops":
        return skops_io().load(path, trusted=trusted)
    return pickling.load(path)


class _SklearnWrapper:
    def __init__(self, estimator: Any, predict_fn: str) -> None:
        self.raw_model = estimator
        self.predict_fn = predict_fn

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        method = (params or {}).get("predict_method", self.predict_fn)
        if method not in (
            "predict",
            "predict_proba",
            "predict_log_proba",
            "decision_function",
            "transform",
        ):
            raise InvalidParameterValue(f"Unknown predict_method {method!r}.")
        function = getattr(self.raw_model, method, None)
        if function is None:
            raise InvalidParameterValue(f"This {type(self.raw_model).__name__} has no {method}().")
        return function(data)


def load_pyfunc(directory: Path, model: Model) -> _SklearnWrapper:
    predict_fn = (model.flavors.get("python_function") or {}).get("predict_fn") or "predict"
    return _SklearnWrapper(_load_estimator(directory, model), predict_fn)


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The fitted estimator itself (files checked against their sha256 first)."""
    resolved = resolve(model_uri)
    model = Model.load(resolved.directory)
    if FLAVOR_NAME not in model.flavors:
        raise InvalidParameterValue(f'Model at {model_uri} does not have the "sklearn" flavor.')
    verify_directory(resolved.directory, model, resolved.mlmodel_sha256)
    resolved.verify_files(resolved.directory)
    return _load_estimator(resolved.directory, model)
