"""Model evaluation (``mltrack.evaluate``, ``mltrack.models.evaluate``): MLflow's default
evaluator for classifiers and regressors."""

from mltrack.models.evaluation.evaluate import evaluate, list_evaluators
from mltrack.models.evaluation.extra_metrics import EvaluationMetric, MetricValue, make_metric
from mltrack.models.evaluation.results import (
    CsvEvaluationArtifact,
    EvaluationArtifact,
    EvaluationResult,
    ImageEvaluationArtifact,
    JsonEvaluationArtifact,
)

__all__ = [
    "CsvEvaluationArtifact",
    "EvaluationArtifact",
    "EvaluationMetric",
    "EvaluationResult",
    "ImageEvaluationArtifact",
    "JsonEvaluationArtifact",
    "MetricValue",
    "evaluate",
    "list_evaluators",
    "make_metric",
]
