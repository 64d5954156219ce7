"""The classifier plots of MLflow's default evaluator, drawn with matplotlib (the ``plot`` extra).

Each function draws on its own ``matplotlib.figure.Figure`` (never pyplot's global
figure, so a script's own plots and backend are left alone) and writes a PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mltrack.models.evaluation.metrics import ClassLabels, one_vs_rest

__all__ = [
    "calibration_curve",
    "confusion_matrix",
    "lift_curve",
    "precision_recall_curve",
    "roc_curve",
]


def _figure(width: float = 6.0, height: float = 4.0) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=175)
    return figure, figure.add_subplot(1, 1, 1)


def _save(figure: Any, path: Path) -> Path:
    figure.savefig(path, bbox_inches="tight")
    return path


def _axis_label(text: str, classes: ClassLabels) -> str:
    return f"{text} (Positive label: {classes.positive})" if classes.binary else text


def confusion_matrix(
    y_true: Any, y_pred: Any, classes: ClassLabels, weights: Any, path: Path
) -> Path:
    """The confusion matrix normalized over the true labels (as sklearn autologging draws it)."""
    import matplotlib
    from sklearn import metrics

    matrix = metrics.confusion_matrix(
        y_true, y_pred, labels=classes.labels, normalize="true", sample_weight=weights
    )
    font = min(8, int(np.ceil(50.0 / len(classes.labels))))
    with matplotlib.rc_context({"font.size": font, "axes.labelsize": 8}):
        figure, axes = _figure()
        display = metrics.ConfusionMatrixDisplay(matrix, display_labels=classes.labels)
        display.plot(cmap="Blues", ax=axes)
        axes.set_title("Normalized confusion matrix")
        return _save(figure, path)


def _curves(
    y_true: Any, y_proba: Any, classes: ClassLabels, kind: str, weights: Any
) -> list[tuple[str, Any, Any]]:
    """(legend, x, y) per curve: the positive class's curve, or one per class against the rest."""
    from sklearn import metrics

    def one(truth: Any, scores: Any, positive: Any) -> tuple[str, Any, Any]:
        if kind == "roc":
            fpr, tpr, _ = metrics.roc_curve(
                truth, scores, pos_label=positive, sample_weight=weights
            )
            area = metrics.roc_auc_score(
                np.asarray(truth) == positive, scores, sample_weight=weights
            )
            return f"AUC={area:.3f}", fpr, tpr
        precision, recall, _ = metrics.precision_recall_curve(
            truth, scores, pos_label=positive, sample_weight=weights
        )
        area = metrics.average_precision_score(
            truth, scores, pos_label=positive, sample_weight=weights
        )
        return f"AP={area:.3f}", recall, precision

    proba = np.asarray(y_proba)
    if classes.binary:
        return [one(y_true, proba[:, classes.positive_column], classes.positive)]
    curves = []
    for column, label in enumerate(classes.labels):
        legend, x, y = one(one_vs_rest(y_true, label), proba[:, column], 1)
        curves.append((f"label={label},{legend}", x, y))
    return curves


def _curve_plot(
    curves: list[tuple[str, Any, Any]],
    classes: ClassLabels,
    title: str,
    labels: tuple[str, str],
    diagonal: tuple[list[int], list[int]],
    path: Path,
) -> Path:
    figure, axes = _figure()
    for legend, x, y in curves:
        axes.plot(x, y, label=legend, drawstyle="steps-post", linewidth=1)
    axes.plot(*diagonal, color="gray", alpha=0.3, linestyle="dashed")
    axes.set_title(title)
    axes.set_xlabel(_axis_label(labels[0], classes))
    axes.set_ylabel(_axis_label(labels[1], classes))
    if classes.binary:
        axes.legend(loc="best")
    else:
        axes.legend(loc="center left", bbox_to_anchor=(1, 0.5))
    return _save(figure, path)


def roc_curve(y_true: Any, y_proba: Any, classes: ClassLabels, weights: Any, path: Path) -> Path:
    curves = _curves(y_true, y_proba, classes, "roc", weights)
    labels = ("False Positive Rate", "True Positive Rate")
    return _curve_plot(curves, classes, "ROC curve", labels, ([0, 1], [0, 1]), path)


def precision_recall_curve(
    y_true: Any, y_proba: Any, classes: ClassLabels, weights: Any, path: Path
) -> Path:
    curves = _curves(y_true, y_proba, classes, "pr", weights)
    labels = ("Recall", "Precision")
    return _curve_plot(curves, classes, "Precision recall curve", labels, ([0, 1], [1, 0]), path)


def lift_curve(y_true: Any, y_proba: Any, classes: ClassLabels, path: Path) -> Path:
    """Lift of each class: the positive rate among the top-scored fraction over the overall rate."""
    figure, axes = _figure()
    proba = np.asarray(y_proba)
    for column, label in enumerate(np.sort(classes.labels)):
        truth = one_vs_rest(y_true, label)
        if truth.sum() == 0:
            continue
        order = np.argsort(-proba[:, column], kind="stable")
        hits = np.cumsum(truth[order])
        fraction = np.arange(1, len(truth) + 1) / len(truth)
        lift = (hits / np.arange(1, len(truth) + 1)) / truth.mean()
        axes.plot(fraction, lift, label=f"Class {label}", linewidth=1)
    axes.plot([0, 1], [1, 1], color="gray", linestyle="dashed", label="Baseline")
    axes.set_title("Lift Curve")
    axes.set_xlabel("Percentage of sample")
    axes.set_ylabel("Lift")
    axes.legend(loc="best")
    return _save(figure, path)


def calibration_curve(
    y_true: Any, y_proba: Any, classes: ClassLabels, path: Path, bins: int = 10
) -> Path:
    """Observed frequency against predicted probability, per class (the positive one if binary)."""
    from sklearn.calibration import CalibrationDisplay

    figure, axes = _figure()
    proba = np.asarray(y_proba)
    wanted = (
        [(classes.positive_column, classes.positive)]
        if classes.binary
        else list(enumerate(classes.labels))
    )
    for column, label in wanted:
        CalibrationDisplay.from_predictions(
            one_vs_rest(y_true, label), proba[:, column], n_bins=bins, name=str(label), ax=axes
        )
    axes.set_title("Calibration Curve")
    return _save(figure, path)
