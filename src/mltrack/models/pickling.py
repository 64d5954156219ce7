"""Reading and writing pickled models, including MLflow-written ones without MLflow.

MLflow's cloudpickled ``PythonModel`` files refer to a handful of MLflow classes
by name (the base class, a type-hint holder, a validation wrapper). Unpickling
maps exactly those names to small local stand-ins, so such models load and
predict without MLflow installed; any other ``mlflow.*`` name must import for
real. Files are only unpickled after their sha256 was checked (``verify_directory``).

That check catches accidental edits, not an attacker who can rewrite the hashes
too; a deployment that loads models it does not fully trust turns unpickling
off with ``MLTRACK_ALLOW_PICKLE_DESERIALIZATION=false`` (or MLflow's
``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``) and accepts only skops files.
"""

from __future__ import annotations

import importlib
import os
import pickle
from pathlib import Path
from typing import Any, NamedTuple

from mltrack.exceptions import InvalidParameterValue, MltrackError
from mltrack.models.python_model import PythonModel

__all__ = ["PICKLE_SWITCHES", "cloudpickle_module", "dump", "load", "refuse_unless_allowed"]

PICKLE_SWITCHES = ("MLTRACK_ALLOW_PICKLE_DESERIALIZATION", "MLFLOW_ALLOW_PICKLE_DESERIALIZATION")


def refuse_unless_allowed(path: Path) -> None:
    """Raise if either switch says pickles may not be loaded here (both default to allowed)."""
    for name in PICKLE_SWITCHES:
        value = os.environ.get(name, "true").strip().lower()
        if value in ("false", "0", "no", "off"):
            raise InvalidParameterValue(
                f"Refusing to unpickle {path.name}: {name}={os.environ[name]} forbids loading "
                "pickled models here (unpickling can run any code). Save the model with "
                "serialization_format='skops', or unset the variable to allow pickles."
            )


class _TypeHints:
    def __init__(self, input_: Any = None, output: Any = None) -> None:
        self.input = input_
        self.output = output


class _FuncInfo(NamedTuple):
    input_type_hint: Any
    input_param_name: str


def _validate_model_input(
    args: Any, kwargs: Any, model_input_index: Any, type_hint: Any, name: Any
) -> Any:
    return args, kwargs


def _stand_ins() -> dict[tuple[str, str], Any]:
    return {
        ("mlflow.pyfunc.model", "PythonModel"): PythonModel,
        ("mlflow.models.signature", "_TypeHints"): _TypeHints,
        ("mlflow.pyfunc.utils.data_validation", "_validate_model_input"): _validate_model_input,
        ("mlflow.pyfunc.utils.data_validation", "FuncInfo"): _FuncInfo,
        ("mlflow.exceptions", "MlflowException"): MltrackError,
    }


class MlflowAwareUnpickler(pickle.Unpickler):
    """Unpickles MLflow-written files: MLflow classes resolve to mltrack's stand-ins."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "mlflow" or module.startswith("mlflow."):
            stand_in = _stand_ins().get((module, name))
            if stand_in is not None:
                return stand_in
            try:
                importlib.import_module(module)
            except ImportError:
                raise InvalidParameterValue(
                    f"The pickled model needs {module}.{name} from MLflow, which is not installed "
                    "and has no mltrack equivalent."
                ) from None
        return super().find_class(module, name)


def cloudpickle_module() -> Any:
    """cloudpickle (a dependency), imported on first use: ``import mltrack`` stays fast."""
    import cloudpickle

    return cloudpickle


def dump(obj: Any, path: Path, serialization_format: str) -> None:
    with open(path, "wb") as handle:
        if serialization_format == "cloudpickle":
            cloudpickle_module().dump(obj, handle, protocol=pickle.DEFAULT_PROTOCOL)
        else:
            pickle.dump(obj, handle, protocol=pickle.DEFAULT_PROTOCOL)


def load(path: Path) -> Any:
    """Unpickle a pickle or cloudpickle file (cloudpickle's helpers are ordinary imports)."""
    refuse_unless_allowed(path)
    cloudpickle_module()  # cloudpickle files reconstruct through its functions
    with open(path, "rb") as handle:
        return MlflowAwareUnpickler(handle).load()
