"""``mltrack.metrics`` (MLflow's ``mlflow.metrics``): what ``evaluate(extra_metrics=...)``
takes. MLflow's ready-made metrics (``mae()``, ``toxicity()`` …) are not offered: the
default evaluator logs the classifier and regressor ones already."""

from mltrack.models.evaluation.extra_metrics import EvaluationMetric, MetricValue, make_metric

__all__ = ["EvaluationMetric", "MetricValue", "make_metric"]
