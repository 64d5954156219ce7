"""Models: the MLmodel format, signatures, flavors (sklearn, xgboost, lightgbm, pytorch, keras,
pyfunc), requirements, Spark scoring, model URIs and evaluation.

Like MLflow's ``mlflow.models`` namespace this package is a facade: ``validate_serving_input``
reads its input as the scoring server does (:mod:`mltrack.serving`), imported on use.
"""

from typing import Any

from mltrack.models.model import Model, ModelInfo
from mltrack.models.signature import ModelSignature, infer_signature

__all__ = [
    "EvaluationArtifact",
    "EvaluationMetric",
    "EvaluationResult",
    "Model",
    "ModelInfo",
    "ModelSignature",
    "convert_input_example_to_serving_input",
    "evaluate",
    "get_model_info",
    "infer_signature",
    "list_evaluators",
    "make_metric",
    "set_signature",
    "validate_serving_input",
]

_EVALUATION = (
    "EvaluationArtifact",
    "EvaluationMetric",
    "EvaluationResult",
    "evaluate",
    "list_evaluators",
    "make_metric",
)


def __getattr__(name: str) -> Any:
    if name in _EVALUATION:  # loaded on first use: evaluation imports scikit-learn's metrics
        from mltrack.models import evaluation

        return getattr(evaluation, name)
    raise AttributeError(f"module 'mltrack.models' has no attribute {name!r}")


def get_model_info(model_uri: str) -> ModelInfo:
    """The :class:`ModelInfo` of the model at any model URI (MLflow's ``mlflow.models.get_model_info``)."""
    # Imported here: model URIs reach the store, which the MLmodel format itself never needs.
    from mltrack.models.info import get_model_info as read

    return read(model_uri)


def set_signature(model_uri: str, signature: ModelSignature) -> None:
    """Replace the signature in the MLmodel of the model at ``model_uri`` (``runs:/``,
    ``models:/m-<id>`` or a path); a registered version (``models:/<name>/<version>``) is
    read-only, as in MLflow."""
    from mltrack.models.model_files import set_signature as rewrite

    rewrite(model_uri, signature)


def convert_input_example_to_serving_input(input_example: Any) -> str | None:
    """The JSON body a scoring server takes for ``input_example`` (None for None)."""
    from mltrack.models.saving import serving_input_json

    return serving_input_json(input_example)


def validate_serving_input(model_uri: str, serving_input: str | dict[str, Any]) -> Any:
    """Predict ``serving_input`` (a scoring request's JSON body) with the model at ``model_uri``,
    read exactly as ``mltrack models serve`` reads it; returns the prediction."""
    from mltrack.serving.validation import validate_serving_input as validate

    return validate(model_uri, serving_input)
