"""``mltrack.pyfunc`` (``import mltrack.pyfunc`` as with ``mlflow.pyfunc``)."""

from mltrack.models.pyfunc import (
    PyFuncModel,
    PythonModel,
    PythonModelContext,
    load_model,
    log_model,
    save_model,
)

__all__ = [
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "load_model",
    "log_model",
    "save_model",
]
