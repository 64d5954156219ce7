"""The generic python_function flavor: load any supported model, predict with a DataFrame.

``load_model`` resolves every model URI form, checks every file's sha256
before anything is unpickled, and returns a :class:`PyFuncModel` whose
``predict`` enforces the model signature. Models are loaded by their MLmodel
``loader_module``: ``mlflow.sklearn``, ``mlflow.xgboost``, ``mlflow.lightgbm``,
``mlflow.pytorch``, ``mlflow.keras`` and ``mlflow.pyfunc.model`` (MLflow's names, so
directories move freely between MLflow and mltrack).
"""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.models import pickling, sklearn
from mltrack.models.flavor import write_requirements
from mltrack.models.logging import log_model_directory
from mltrack.models.model import MLMODEL, Model, ModelInfo, verify_directory
from mltrack.models.python_model import PythonModel, PythonModelContext
from mltrack.models.requirements import modules_in_pickle
from mltrack.models.saving import prepare_target, save_example
from mltrack.models.signature import ModelSignature, enforce_params, enforce_schema, infer_signature
from mltrack.models.uri import ResolvedModel, local_artifact, resolve

__all__ = [
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "load_model",
    "load_resolved",
    "log_model",
    "save_model",
]

FLAVOR_NAME = "python_function"


class PyFuncModel:
    """A loaded model: ``predict(data, params=None)`` after checking the input against the signature."""

    def __init__(self, metadata: Model, implementation: Any, path: Path) -> None:
        self.metadata = metadata
        self._implementation = implementation
        self.path = path

    @property
    def loader_module(self) -> str:
        return str(self.metadata.flavors[FLAVOR_NAME].get("loader_module"))

    @property
    def model_id(self) -> str | None:
        return self.metadata.model_id

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        signature = self.metadata.signature
        if signature is not None:
            data = enforce_schema(data, signature.inputs)
            if signature.params is not None:
                params = enforce_params(params, signature.params)
        return self._implementation.predict(data, params)

    def unwrap_python_model(self) -> Any:
        inner = getattr(self._implementation, "python_model", None)
        if inner is None:
            raise InvalidParameterValue("This model is not a custom PythonModel.")
        return inner

    def get_raw_model(self) -> Any:
        return getattr(self._implementation, "raw_model", self._implementation)

    def __repr__(self) -> str:
        return f"PyFuncModel(loader_module={self.loader_module!r}, path={str(self.path)!r})"


# ---------------------------------------------------------------------- loaders


class _PythonModelWrapper:
    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context
        signature = inspect.signature(python_model.predict)
        names = [n for n in signature.parameters if n != "params"]
        self._wants_context = "context" in signature.parameters or len(names) == 2
        self._wants_params = "params" in signature.parameters

    @property
    def raw_model(self) -> Any:
        return self.python_model

    def predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        args: list[Any] = [self.context, data] if self._wants_context else [data]
        if self._wants_params:
            return self.python_model.predict(*args, params=params)
        return self.python_model.predict(*args)


def _load_python_model(
    directory: Path, conf: dict[str, Any], model_config: dict[str, Any] | None
) -> Any:
    if conf.get("model_code_path"):
        raise InvalidParameterValue(
            "This is an MLflow 'models from code' model; it needs MLflow itself to load."
        )
    if not conf.get("python_model"):
        raise InvalidParameterValue(
            f"{directory / MLMODEL}: python_function has no 'python_model' file."
        )
    if conf.get("code"):
        code_dir = str(directory / conf["code"])
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
    python_model = pickling.load(directory / conf["python_model"])
    artifacts = {
        name: str(directory / info["path"]) for name, info in (conf.get("artifacts") or {}).items()
    }
    config = dict(conf.get("config") or {})
    config.update(model_config or {})
    context = PythonModelContext(artifacts, config)
    python_model.load_context(context)
    return _PythonModelWrapper(python_model, context)


def _implementation(directory: Path, model: Model, model_config: dict[str, Any] | None) -> Any:
    conf = model.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise ResourceDoesNotExist(
            f'Model at {directory} does not have the "python_function" flavor.'
        )
    loader = conf.get("loader_module")
    if loader in ("mlflow.sklearn", "mltrack.models.sklearn"):
        return sklearn.load_pyfunc(directory, model)
    if loader in ("mlflow.pyfunc.model", "mltrack.models.pyfunc"):
        return _load_python_model(directory, conf, model_config)
    if loader == "mlflow.pytorch":
        from mltrack.models import pytorch

        return pytorch.load_pyfunc(directory, model, model_config)
    flavor = _FLAVOR_LOADERS.get(str(loader))
    if flavor is not None:
        return importlib.import_module(flavor).load_pyfunc(directory, model)
    raise InvalidParameterValue(
        f"Model at {directory} uses loader {loader!r}, which mltrack cannot load "
        "(supported: sklearn, xgboost, lightgbm, pytorch, keras and custom PythonModel models)."
    )


# MLflow's loader_module names -> mltrack's flavor modules (imported only when used).
_FLAVOR_LOADERS = {
    "mlflow.xgboost": "mltrack.models.xgboost",
    "mlflow.lightgbm": "mltrack.models.lightgbm",
    "mlflow.keras": "mltrack.models.keras",
}


def load_model(
    model_uri: str,
    suppress_warnings: bool = False,
    dst_path: str | None = None,
    model_config: dict[str, Any] | None = None,
) -> PyFuncModel:
    """Load a model from any URI (runs:/, models:/name/version|stage|latest, models:/name@alias,
    models:/m-<id>, a path); every file's sha256 is checked before anything is unpickled."""
    return load_resolved(resolve(model_uri), dst_path, model_config)


def load_resolved(
    resolved: ResolvedModel,
    dst_path: str | None = None,
    model_config: dict[str, Any] | None = None,
) -> PyFuncModel:
    """Load a model whose URI was already resolved (e.g. to see first whether it changed)."""
    directory = resolved.directory
    if dst_path is not None:
        target = Path(dst_path) / directory.name
        shutil.copytree(directory, target, dirs_exist_ok=True)
        directory = target
    model = Model.load(directory)
    verify_directory(directory, model, resolved.mlmodel_sha256)
    resolved.verify_files(directory)
    return PyFuncModel(model, _implementation(directory, model, model_config), directory)


# ---------------------------------------------------------------------- saving custom models


def save_model(
    path: str | os.PathLike[str],
    python_model: PythonModel | None = None,
    artifacts: dict[str, str] | None = None,
    code_paths: list[str] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
    mlmodel: Model | None = None,
    **_: Any,
) -> Model:
    """Save a custom :class:`PythonModel` (cloudpickled) as an MLflow-compatible directory."""
    import platform

    if python_model is None:
        raise InvalidParameterValue("save_model needs python_model=<a PythonModel instance>.")
    if not callable(getattr(python_model, "predict", None)):
        raise InvalidParameterValue(
            "python_model must have a predict(context, model_input, params=None) method."
        )
    target = prepare_target(path)
    build = Path(
        tempfile.mkdtemp(
            prefix=".mltrack-model-", dir=target.parent if target.parent.exists() else None
        )
    )
    try:
        model = mlmodel or Model()
        conf: dict[str, Any] = {
            "loader_module": "mlflow.pyfunc.model",
            "python_model": "python_model.pkl",
            "python_version": platform.python_version(),
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            "streamable": False,
        }
        pickling.dump(python_model, build / "python_model.pkl", "cloudpickle")
        conf["cloudpickle_version"] = getattr(pickling.cloudpickle_module(), "__version__", None)
        if artifacts:
            conf["artifacts"] = _copy_artifacts(artifacts, build / "artifacts")
        if code_paths:
            (build / "code").mkdir()
            for code in code_paths:
                code_path = Path(code)
                copy = shutil.copytree if code_path.is_dir() else shutil.copyfile
                copy(code_path, build / "code" / code_path.name)
            conf["code"] = "code"
        if model_config:
            conf["config"] = dict(model_config)
        example = save_example(build, model, input_example) if input_example is not None else None
        if signature is None and example is not None:
            signature = infer_signature(example)
        model.signature = signature
        model.metadata = metadata
        model.add_flavor(FLAVOR_NAME, **conf)
        modules = {"cloudpickle", "numpy", "pandas"} | modules_in_pickle(build / "python_model.pkl")
        write_requirements(build, modules, pip_requirements, extra_pip_requirements)
        model.save(build)
        if target.exists():
            target.rmdir()
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(build, target)
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)
    return model


def _copy_artifacts(artifacts: dict[str, str], directory: Path) -> dict[str, dict[str, str]]:
    """Copy each artifact (any URI :func:`local_artifact` resolves) into the model directory.

    Each keeps its own name (a model URI's directory name, e.g. ``model``); a name
    already taken by another artifact gets a number after it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    conf = {}
    for name, uri in artifacts.items():
        source = local_artifact(str(uri))
        entry, taken = source.name, 1
        while (directory / entry).exists():
            taken += 1
            entry = f"{source.name}-{taken}"
        if source.is_dir():
            shutil.copytree(source, directory / entry)
        else:
            shutil.copyfile(source, directory / entry)
        conf[name] = {"path": f"artifacts/{entry}", "uri": str(uri)}
    return conf


def log_model(
    artifact_path: str | None = None,
    python_model: PythonModel | None = None,
    *,
    name: str | None = None,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log a custom PythonModel to the active run (``name`` as MLflow 3, ``artifact_path`` as MLflow 2)."""

    def write(path: Path, model: Model) -> Model:
        return save_model(path, python_model=python_model, mlmodel=model, **kwargs)

    return log_model_directory(
        write, name=name, artifact_path=artifact_path, registered_model_name=registered_model_name
    )
