"""What every flavor's ``save_model`` shares: the target directory and the input example."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mltrack.exceptions import InvalidParameterValue
from mltrack.models.model import Model

__all__ = ["prepare_target", "save_example", "serving_input_json"]


def prepare_target(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidParameterValue(
            f"Path '{target}' already exists and is not empty; choose a new directory."
        )
    return target


def _example_documents(input_example: Any) -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
    """The example as data, its input_example.json, its serving body and its MLmodel info."""
    import json

    import numpy as np
    import pandas as pd

    example, params = input_example if isinstance(input_example, tuple) else (input_example, None)
    if isinstance(example, dict) and all(
        isinstance(v, (list, np.ndarray)) for v in example.values()
    ):
        example = pd.DataFrame(example)
    if isinstance(example, pd.DataFrame):
        split = json.loads(example.to_json(orient="split", index=False, date_format="iso"))
        payload: Any = {"columns": split["columns"], "data": split["data"]}
        serving: dict[str, Any] = {"dataframe_split": payload}
        info = {
            "artifact_path": "input_example.json",
            "pandas_orient": "split",
            "serving_input_path": "serving_input_example.json",
            "type": "dataframe",
        }
    elif isinstance(example, np.ndarray):
        payload = example.tolist()
        serving = {"inputs": payload}
        info = {
            "artifact_path": "input_example.json",
            "serving_input_path": "serving_input_example.json",
            "type": "ndarray",
        }
    else:
        payload = example
        serving = {"inputs": payload}
        info = {
            "artifact_path": "input_example.json",
            "serving_input_path": "serving_input_example.json",
            "type": "json_object",
        }
    if params:
        payload = {"inputs": payload, "params": params}
        serving["params"] = params
        info["params"] = "true"
    return example, payload, serving, info


def serving_input_json(input_example: Any) -> str | None:
    """The scoring request body for ``input_example`` (MLflow's
    ``convert_input_example_to_serving_input``); None when there is no example."""
    import json

    if input_example is None:
        return None
    return json.dumps(_example_documents(input_example)[2], indent=2)


def save_example(directory: Path, model: Model, input_example: Any) -> Any:
    """Write input_example.json and serving_input_example.json; returns the example's inputs."""
    import json

    example, payload, serving, info = _example_documents(input_example)
    (directory / "input_example.json").write_text(json.dumps(payload))
    (directory / "serving_input_example.json").write_text(json.dumps(serving, indent=2))
    model.saved_input_example_info = info
    return example
