"""MLflow's module paths for the features mltrack offers exist under ``mltrack`` too.

Scripts annotate and import through MLflow's modules (``from mlflow.data.pandas_dataset
import PandasDataset``); with ``import mltrack as mlflow`` the same path under
``mltrack`` must hold the same names. Each entry is checked against the pinned MLflow
as well, so the list only names paths that really exist in MLflow 3.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys

import pytest

FLAVOR_API = ["autolog", "load_model", "log_model", "save_model"]

# MLflow module -> the names under it that mltrack offers.
MLFLOW_PATHS: dict[str, list[str]] = {
    "mlflow": [
        "MlflowClient",
        "MlflowException",
        "autolog",
        "evaluate",
        "last_logged_model",
        "metrics",
        "load_table",
        "log_image",
        "log_table",
    ],
    "mlflow.artifacts": [
        "download_artifacts",
        "list_artifacts",
        "load_dict",
        "load_image",
        "load_text",
    ],
    "mlflow.client": ["MlflowClient"],
    "mlflow.tracking": ["MlflowClient"],
    "mlflow.exceptions": ["ExecutionException", "MlflowException"],
    "mlflow.data": ["Dataset", "DatasetSource", "from_numpy", "from_pandas"],
    "mlflow.data.dataset": ["Dataset"],
    "mlflow.data.dataset_source": ["DatasetSource"],
    "mlflow.data.pandas_dataset": ["PandasDataset", "from_pandas"],
    "mlflow.data.numpy_dataset": ["NumpyDataset", "from_numpy"],
    "mlflow.models": [
        "EvaluationArtifact",
        "EvaluationMetric",
        "EvaluationResult",
        "Model",
        "ModelSignature",
        "convert_input_example_to_serving_input",
        "evaluate",
        "get_model_info",
        "infer_signature",
        "list_evaluators",
        "make_metric",
        "set_signature",
        "validate_serving_input",
    ],
    "mlflow.models.evaluation": ["EvaluationArtifact", "EvaluationResult", "evaluate"],
    "mlflow.metrics": ["MetricValue", "make_metric"],
    "mlflow.models.model": ["Model", "ModelInfo"],
    "mlflow.models.signature": ["ModelSignature", "infer_signature"],
    "mlflow.types": ["ColSpec", "DataType", "ParamSchema", "ParamSpec", "Schema", "TensorSpec"],
    "mlflow.types.schema": [
        "ColSpec",
        "DataType",
        "ParamSchema",
        "ParamSpec",
        "Schema",
        "TensorSpec",
    ],
    "mlflow.entities": [
        "Dataset",
        "DatasetInput",
        "Experiment",
        "FileInfo",
        "InputTag",
        "LifecycleStage",
        "LoggedModel",
        "LoggedModelOutput",
        "LoggedModelStatus",
        "Metric",
        "Param",
        "Run",
        "RunData",
        "RunInfo",
        "RunInputs",
        "RunOutputs",
        "RunStatus",
        "RunTag",
        "ViewType",
    ],
    **{
        f"mlflow.entities.{module}": [name]
        for module, name in [
            ("dataset", "Dataset"),
            ("dataset_input", "DatasetInput"),
            ("experiment", "Experiment"),
            ("file_info", "FileInfo"),
            ("input_tag", "InputTag"),
            ("lifecycle_stage", "LifecycleStage"),
            ("logged_model", "LoggedModel"),
            ("logged_model_output", "LoggedModelOutput"),
            ("logged_model_status", "LoggedModelStatus"),
            ("metric", "Metric"),
            ("param", "Param"),
            ("run", "Run"),
            ("run_data", "RunData"),
            ("run_info", "RunInfo"),
            ("run_inputs", "RunInputs"),
            ("run_outputs", "RunOutputs"),
            ("run_status", "RunStatus"),
            ("run_tag", "RunTag"),
            ("view_type", "ViewType"),
        ]
    },
    "mlflow.pyfunc": [
        "PyFuncModel",
        "PythonModel",
        "PythonModelContext",
        "get_model_dependencies",
        "load_model",
        "log_model",
        "save_model",
        "spark_udf",
    ],
    "mlflow.projects": ["SubmittedRun", "run"],
    "mlflow.sklearn": FLAVOR_API,
    "mlflow.xgboost": FLAVOR_API,
    "mlflow.lightgbm": FLAVOR_API,
    "mlflow.pytorch": FLAVOR_API,
    "mlflow.keras": ["autolog", "load_model", "log_model", "save_model"],
}


def _mltrack_path(mlflow_path: str) -> str:
    return "mltrack" + mlflow_path.removeprefix("mlflow")


@pytest.mark.parametrize("path", sorted(MLFLOW_PATHS))
def test_mlflow_module_path_exists_under_mltrack(path: str) -> None:
    module = importlib.import_module(_mltrack_path(path))
    missing = [name for name in MLFLOW_PATHS[path] if not hasattr(module, name)]
    assert not missing, f"{_mltrack_path(path)} lacks {missing} (MLflow has {path}.{missing[0]})"


@pytest.mark.mlflow
def test_every_listed_path_is_mlflows() -> None:
    """The list cannot drift from MLflow: each path and name exists in the pinned MLflow."""
    absent = []
    for path, names in MLFLOW_PATHS.items():
        try:
            module = importlib.import_module(path)
        except ModuleNotFoundError as error:
            # mlflow.keras imports TensorFlow, which the test environment does not have:
            # the module is there, its names are not checked.
            assert error.name != path and importlib.util.find_spec(path) is not None, path
            continue
        absent += [f"{path}.{name}" for name in names if not hasattr(module, name)]
    assert not absent


def test_dotted_imports_work_as_in_mlflow() -> None:
    """``import mltrack as mlflow`` then attribute access through submodules, as scripts do.

    In a fresh interpreter: here, other tests' imports would already have made the submodules
    attributes of their packages and hidden a missing one."""
    script = """
import mltrack as mlflow
import mltrack.data.pandas_dataset
import mltrack.models.signature

assert mlflow.data.pandas_dataset.PandasDataset is mlflow.data.PandasDataset
assert mlflow.models.signature.infer_signature is mlflow.infer_signature
assert mlflow.entities.run.Run is mlflow.entities.Run
assert mlflow.entities.view_type.ViewType is mlflow.entities.ViewType
assert mlflow.tracking.MlflowClient is mlflow.MlflowClient
assert issubclass(mlflow.exceptions.MlflowException, Exception)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
