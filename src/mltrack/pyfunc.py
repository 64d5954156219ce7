"""``mltrack.pyfunc`` (``import mltrack.pyfunc`` as with ``mlflow.pyfunc``)."""

from typing import Any as _Any

from mltrack.models.pyfunc import (
    PyFuncModel,
    PythonModel,
    PythonModelContext,
    load_model,
    log_model,
    save_model,
)


def spark_udf(spark: _Any, model_uri: str, result_type: _Any = None, **kwargs: _Any) -> _Any:
    """A Spark pandas UDF scoring rows with the model (MLflow's ``spark_udf``; needs PySpark)."""
    from mltrack.models.spark import spark_udf as make

    return make(spark, model_uri, result_type, **kwargs)


def get_model_dependencies(model_uri: str, format: str = "pip") -> str:
    """The local path of the model's ``requirements.txt`` (``format="pip"``) or ``conda.yaml``
    (``format="conda"``), as MLflow's ``pyfunc.get_model_dependencies``."""
    from mltrack.models.model_files import get_model_dependencies as find

    return find(model_uri, format)


__all__ = [
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "get_model_dependencies",
    "load_model",
    "log_model",
    "save_model",
    "spark_udf",
]
