"""``mltrack.sklearn.autolog()``: every ``fit()`` logs params, training metrics and the model.

As MLflow's sklearn autolog: the estimator's ``get_params(deep=True)`` become run
params, training-set scores become ``training_*`` metrics, the fitted model is
logged as ``model`` with a signature, and the training data as a dataset input.
Only the outermost ``fit`` is logged (a Pipeline's steps or a search's inner fits
are part of it). Without an active run, a run is started and ended around the fit.
A parameter search also logs its best candidate and its candidates as child runs
(:mod:`mltrack.models.autolog_search`).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from typing import Any

from mltrack import data
from mltrack.entities import RunStatus
from mltrack.exceptions import InvalidParameterValue
from mltrack.models import sklearn as flavor
from mltrack.models.autolog_search import is_search, log_search
from mltrack.models.signature import infer_signature
from mltrack.store import validation
from mltrack.tracking import fluent

__all__ = ["autolog"]

logger = logging.getLogger("mltrack")

_config: dict[str, Any] = {}
_patched: dict[type, Any] = {}
_state = threading.local()
_MAX_PARAM = 6000


def _classifier_metrics(estimator: Any, X: Any, y: Any, weight: Any) -> dict[str, float]:
    from sklearn import metrics

    predicted = estimator.predict(X)
    out = {
        "training_accuracy_score": metrics.accuracy_score(y, predicted, sample_weight=weight),
        "training_precision_score": metrics.precision_score(
            y, predicted, average="weighted", sample_weight=weight, zero_division=0
        ),
        "training_recall_score": metrics.recall_score(
            y, predicted, average="weighted", sample_weight=weight, zero_division=0
        ),
        "training_f1_score": metrics.f1_score(
            y, predicted, average="weighted", sample_weight=weight, zero_division=0
        ),
    }
    if hasattr(estimator, "predict_proba"):
        try:
            proba = estimator.predict_proba(X)
            out["training_log_loss"] = metrics.log_loss(
                y, proba, sample_weight=weight, labels=estimator.classes_
            )
            if proba.shape[1] == 2:
                out["training_roc_auc"] = metrics.roc_auc_score(
                    y, proba[:, 1], sample_weight=weight
                )
            else:
                out["training_roc_auc"] = metrics.roc_auc_score(
                    y, proba, multi_class="ovr", sample_weight=weight, labels=estimator.classes_
                )
        except (ValueError, AttributeError):
            pass  # e.g. a class missing from y: MLflow skips these metrics too
    return out


def _regressor_metrics(estimator: Any, X: Any, y: Any, weight: Any) -> dict[str, float]:
    from sklearn import metrics

    predicted = estimator.predict(X)
    mse = metrics.mean_squared_error(y, predicted, sample_weight=weight)
    return {
        "training_mean_squared_error": mse,
        "training_root_mean_squared_error": math.sqrt(mse),
        "training_mean_absolute_error": metrics.mean_absolute_error(
            y, predicted, sample_weight=weight
        ),
        "training_r2_score": metrics.r2_score(y, predicted, sample_weight=weight),
    }


def _training_metrics(estimator: Any, X: Any, y: Any, weight: Any) -> dict[str, float]:
    from sklearn.base import is_classifier, is_regressor

    if y is None:
        return {}
    try:
        if is_classifier(estimator):
            found = _classifier_metrics(estimator, X, y, weight)
        elif is_regressor(estimator):
            found = _regressor_metrics(estimator, X, y, weight)
        else:
            found = {}
        if hasattr(estimator, "score"):
            found["training_score"] = (
                estimator.score(X, y, sample_weight=weight)
                if weight is not None
                else estimator.score(X, y)
            )
    except Exception as error:  # metrics must never break training
        logger.warning(
            "autolog: could not compute training metrics for %s: %s",
            type(estimator).__name__,
            error,
        )
        return {}
    return {k: float(v) for k, v in found.items()}


def _params(estimator: Any) -> dict[str, str]:
    """Run params for an estimator: deep, except a search's (its candidates hold those)."""
    out = {}
    for key, value in estimator.get_params(deep=not is_search(estimator)).items():
        text = str(value)
        if _valid_key(key):
            out[key] = text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 3] + "..."
    return out


def _log_fit(estimator: Any, X: Any, y: Any, weight: Any) -> None:
    config = _config
    fluent.log_params(_params(estimator))
    fluent.set_tags(
        {
            "estimator_name": type(estimator).__name__,
            "estimator_class": f"{type(estimator).__module__}.{type(estimator).__name__}",
        }
    )
    metrics = _training_metrics(estimator, X, y, weight)
    if metrics:
        fluent.log_metrics(metrics)
    dataset = _log_dataset(X, y) if config.get("log_datasets", True) else None
    if config.get("log_models", True):
        sample = X.head(5) if hasattr(X, "head") else X[:5]
        signature = (
            _signature(estimator, sample) if config.get("log_model_signatures", True) else None
        )
        flavor.log_model(
            estimator,
            name="model",
            input_example=sample if config.get("log_input_examples") else None,
            signature=signature,
            serialization_format=config.get("serialization_format", "cloudpickle"),
            registered_model_name=config.get("registered_model_name"),
        )
        if is_search(estimator) and hasattr(estimator, "best_estimator_"):
            flavor.log_model(
                estimator.best_estimator_,
                name="best_estimator",
                input_example=sample if config.get("log_input_examples") else None,
                signature=signature,
                serialization_format=config.get("serialization_format", "cloudpickle"),
            )
    if is_search(estimator):
        log_search(
            estimator,
            max_tuning_runs=config.get("max_tuning_runs", 5),
            params=_params,
            dataset=dataset,
            child_tags={"mlflow.autologging": "sklearn", **(config.get("extra_tags") or {})},
        )


def _signature(estimator: Any, sample: Any) -> Any:
    try:
        return infer_signature(sample, estimator.predict(sample))
    except Exception:  # a signature is optional; never fail the fit for it
        return None


def _log_dataset(X: Any, y: Any) -> data.Dataset | None:
    """Log the training data as the run's input; the dataset, or None when it could not be."""
    try:
        import pandas as pd

        dataset: data.Dataset
        if isinstance(X, pd.DataFrame):
            frame = X.copy()
            if y is not None:
                frame["target"] = list(y)
            dataset = data.from_pandas(
                frame, name="train", targets="target" if y is not None else None
            )
        else:
            dataset = data.from_numpy(X, targets=y, name="train")
        fluent.log_input(dataset, context="train")
    except Exception as error:  # lineage is best effort, as in MLflow
        logger.warning("autolog: could not log the training dataset: %s", error)
        return None
    return dataset


def _valid_key(key: str) -> bool:
    try:
        validation.key(key)
    except InvalidParameterValue:
        return False
    return True


def _patch(cls: type) -> None:
    original = cls.__dict__["fit"]

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_state, "depth", 0) > 0 or not _config:
            return original(self, *args, **kwargs)
        X = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        started = fluent.active_run() is None
        if started:
            fluent.start_run(
                tags={"mlflow.autologging": "sklearn", **(_config.get("extra_tags") or {})}
            )
        # Fits made inside this one (a Pipeline's steps, a search's candidates, the
        # label encoders metrics use) belong to it and are not logged on their own.
        _state.depth = 1
        try:
            try:
                result = original(self, *args, **kwargs)
            except BaseException:
                if started:
                    fluent.end_run(RunStatus.FAILED)
                raise
            try:
                _log_fit(self, X, y, kwargs.get("sample_weight"))
            finally:
                if started:
                    fluent.end_run()
        finally:
            _state.depth = 0
        return result

    _patched[cls] = original
    cls.fit = fit  # type: ignore[attr-defined]


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    log_post_training_metrics: bool = True,
    serialization_format: str = "cloudpickle",
    registered_model_name: str | None = None,
    pos_label: Any = None,
    extra_tags: dict[str, str] | None = None,
) -> None:
    """Turn sklearn autologging on (or off with ``disable=True``)."""
    if disable:
        for cls, original in _patched.items():
            cls.fit = original  # type: ignore[attr-defined]
        _patched.clear()
        _config.clear()
        return
    _config.update(
        log_input_examples=log_input_examples,
        log_model_signatures=log_model_signatures,
        log_models=log_models,
        log_datasets=log_datasets,
        serialization_format=serialization_format,
        registered_model_name=registered_model_name,
        extra_tags=dict(extra_tags or {}),
        max_tuning_runs=max_tuning_runs,
    )
    if _patched:
        return
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    classes = {cls for _, cls in all_estimators()} | {Pipeline}
    for cls in classes:
        for klass in cls.__mro__:
            if (
                "fit" in klass.__dict__
                and klass.__module__.startswith("sklearn")
                and klass not in _patched
            ):
                _patch(klass)
