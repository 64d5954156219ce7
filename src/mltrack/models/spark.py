"""Scoring with Spark: ``mltrack.pyfunc.spark_udf`` and ``mltrack models predict --engine spark``.

As MLflow's ``spark_udf``: the model's directory (from the working tree, a
logged model or a registered version's tagged snapshot) is checked against its
recorded sha256, zipped and shipped to the executors with ``SparkContext.addFile``;
each executor process unpacks and loads it once and scores Arrow batches of
rows with ``PyFuncModel.predict`` (so the signature is enforced). Inputs are
the given columns (named by the signature's input columns when their number
matches), one struct column (its fields are the columns), or, for a tensor
signature, one array column.
"""

from __future__ import annotations

import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mltrack.exceptions import InvalidParameterValue

__all__ = ["predict_with_spark", "spark_udf"]

_loaded: dict[str, Any] = {}  # per executor process: archive name -> PyFuncModel
_lock = threading.Lock()


def _archive(directory: Path, name: str) -> Path:
    target = Path(tempfile.mkdtemp(prefix="mltrack-spark-")) / name
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())
    return target


def _executor_model(archive_name: str, mlmodel_sha256: str | None, config: Any) -> Any:
    """The model on this executor: unpacked from the shipped archive and loaded once."""
    with _lock:
        model = _loaded.get(archive_name)
        if model is None:
            from pyspark import SparkFiles

            from mltrack.models.pyfunc import load_resolved
            from mltrack.models.uri import ResolvedModel

            directory = Path(tempfile.mkdtemp(prefix="mltrack-model-"))
            with zipfile.ZipFile(SparkFiles.get(archive_name)) as archive:
                archive.extractall(directory)
            resolved = ResolvedModel(directory, f"shipped model {archive_name}", mlmodel_sha256)
            model = load_resolved(resolved, model_config=config)
            _loaded[archive_name] = model
        return model


def _spark_type(spark: Any, result_type: Any) -> Any:
    from pyspark.sql.types import DataType

    if isinstance(result_type, DataType):
        return result_type
    from pyspark.sql.types import _parse_datatype_string

    try:
        return _parse_datatype_string(str(result_type))
    except Exception as error:
        raise InvalidParameterValue(
            f"result_type {result_type!r} is not a Spark type ({error})."
        ) from None


_SIGNATURE_TYPES = {
    "double": "double", "float": "float", "long": "long", "integer": "int", "boolean": "boolean",
    "string": "string", "float64": "double", "float32": "float", "int64": "long", "int32": "int",
    "bool": "boolean",
}  # fmt: skip


def _default_result_type(model: Any) -> str:
    """From the signature's output: one scalar column, or a tensor (an array per row)."""
    outputs = model.get_output_schema()
    if outputs is None or len(outputs.inputs) != 1:
        return "double"
    spec = outputs.inputs[0]
    tensor = getattr(spec, "shape", None)
    kind = _SIGNATURE_TYPES.get(str(getattr(spec, "dtype", None) or spec.type), "double")
    if tensor is not None and len(tensor) > 1:
        return f"array<{kind}>"
    return kind


def _to_numpy_dtype(spark_type: Any) -> Any:
    from pyspark.sql import types as T

    return {
        T.DoubleType: "float64",
        T.FloatType: "float32",
        T.LongType: "int64",
        T.IntegerType: "int32",
        T.ShortType: "int16",
        T.BooleanType: "bool",
        T.StringType: "object",
    }.get(type(spark_type))


def _result(prediction: Any, spark_type: Any, rows: int) -> Any:
    import numpy as np
    import pandas as pd
    from pyspark.sql import types as T

    if isinstance(spark_type, T.StructType):
        frame = prediction if isinstance(prediction, pd.DataFrame) else pd.DataFrame(prediction)
        names = [field.name for field in spark_type.fields]
        if list(frame.columns) != names:
            frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
            missing = [n for n in names if n not in frame.columns]
            if missing:
                raise InvalidParameterValue(
                    f"The model's output has no column(s) {', '.join(missing)} for the result struct."
                )
        return frame[names].reset_index(drop=True)
    if isinstance(spark_type, T.ArrayType):
        values = (
            prediction.to_numpy() if hasattr(prediction, "to_numpy") else np.asarray(prediction)
        )
        values = values.reshape(rows, -1) if values.ndim == 1 else values
        dtype = _to_numpy_dtype(spark_type.elementType)
        return pd.Series(list(values.astype(dtype) if dtype else values))
    if isinstance(prediction, pd.DataFrame):
        if prediction.shape[1] != 1:
            raise InvalidParameterValue(
                f"The model returns {prediction.shape[1]} columns; use an array or struct result_type."
            )
        prediction = prediction.iloc[:, 0]
    values = np.asarray(prediction)
    if values.ndim > 1:
        raise InvalidParameterValue(
            f"The model returns arrays of shape {values.shape}; use an array result_type."
        )
    if isinstance(spark_type, T.StringType):
        return pd.Series(values).astype(str)
    dtype = _to_numpy_dtype(spark_type)
    return pd.Series(values.astype(dtype) if dtype else values)


def _input_frame(batch: Any, names: list[str] | None, tensor: bool) -> Any:
    import numpy as np
    import pandas as pd

    if not isinstance(batch, tuple):  # Spark passes a lone argument as itself
        batch = (batch,)
    if len(batch) == 1 and isinstance(batch[0], pd.DataFrame):
        return batch[0]  # one struct column: its fields are the model's columns
    if tensor and len(batch) == 1 and batch[0].dtype == object:
        return np.stack(batch[0].to_numpy())  # one array column per row: a 2-D tensor
    columns = names if names is not None and len(names) == len(batch) else range(len(batch))
    frame = pd.concat([s.reset_index(drop=True) for s in batch], axis=1)
    frame.columns = [str(c) for c in columns] if names is not None else list(columns)
    return frame


def spark_udf(
    spark: Any,
    model_uri: str,
    result_type: Any = None,
    env_manager: str | None = None,
    params: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    model_config: dict[str, Any] | None = None,
) -> Any:
    """A Spark pandas UDF scoring rows with the model (MLflow's ``mlflow.pyfunc.spark_udf``).

    Call it with the input columns (``udf("a", "b")`` or ``udf(struct(...))``), or with
    none to use the signature's input columns. ``result_type`` is a Spark type or DDL
    string (``"double"``, ``"array<float>"``, ``"struct<a: double, b: long>"``); by
    default it follows the signature's output.
    """
    from pyspark.sql.functions import col, pandas_udf, struct

    from mltrack.models.model import Model, verify_directory
    from mltrack.models.uri import resolve

    if env_manager not in (None, "local"):
        raise InvalidParameterValue(
            f"env_manager={env_manager!r} is not supported: executors score in their own environment."
        )
    resolved = resolve(model_uri)
    metadata = Model.load(resolved.directory)
    verify_directory(resolved.directory, metadata, resolved.mlmodel_sha256)
    resolved.verify_files(resolved.directory)
    digest = resolved.mlmodel_sha256 or metadata.model_uuid or "model"
    archive_name = f"mltrack-model-{digest[:24]}.zip"
    spark.sparkContext.addFile(str(_archive(resolved.directory, archive_name)))
    spark_type = _spark_type(spark, result_type or _default_result_type(metadata))
    inputs = metadata.get_input_schema()
    names = inputs.input_names() if inputs is not None and inputs.has_input_names() else None
    tensor = inputs is not None and inputs.is_tensor_spec
    sha = resolved.mlmodel_sha256
    config = dict(model_config or {})
    inference_params = dict(params or {}) or None
    env = dict(extra_env or {})

    def predict(batches: Iterator[tuple[Any, ...]]) -> Iterator[Any]:
        import os

        os.environ.update(env)
        model = _executor_model(archive_name, sha, config)
        for batch in batches:
            frame = _input_frame(batch, names, tensor)
            yield _result(model.predict(frame, inference_params), spark_type, len(frame))

    import typing

    import pandas as pd

    # PySpark reads the UDF's kind from these hints, and only knows typing.Union.
    predict.__annotations__ = {
        "batches": Iterator[tuple[typing.Union[pd.Series, pd.DataFrame], ...]],  # noqa: UP007
        "return": Iterator[pd.DataFrame] if _is_struct(spark_type) else Iterator[pd.Series],
    }
    udf = pandas_udf(predict, returnType=spark_type)  # type: ignore[call-overload]

    def call(*columns: Any) -> Any:
        if not columns:
            if names is None:
                raise InvalidParameterValue(
                    "The model's signature names no input columns; pass the columns to the UDF."
                )
            return udf(struct(*[col(f"`{n}`") for n in names]))
        return udf(*columns)

    call.__doc__ = f"Scores rows with {model_uri}."
    return call


def _is_struct(spark_type: Any) -> bool:
    from pyspark.sql.types import StructType

    return isinstance(spark_type, StructType)


_READERS = {".csv": "csv", ".parquet": "parquet", ".json": "json", ".jsonl": "json"}


def predict_with_spark(
    model_uri: str,
    input_path: str,
    output_path: str,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    master: str = "local[*]",
    result_type: str | None = None,
    params: dict[str, Any] | None = None,
) -> int:
    """Score a file (or a directory of part files) with Spark; writes a Spark output directory.

    Returns the number of rows scored. The predictions are a ``prediction`` column
    beside the input columns.
    """
    from pyspark.sql import SparkSession

    source = Path(input_path)
    kind = input_format or _READERS.get(source.suffix.lower())
    if kind is None:
        raise InvalidParameterValue(
            f"Cannot tell the format of {input_path}: pass --content-type csv, json or parquet."
        )
    kind = {"jsonl": "json"}.get(kind, kind)
    written = output_format or _READERS.get(Path(output_path).suffix.lower(), "parquet")
    if Path(output_path).exists():
        raise InvalidParameterValue(f"{output_path} already exists; Spark writes a new directory.")
    spark = SparkSession.builder.master(master).appName("mltrack predict").getOrCreate()
    reader = spark.read.option("header", "true").option("inferSchema", "true")
    frame = reader.format(kind).load(str(source))
    udf = spark_udf(spark, model_uri, result_type=result_type, params=params)
    model = _model_inputs(model_uri)
    columns = [c for c in (model or frame.columns) if c in frame.columns] or frame.columns
    scored = frame.withColumn("prediction", udf(*columns))
    if written == "csv" and scored.schema["prediction"].dataType.typeName() in ("array", "struct"):
        raise InvalidParameterValue("CSV cannot hold array or struct predictions; write parquet.")
    scored.write.format(written).option("header", "true").save(output_path)
    return int(spark.read.format(written).option("header", "true").load(output_path).count())


def _model_inputs(model_uri: str) -> list[str] | None:
    from mltrack.models.model import Model
    from mltrack.models.uri import resolve

    inputs = Model.load(resolve(model_uri).directory).get_input_schema()
    return inputs.input_names() if inputs is not None and inputs.has_input_names() else None
