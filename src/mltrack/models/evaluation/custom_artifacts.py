"""``custom_artifacts=``: functions of the evaluation that return more artifacts to log.

Each function is called as MLflow calls it, ``function(eval_df, builtin_metrics,
artifacts_dir)``: ``eval_df`` has the ``prediction`` and ``target`` columns,
``builtin_metrics`` the metrics just computed (name -> value), ``artifacts_dir`` a
temporary directory for its files. It returns ``{name: artifact}``, where an
artifact is a path to a file (``.png``, ``.jpg``, ``.jpeg``, ``.json``, ``.npy``,
``.csv``, ``.parquet``, ``.txt``), a JSON string, a DataFrame (CSV), a numpy array
(``.npy``), a matplotlib figure (PNG) or another JSON-serializable object.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mltrack.exceptions import InvalidParameterValue
from mltrack.models.evaluation.results import (
    CsvEvaluationArtifact,
    EvaluationArtifact,
    ImageEvaluationArtifact,
    JsonEvaluationArtifact,
    NumpyEvaluationArtifact,
    ParquetEvaluationArtifact,
    TextEvaluationArtifact,
)

__all__ = ["ArtifactSink", "run_custom_artifacts"]

logger = logging.getLogger("mltrack")

_BY_EXTENSION: dict[str, type[EvaluationArtifact]] = {
    ".png": ImageEvaluationArtifact,
    ".jpg": ImageEvaluationArtifact,
    ".jpeg": ImageEvaluationArtifact,
    ".json": JsonEvaluationArtifact,
    ".npy": NumpyEvaluationArtifact,
    ".csv": CsvEvaluationArtifact,
    ".parquet": ParquetEvaluationArtifact,
    ".txt": TextEvaluationArtifact,
}

# (file written in the evaluation's work directory, artifact class) -> the logged artifact
ArtifactSink = Callable[[str, Path, type[EvaluationArtifact], Any], EvaluationArtifact]


def _write(
    name: str, value: Any, workdir: Path, where: str
) -> tuple[Path, type[EvaluationArtifact]]:
    """The file for one returned artifact, and its kind."""
    import numpy as np
    import pandas as pd

    if isinstance(value, str) and not Path(value).exists():
        try:
            json.loads(value)
        except ValueError:
            raise InvalidParameterValue(
                f"{where} produced an artifact '{name}' with string representation {value!r} that "
                "is neither a valid path to a file nor a JSON string."
            ) from None
        path = workdir / f"{name}.json"
        path.write_text(value)
        return path, JsonEvaluationArtifact
    if isinstance(value, (str, Path)):
        source = Path(value)
        if not source.is_file():
            raise InvalidParameterValue(
                f"{where} produced an artifact '{name}' with path '{source}' that is not a file."
            )
        kind = _BY_EXTENSION.get(source.suffix)
        if kind is None:
            raise InvalidParameterValue(
                f"{where} produced an artifact '{name}' with path '{source}' that does not match "
                f"any of the supported file extensions: {', '.join(_BY_EXTENSION)}."
            )
        path = workdir / f"{name}{source.suffix}"
        shutil.copy2(source, path)
        return path, kind
    if isinstance(value, pd.DataFrame):
        path = workdir / f"{name}.csv"
        value.to_csv(path, index=False)
        return path, CsvEvaluationArtifact
    if isinstance(value, np.ndarray):
        path = workdir / f"{name}.npy"
        np.save(path, value, allow_pickle=False)
        return path, NumpyEvaluationArtifact
    if type(value).__name__ == "Figure" and hasattr(value, "savefig"):
        path = workdir / f"{name}.png"
        value.savefig(path)
        return path, ImageEvaluationArtifact
    try:
        text = json.dumps(value, default=_numpy_json)
    except TypeError:
        # MLflow pickles such objects; mltrack keeps no pickles it did not make itself as models.
        raise InvalidParameterValue(
            f"{where} produced an artifact '{name}' of type {type(value).__name__}, which mltrack "
            "does not log: return a file path, a JSON string or object, a DataFrame, a numpy "
            "array or a matplotlib figure."
        ) from None
    path = workdir / f"{name}.json"
    path.write_text(text)
    return path, JsonEvaluationArtifact


def _numpy_json(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)


def run_custom_artifacts(
    functions: Sequence[Callable[..., Any]],
    y_pred: Any,
    y_true: Any,
    metrics: dict[str, Any],
    workdir: Path,
    log: ArtifactSink,
) -> dict[str, EvaluationArtifact]:
    """Call each function and log what it returns; names must not repeat."""
    import pandas as pd

    produced: dict[str, EvaluationArtifact] = {}
    frame = pd.DataFrame({"prediction": list(y_pred), "target": list(y_true)})
    for index, function in enumerate(functions):
        where = (
            f"Custom artifact function '{getattr(function, '__name__', repr(function))}' at index "
            f"{index} in the `custom_artifacts` parameter"
        )
        with tempfile.TemporaryDirectory(prefix="mltrack-artifacts-") as scratch:
            returned = function(frame.copy(), dict(metrics), scratch)
            if returned is None:
                logger.warning("%s returned None.", where)
                continue
            if not isinstance(returned, dict) or not all(isinstance(k, str) for k in returned):
                logger.warning(
                    "%s did not return artifacts as a dictionary of string artifact names with "
                    "their corresponding objects.",
                    where,
                )
                continue
            for name, value in returned.items():
                if name in produced:
                    raise InvalidParameterValue(
                        f"{where} produced an artifact '{name}' that cannot be logged because "
                        "there already exists an artifact with the same name."
                    )
                path, kind = _write(name, value, workdir, where)
                produced[name] = log(name, path, kind, value)
    return produced
