"""The PyTorch flavor: ``save_model``, ``log_model``, ``load_model``, ``autolog`` (Lightning).

The files are MLflow's ``mlflow.pytorch`` layout under ``data/``:

- ``serialization_format="pt2"``: ``data/model.pt2``, a ``torch.export`` program (no
  pickled classes; needs an ``input_example`` array to trace with, as in MLflow);
- ``serialization_format="pickle"``: ``data/model.pth`` from ``torch.save`` with
  cloudpickle (so classes defined in a training script's ``__main__`` travel
  with the model) and ``data/pickle_module_info.txt`` naming the pickle module.

As in MLflow 3, the default is ``pt2`` when an array input example is given and
``pickle`` otherwise (MLflow refuses to save without an example). Either file's
sha256 is checked before PyTorch reads it.
"""

from __future__ import annotations

import os
import pickle
import platform
import types
from pathlib import Path
from typing import Any

from mltrack.exceptions import InvalidParameterValue
from mltrack.models.model import Model, ModelInfo
from mltrack.models.signature import ModelSignature

__all__ = ["FLAVOR_NAME", "load_model", "load_pyfunc", "log_model", "save_model"]

FLAVOR_NAME = "pytorch"
SERIALIZATION_FORMATS = ("pt2", "pickle")
_DATA = "data"
# The name MLflow records for its cloudpickle-based pickle module; MLflow loads our
# files with it, and mltrack reads MLflow's with the equivalent below.
_MLFLOW_PICKLE_MODULE = "mlflow.pytorch.pickle_module"


def _cloudpickle_module() -> Any:
    """A ``pickle_module`` for ``torch.save``/``torch.load``: cloudpickle to write, pickle to read."""
    from mltrack.models import pickling

    cloudpickle = pickling.cloudpickle_module()
    return types.SimpleNamespace(
        __name__=_MLFLOW_PICKLE_MODULE,
        Pickler=cloudpickle.CloudPickler,
        dump=cloudpickle.dump,
        dumps=cloudpickle.dumps,
        Unpickler=pickling.MlflowAwareUnpickler,
        load=pickle.load,
        loads=pickle.loads,
    )


def _example_array(input_example: Any) -> Any:
    import numpy as np

    example = input_example[0] if isinstance(input_example, tuple) else input_example
    return example if isinstance(example, np.ndarray) else None


def _export(pytorch_model: Any, example: Any, target: Path) -> None:
    import torch
    from torch.export import Dim

    tensor = torch.tensor(example)  # a copy: the example may be a read-only view
    # The batch dimension stays dynamic so the program scores any number of rows.
    dynamic = {0: Dim.AUTO} if hasattr(Dim, "AUTO") else None
    program = torch.export.export(pytorch_model, (tensor,), dynamic_shapes=(dynamic,))
    torch.export.save(program, str(target))


def save_model(
    pytorch_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    code_paths: list[str] | None = None,
    pickle_module: Any = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    serialization_format: str | None = None,
    **kwargs: Any,
) -> Model:
    """Save a ``torch.nn.Module`` as an MLflow-compatible model directory."""
    import torch

    from mltrack.models.flavor import build_directory, example_signature, write_requirements
    from mltrack.models.requirements import modules_in_pickle

    if not isinstance(pytorch_model, torch.nn.Module):
        raise InvalidParameterValue(
            f"pytorch_model must be a torch.nn.Module, not {type(pytorch_model).__name__}."
        )
    example = _example_array(input_example)
    if serialization_format is None:
        serialization_format = "pt2" if example is not None else "pickle"
    if serialization_format not in SERIALIZATION_FORMATS:
        raise InvalidParameterValue(
            f"Unknown serialization_format {serialization_format!r}: use 'pt2' or 'pickle'."
        )
    if serialization_format == "pt2" and example is None:
        raise InvalidParameterValue(
            "serialization_format='pt2' traces the model, so it needs input_example=<a numpy array>."
        )
    with build_directory(path) as build:
        data = build / _DATA
        data.mkdir()
        modules = {"torch"}
        pyfunc_conf: dict[str, Any] = {}
        if serialization_format == "pt2":
            _export(pytorch_model, example, data / "model.pt2")
        else:
            module = pickle_module or _cloudpickle_module()
            name = module.__name__
            (data / "pickle_module_info.txt").write_text(name)
            if isinstance(pytorch_model, torch.jit.ScriptModule):
                torch.jit.save(pytorch_model, str(data / "model.pth"))
            else:
                torch.save(pytorch_model, data / "model.pth", pickle_module=module, **kwargs)
            modules |= modules_in_pickle(data / "model.pth")
            if name == _MLFLOW_PICKLE_MODULE:
                modules.add("cloudpickle")
            pyfunc_conf["pickle_module_name"] = name
        model = mlflow_model or Model()
        model.signature = example_signature(
            build, model, input_example, signature, _TorchWrapper(pytorch_model).predict
        )
        model.metadata = metadata
        model.add_flavor(
            FLAVOR_NAME,
            model_data=_DATA,
            pytorch_version=str(torch.__version__),
            code=None,
        )
        model.add_flavor(
            "python_function",
            loader_module="mlflow.pytorch",
            data=_DATA,
            **pyfunc_conf,
            code=None,
            env={"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            config={"device": None},
            python_version=platform.python_version(),
        )
        write_requirements(build, modules, pip_requirements, extra_pip_requirements)
        model.save(build)
    return model


def log_model(
    pytorch_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    pickle_module: Any = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    serialization_format: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log a ``torch.nn.Module`` to the active run (``name`` as MLflow 3, ``artifact_path`` as MLflow 2)."""
    from mltrack.models.logging import log_model_directory

    def write(path: Path, model: Model) -> Model:
        return save_model(
            pytorch_model,
            path,
            mlflow_model=model,
            pickle_module=pickle_module,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
            serialization_format=serialization_format,
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


def _load(directory: Path, model: Model, device: str | None = None) -> Any:
    import importlib

    import torch

    from mltrack.models.flavor import flavor_file

    conf = model.flavors.get(FLAVOR_NAME) or {}
    data = flavor_file(directory, conf, "model_data") if conf else directory / _DATA
    exported = data / "model.pt2"
    if exported.is_file():
        module = torch.export.load(str(exported)).module()
    else:
        info = data / "pickle_module_info.txt"
        name = info.read_text().strip() if info.is_file() else "pickle"
        if name in (_MLFLOW_PICKLE_MODULE, "cloudpickle", "pickle"):
            pickle_module: Any = _cloudpickle_module()
        else:
            pickle_module = importlib.import_module(name)
        path = data / "model.pth"
        from mltrack.models.pickling import refuse_unless_allowed

        refuse_unless_allowed(path)
        try:
            module = torch.load(path, pickle_module=pickle_module, weights_only=False)
        except RuntimeError:  # a TorchScript archive, saved with torch.jit.save
            module = torch.jit.load(str(path))
        module.eval()
    return module.to(device) if device else module


class _TorchWrapper:
    def __init__(self, pytorch_model: Any, device: str = "cpu") -> None:
        self.raw_model = pytorch_model
        self.device = device

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np
        import pandas as pd
        import torch

        if isinstance(data, pd.DataFrame):
            values = data.to_numpy(dtype=np.float32)
        elif isinstance(data, np.ndarray):
            values = data
        else:
            raise InvalidParameterValue(
                f"A PyTorch model predicts from a DataFrame or numpy array, not {type(data).__name__}."
            )
        values = np.require(values, requirements=["W"])  # torch refuses read-only buffers
        with torch.no_grad():
            output = self.raw_model(torch.from_numpy(values).to(self.device), **(params or {}))
        if not isinstance(output, torch.Tensor):
            raise InvalidParameterValue(
                f"The model returned {type(output).__name__}; a served PyTorch model must return one tensor."
            )
        result = output.cpu().numpy()
        if isinstance(data, pd.DataFrame):
            return pd.DataFrame(result, index=data.index)
        return result


def load_pyfunc(
    directory: Path, model: Model, model_config: dict[str, Any] | None = None
) -> _TorchWrapper:
    config = dict((model.flavors.get("python_function") or {}).get("config") or {})
    config.update(model_config or {})
    device = config.get("device") or os.environ.get("MLFLOW_DEFAULT_PREDICTION_DEVICE") or "cpu"
    return _TorchWrapper(_load(directory, model, device), device)


def load_model(model_uri: str, dst_path: str | None = None, **_: Any) -> Any:
    """The ``torch.nn.Module`` itself, in eval mode (files checked first)."""
    from mltrack.models.flavor import open_flavor

    directory, model = open_flavor(model_uri, FLAVOR_NAME)
    return _load(directory, model)
