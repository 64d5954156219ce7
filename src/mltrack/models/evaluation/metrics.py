"""The metrics of MLflow's default evaluator, by MLflow's names, from labels and predictions.

Pure functions of arrays (scikit-learn's metric functions do the arithmetic), so the
values equal what ``mlflow.evaluate`` logs for the same data: the interop tests
compare them with MLflow's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mltrack.exceptions import InvalidParameterValue

__all__ = [
    "ClassLabels",
    "binary_metrics",
    "class_labels",
    "multiclass_metrics",
    "per_class_metrics",
    "regressor_metrics",
]


@dataclass(frozen=True)
class ClassLabels:
    """The classes of an evaluation, in the order the metrics use them.

    For two classes the positive one is last (MLflow's convention), and
    ``positive_column`` is its column in ``predict_proba``'s output, whose columns
    follow the sorted classes.
    """

    labels: np.ndarray
    positive: Any = None
    positive_column: int = 1

    @property
    def binary(self) -> bool:
        return len(self.labels) == 2


def class_labels(
    y_true: np.ndarray, y_pred: np.ndarray, label_list: Any = None, pos_label: Any = None
) -> ClassLabels:
    """The classes (``label_list`` or those seen in targets and predictions), sorted."""
    if label_list is None:
        labels = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
    else:
        labels = np.sort(np.asarray(label_list))
    if len(labels) < 2:
        raise InvalidParameterValue(
            "Evaluation dataset for classification must contain at least two unique labels, but "
            f"only {len(labels)} unique labels were found. Pass every class in evaluator_config, "
            "e.g. evaluator_config={'label_list': [0, 1]}."
        )
    if len(labels) != 2 or pos_label is None:
        return ClassLabels(labels, labels[-1] if len(labels) == 2 else None)
    if pos_label not in labels:
        raise InvalidParameterValue(
            f"'pos_label' {pos_label!r} is not one of the classes {labels.tolist()}."
        )
    column = int(np.flatnonzero(labels == pos_label)[0])
    return ClassLabels(np.append(labels[labels != pos_label], pos_label), pos_label, column)


def _shared_classifier_metrics(
    y_true: Any,
    y_pred: Any,
    y_proba: Any,
    labels: np.ndarray,
    average: str,
    pos_label: Any,
    weights: Any,
) -> dict[str, Any]:
    from sklearn import metrics

    out: dict[str, Any] = {
        "example_count": len(y_true),
        "accuracy_score": metrics.accuracy_score(y_true, y_pred, sample_weight=weights),
    }
    for name, function in (
        ("recall_score", metrics.recall_score),
        ("precision_score", metrics.precision_score),
        ("f1_score", metrics.f1_score),
    ):
        out[name] = function(
            y_true, y_pred, average=average, pos_label=pos_label, sample_weight=weights
        )
    if y_proba is not None:
        # predict_proba's columns follow the sorted classes, whichever class is positive.
        out["log_loss"] = metrics.log_loss(
            y_true, y_proba, labels=np.sort(labels), sample_weight=weights
        )
    return out


def _counts(y_true: Any, y_pred: Any, labels: Any) -> dict[str, Any]:
    from sklearn import metrics

    # Counts, as MLflow logs them: sample weights do not enter the confusion counts.
    tn, fp, fn, tp = metrics.confusion_matrix(y_true, y_pred, labels=labels).ravel()
    return {
        "true_negatives": tn,
        "false_positives": fp,
        "false_negatives": fn,
        "true_positives": tp,
    }


def binary_metrics(
    y_true: Any, y_pred: Any, y_proba: Any, classes: ClassLabels, weights: Any = None
) -> dict[str, Any]:
    """Confusion counts, accuracy, recall, precision, F1, log loss, ROC AUC and PR AUC."""
    from sklearn import metrics

    out = _counts(y_true, y_pred, classes.labels)
    out.update(
        _shared_classifier_metrics(
            y_true, y_pred, y_proba, classes.labels, "binary", classes.positive, weights
        )
    )
    if y_proba is not None:
        scores = np.asarray(y_proba)[:, classes.positive_column]
        is_positive = np.asarray(y_true) == classes.positive
        out["roc_auc"] = metrics.roc_auc_score(is_positive, scores, sample_weight=weights)
        # Average precision summarizes the precision-recall curve (MLflow logs it under this name).
        out["precision_recall_auc"] = metrics.average_precision_score(
            y_true, scores, pos_label=classes.positive, sample_weight=weights
        )
    return out


def multiclass_metrics(
    y_true: Any,
    y_pred: Any,
    y_proba: Any,
    classes: ClassLabels,
    average: str = "weighted",
    weights: Any = None,
) -> dict[str, Any]:
    """Accuracy, averaged recall, precision and F1, log loss, and one-vs-rest ROC AUC."""
    from sklearn import metrics

    out = _shared_classifier_metrics(
        y_true, y_pred, y_proba, classes.labels, average, None, weights
    )
    if y_proba is not None and average in ("macro", "weighted"):
        out["roc_auc"] = metrics.roc_auc_score(
            y_true, y_proba, sample_weight=weights, average=average, multi_class="ovr"
        )
    return out


def one_vs_rest(y: Any, positive: Any) -> np.ndarray:
    return (np.asarray(y) == positive).astype(int)


def per_class_metrics(
    y_true: Any, y_pred: Any, y_proba: Any, classes: ClassLabels, weights: Any, with_curves: bool
) -> pd.DataFrame:
    """One row per class, the class against the rest: ``per_class_metrics.csv``."""
    from sklearn import metrics

    rows = []
    for column, positive in enumerate(classes.labels):
        truth, predicted = one_vs_rest(y_true, positive), one_vs_rest(y_pred, positive)
        row: dict[str, Any] = {"positive_class": positive}
        row.update(_counts(truth, predicted, [0, 1]))
        row.update(
            _shared_classifier_metrics(truth, predicted, None, classes.labels, "binary", 1, weights)
        )
        if with_curves:
            scores = np.asarray(y_proba)[:, column]
            row["roc_auc"] = metrics.roc_auc_score(truth == 1, scores, sample_weight=weights)
            row["precision_recall_auc"] = metrics.average_precision_score(
                truth, scores, pos_label=1, sample_weight=weights
            )
        rows.append(row)
    return pd.DataFrame(rows)


def regressor_metrics(y_true: Any, y_pred: Any, weights: Any = None) -> dict[str, Any]:
    """Errors (absolute, squared, root squared, max, percentage), R², and the target's sum and mean."""
    from sklearn import metrics

    y = np.asarray(y_true)
    total = (y * np.asarray(weights)).sum() if weights is not None else y.sum()
    mse = metrics.mean_squared_error(y_true, y_pred, sample_weight=weights)
    return {
        "example_count": len(y),
        "mean_absolute_error": metrics.mean_absolute_error(y_true, y_pred, sample_weight=weights),
        "mean_squared_error": mse,
        "root_mean_squared_error": float(np.sqrt(mse)),
        "sum_on_target": total,
        "mean_on_target": total / len(y),
        "r2_score": metrics.r2_score(y_true, y_pred, sample_weight=weights),
        "max_error": metrics.max_error(y_true, y_pred),
        "mean_absolute_percentage_error": metrics.mean_absolute_percentage_error(
            y_true, y_pred, sample_weight=weights
        ),
    }
