"""The Keras 3 flavor: ``save_model``, ``log_model``, ``load_model``, ``autolog``.

The model is Keras' native ``.keras`` archive at ``data/model.keras`` (loaded
with Keras' ``safe_mode``: no arbitrary code), with ``data/keras_module.txt``,
as MLflow's ``mlflow.keras`` lays it out. MLmodel records the Keras backend the
model was saved with; when Keras is not imported yet and ``KERAS_BACKEND`` is
unset, loading selects that backend, so a server or Spark worker needs no extra
setting.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

from mltrack.exceptions import InvalidParameterValue
from mltrack.models.model import Model, ModelInfo
from mltrack.models.signature import ModelSignature

__all__ = ["FLAVOR_NAME", "load_model", "load_pyfunc", "log_model", "save_model"]

FLAVOR_NAME = "keras"
_DATA = "data"
_BACKEND_MODULES = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    save_exported_model: bool = False,
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    save_model_kwargs: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    **_: Any,
) -> Model:
    """Save a Keras 3 model (``.keras`` format) as an MLflow-compatible directory."""
    import keras

    from mltrack.models.flavor import build_directory, example_signature, write_requirements
    from mltrack.models.requirements import modules_in_keras_archive

    if save_exported_model:
        raise InvalidParameterValue(
            "save_exported_model=True (a TensorFlow SavedModel) is not supported; "
            "mltrack saves Keras models in the .keras format."
        )
    if not isinstance(model, keras.Model):
        raise InvalidParameterValue(f"model must be a keras.Model, not {type(model).__name__}.")
    backend = keras.backend.backend()
    with build_directory(path) as build:
        data = build / _DATA
        data.mkdir()
        (data / "keras_module.txt").write_text("keras")
        model.save(str(data / "model.keras"), **(save_model_kwargs or {}))
        mlmodel = mlflow_model or Model()
        mlmodel.signature = example_signature(
            build, mlmodel, input_example, signature, _KerasWrapper(model).predict
        )
        mlmodel.metadata = metadata
        mlmodel.add_flavor(
            FLAVOR_NAME,
            data=_DATA,
            keras_version=keras.__version__,
            keras_backend=backend,
            save_exported_model=False,
        )
        mlmodel.add_flavor(
            "python_function",
            loader_module="mlflow.keras",
            env={"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            python_version=platform.python_version(),
        )
        modules = {"keras", _BACKEND_MODULES.get(backend, backend)}
        modules |= modules_in_keras_archive(data / "model.keras")
        write_requirements(build, modules, pip_requirements, extra_pip_requirements)
        mlmodel.save(build)
    return mlmodel


def log_model(
    model: Any,
    artifact_path: str | None = None,
    save_exported_model: bool = False,
    conda_env: Any = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    registered_model_name: str | None = None,
    await_registration_for: int | None = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    save_model_kwargs: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    **_: Any,
) -> ModelInfo:
    """Log a Keras 3 model to the active run (``name`` as MLflow 3, ``artifact_path`` as MLflow 2)."""
    from mltrack.models.logging import log_model_directory

    def write(path: Path, mlmodel: Model) -> Model:
        return save_model(
            model,
            path,
            save_exported_model=save_exported_model,
            mlflow_model=mlmodel,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            save_model_kwargs=save_model_kwargs,
            metadata=metadata,
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


def _load(
    directory: Path,
    model: Model,
    custom_objects: dict[str, Any] | None = None,
    load_model_kwargs: dict[str, Any] | None = None,
) -> Any:
    from mltrack.models.flavor import flavor_file

    conf = model.flavors.get(FLAVOR_NAME) or {}
    if conf.get("save_exported_model"):
        raise InvalidParameterValue(
            "This Keras model was saved as a TensorFlow SavedModel (save_exported_model=True), "
            "which mltrack does not load; save it in the .keras format."
        )
    backend = conf.get("keras_backend")
    if "keras" not in sys.modules and not os.environ.get("KERAS_BACKEND") and backend:
        os.environ["KERAS_BACKEND"] = str(backend)
    import keras

    data = flavor_file(directory, {"data": conf.get("data") or _DATA}, "data")
    path = data / "model.keras" if data.is_dir() else data
    return keras.saving.load_model(
        str(path), custom_objects=custom_objects, **(load_model_kwargs or {})
    )


class _KerasWrapper:
    def __init__(self, model: Any) -> None:
        self.raw_model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            values = data.to_numpy(copy=True)
            return pd.DataFrame(self.raw_model.predict(values, verbose=0), index=data.index)
        if not isinstance(data, (np.ndarray, list, tuple, dict)):
            raise InvalidParameterValue(
                f"A Keras model predicts from a DataFrame, array, list or dict, not {type(data).__name__}."
            )
        if isinstance(data, np.ndarray):
            data = np.require(
                data, requirements=["W"]
            )  # the torch backend refuses read-only buffers
        return np.asarray(self.raw_model.predict(data, verbose=0))


def load_pyfunc(directory: Path, model: Model) -> _KerasWrapper:
    return _KerasWrapper(_load(directory, model))


def load_model(
    model_uri: str,
    dst_path: str | None = None,
    custom_objects: dict[str, Any] | None = None,
    load_model_kwargs: dict[str, Any] | None = None,
) -> Any:
    """The ``keras.Model`` itself (files checked first; Keras' safe_mode applies)."""
    from mltrack.models.flavor import open_flavor

    directory, model = open_flavor(model_uri, FLAVOR_NAME)
    return _load(directory, model, custom_objects, load_model_kwargs)
