"""``evaluate``: MLflow's default evaluator for classifiers and regressors.

The model (a model URI, a loaded pyfunc model, a callable, or none with the
predictions in ``data``) predicts on ``data``; the metrics MLflow's default
evaluator computes are logged, by MLflow's names, to the active run (one is
started, and ended, when none is active), with the classifier plots and the
per-class table, then any ``extra_metrics`` and ``custom_artifacts``. What MLflow's
evaluate does beyond that (SHAP explanations, GenAI model types, other environments) is
refused with a message that says so, never silently skipped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mltrack.entities import DatasetInput, InputTag, Metric
from mltrack.exceptions import InvalidParameterValue
from mltrack.models.evaluation import metrics as builtin
from mltrack.models.evaluation.custom_artifacts import run_custom_artifacts
from mltrack.models.evaluation.extra_metrics import (
    EvaluationMetric,
    MetricValue,
    compute_extra_metrics,
)
from mltrack.models.evaluation.results import (
    CsvEvaluationArtifact,
    EvaluationArtifact,
    EvaluationResult,
    ImageEvaluationArtifact,
    JsonEvaluationArtifact,
)
from mltrack.store.repository import now_ms
from mltrack.tracking import fluent

__all__ = ["MODEL_TYPES", "evaluate", "list_evaluators"]

logger = logging.getLogger("mltrack")

MODEL_TYPES = ("classifier", "regressor")
_GENAI_TYPES = ("question-answering", "text-summarization", "text", "retriever", "databricks-agent")
# The names MLflow's evaluators answer to that mean "the built-in one for this model type".
_BUILTIN_EVALUATORS = ("default", "classifier", "regressor")
# evaluator_config keys of MLflow's SHAP evaluator: accepted, and nothing is logged for them.
_EXPLAINABILITY_KEYS = (
    "log_model_explainability",
    "log_explainer",
    "explainability_algorithm",
    "explainability_nsamples",
    "explainability_kernel_link",
)
# The loaders whose raw model MLflow calls directly (predict_proba, score) instead of the pyfunc.
_RAW_MODEL_LOADERS = ("mlflow.sklearn", "mlflow.xgboost", "mlflow.catboost")


class EvaluationPlotWarning(UserWarning):
    """matplotlib is not installed: metrics are logged, plots are not."""


_warned_no_matplotlib = False


def list_evaluators() -> list[str]:
    """The evaluators ``evaluate`` offers (MLflow's built-in names for them)."""
    return list(_BUILTIN_EVALUATORS)


# ---------------------------------------------------------------------- arguments


def _flat_config(evaluators: Any, evaluator_config: dict[str, Any] | None) -> dict[str, Any]:
    """The default evaluator's config: flat, or nested under an evaluator's name as MLflow allows."""
    names = [evaluators] if isinstance(evaluators, str) or evaluators is None else evaluators
    if not isinstance(names, (list, tuple)) or not all(
        n is None or isinstance(n, str) for n in names
    ):
        raise InvalidParameterValue(
            f"evaluators must be an evaluator name or a list of names, not {evaluators!r}."
        )
    unknown = [n for n in names if n is not None and n not in _BUILTIN_EVALUATORS]
    if unknown:
        raise InvalidParameterValue(
            f"mltrack offers MLflow's default evaluator only (evaluators='default'); "
            f"{unknown[0]!r} is not available. Evaluator plugins (and SHAP's 'shap') are not "
            "offered."
        )
    if evaluator_config is None:
        return {}
    if not isinstance(evaluator_config, dict):
        raise InvalidParameterValue(
            f"evaluator_config must be a dict, not {type(evaluator_config).__name__}."
        )
    nested = [k for k in _BUILTIN_EVALUATORS if isinstance(evaluator_config.get(k), dict)]
    if nested:
        merged: dict[str, Any] = {}
        for name in nested:
            merged.update(evaluator_config[name])
        return merged
    return dict(evaluator_config)


def _refuse_unoffered(
    model_type: Any,
    extra_metrics: Any,
    custom_artifacts: Any,
    env_manager: str,
    inference_params: Any,
    model_config: Any,
    model: Any,
) -> None:
    if model_type in _GENAI_TYPES:
        raise InvalidParameterValue(
            f"model_type={model_type!r} is MLflow's GenAI/text evaluation, which mltrack does not "
            "offer; evaluate takes model_type='classifier' or 'regressor'."
        )
    if model_type not in MODEL_TYPES:
        raise InvalidParameterValue(
            f"model_type must be 'classifier' or 'regressor', not {model_type!r} (mltrack "
            "evaluates with MLflow's default metrics for those two, plus any extra_metrics)."
        )
    if extra_metrics is not None and not isinstance(extra_metrics, (list, tuple)):
        raise InvalidParameterValue(
            "extra_metrics must be a list of metrics made with make_metric, not "
            f"{type(extra_metrics).__name__}."
        )
    wrong = [m for m in extra_metrics or () if not isinstance(m, EvaluationMetric)]
    if wrong:
        kinds = ", ".join(f"'{m}' has type '{type(m).__name__}'" for m in wrong)
        raise InvalidParameterValue(
            f"In the 'extra_metrics' parameter, these are not metrics: {kinds}. Make each with "
            "make_metric (mltrack.models.make_metric, as mlflow.models.make_metric)."
        )
    if custom_artifacts is not None and (
        not isinstance(custom_artifacts, (list, tuple))
        or not all(callable(f) for f in custom_artifacts)
    ):
        raise InvalidParameterValue(
            "custom_artifacts must be a list of functions (eval_df, builtin_metrics, "
            "artifacts_dir) -> {name: artifact}."
        )
    if env_manager != "local":
        raise InvalidParameterValue(
            f"env_manager={env_manager!r}: mltrack evaluates in the current environment only "
            "(env_manager='local')."
        )
    if inference_params is not None:
        raise InvalidParameterValue(
            "inference_params applies to MLflow Deployments endpoints, which mltrack does not offer."
        )
    if model_config is not None and not isinstance(model, str):
        raise InvalidParameterValue(
            "model_config applies when the model is a model URI; load a PyFuncModel with "
            "pyfunc.load_model(model_uri, model_config=...) instead."
        )


def _note_explainability(config: dict[str, Any]) -> None:
    asked = [k for k in _EXPLAINABILITY_KEYS if k in config and config[k] is not False]
    if asked:
        logger.warning(
            "evaluator_config %s: SHAP explanations are not offered by mltrack; nothing is "
            "logged for %s.",
            ", ".join(asked),
            "them" if len(asked) > 1 else "it",
        )


# ---------------------------------------------------------------------- data


@dataclass
class _EvaluationData:
    features: Any  # pandas DataFrame, columns named as MLflow names them
    targets: Any  # numpy array
    predictions: Any  # numpy array (static evaluation) or None
    dataset: Any  # what is logged as the run's input (mltrack.data dataset)
    targets_name: str | None = None
    predictions_name: str | None = None


def _evaluation_data(
    data: Any,
    targets: Any,
    predictions: str | None,
    feature_names: Sequence[str] | None,
    dataset_path: str | None = None,
) -> _EvaluationData:
    import numpy as np
    import pandas as pd

    from mltrack.data import PandasDataset, from_numpy, from_pandas

    if feature_names is not None and len(set(feature_names)) < len(list(feature_names)):
        raise InvalidParameterValue(
            "`feature_names` argument must be a list containing unique feature names."
        )
    if isinstance(data, PandasDataset):
        if targets is not None:
            raise InvalidParameterValue(
                "The top-level targets parameter should not be specified since a Dataset is used: "
                "name the targets column in the dataset (from_pandas(df, targets='y'))."
            )
        targets, predictions = data.targets, predictions or data.predictions
        if targets is None:
            raise InvalidParameterValue(
                "The targets column name must be specified in the provided Dataset, e.g. "
                "from_pandas(df, targets='y')."
            )
        frame, dataset = data.df, data
    elif isinstance(data, pd.DataFrame):
        frame, dataset = data, None
    else:
        frame, dataset = None, None
    if frame is not None:
        if not isinstance(targets, str):
            raise InvalidParameterValue(
                "If data is a pandas DataFrame, `targets` must be the name of the column that "
                "holds the evaluation labels."
            )
        for column, role in ((targets, "targets"), (predictions, "predictions")):
            if column is not None and column not in frame.columns:
                raise InvalidParameterValue(
                    f"The {role} column {column!r} is not in the data (columns: "
                    f"{', '.join(map(str, frame.columns))})."
                )
        if feature_names is not None:
            missing = [c for c in feature_names if c not in frame.columns]
            if missing:
                raise InvalidParameterValue(f"feature_names {missing} are not columns of the data.")
            features = frame[list(feature_names)]
        else:
            features = frame.drop(columns=[c for c in (targets, predictions) if c is not None])
            features = features.rename(
                columns={c: c if isinstance(c, str) else f"feature_{c}" for c in features.columns}
            )
        return _EvaluationData(
            features,
            frame[targets].to_numpy(),
            frame[predictions].to_numpy() if predictions is not None else None,
            dataset or from_pandas(frame, dataset_path, targets=targets, predictions=predictions),
            targets,
            predictions,
        )
    if predictions is not None:
        raise InvalidParameterValue(
            "predictions names a column of data: evaluating a static dataset needs data as a "
            "pandas DataFrame."
        )
    try:
        array = np.asarray(data)
    except Exception as error:
        raise InvalidParameterValue(
            f"data must be a pandas DataFrame, a numpy array or a list; got {type(data).__name__}."
        ) from error
    if array.ndim != 2:
        raise InvalidParameterValue(
            f"data as an array must be two-dimensional (rows × features), not shape {array.shape}."
        )
    labels = np.asarray(targets)
    if isinstance(targets, str) or labels.ndim != 1:
        raise InvalidParameterValue(
            f"With data as an array, targets must hold the labels (one per row), not {targets!r}."
        )
    if len(labels) != len(array):
        raise InvalidParameterValue(
            f"targets has {len(labels)} labels for {len(array)} rows of data: one per row."
        )
    count = array.shape[1]
    if feature_names is not None:
        names = list(feature_names)
        if len(names) != count:
            raise InvalidParameterValue(
                f"feature_names has {len(names)} names for {count} feature columns."
            )
    else:
        width = math.ceil(math.log10(count + 1))
        names = [f"feature_{str(i + 1).zfill(width)}" for i in range(count)]
    return _EvaluationData(
        pd.DataFrame(array, columns=names),
        labels,
        None,
        from_numpy(array, dataset_path, targets=labels),
    )


# ---------------------------------------------------------------------- model


@dataclass
class _Predictor:
    predict: Callable[[Any], Any] | None
    predict_proba: Callable[[Any], Any] | None = None
    score: Callable[..., Any] | None = None  # an sklearn model's own score (logged as "score")


def _predictor(model: Any, model_config: dict[str, Any] | None) -> _Predictor:
    from mltrack.models.pyfunc import PyFuncModel, load_model

    if model is None:
        return _Predictor(None)
    if isinstance(model, str):
        if model.startswith(("endpoints:/", "apps:/")):
            raise InvalidParameterValue(
                f"{model!r} is an MLflow Deployments endpoint, which mltrack does not offer: "
                "pass a model URI, a loaded model or a function."
            )
        model = load_model(model, model_config=model_config)
    if isinstance(model, PyFuncModel):
        raw = model.get_raw_model() if model.loader_module in _RAW_MODEL_LOADERS else None
        if raw is None:
            return _Predictor(model.predict)
        is_sklearn = model.loader_module == "mlflow.sklearn"
        return _Predictor(
            raw.predict,
            getattr(raw, "predict_proba", None),
            getattr(raw, "score", None) if is_sklearn else None,
        )
    if callable(model):
        return _Predictor(model)
    raise InvalidParameterValue(
        "The model argument must be a model URI (runs:/, models:/ or a path), a PyFuncModel "
        f"from pyfunc.load_model, a function, or None; got {type(model).__name__}."
    )


def _prediction_column(output: Any, name: str | None) -> Any:
    """The one column of predictions in what the model returned (``predictions`` names it)."""
    import numpy as np
    import pandas as pd

    if isinstance(output, list) and output and all(isinstance(p, dict) for p in output):
        output = pd.DataFrame(output)
    if isinstance(output, dict):
        output = pd.DataFrame(output)
    if isinstance(output, pd.DataFrame):
        if name is not None and name in output.columns:
            return output[name].to_numpy()
        if len(output.columns) == 1:
            return output.iloc[:, 0].to_numpy()
        if name is None:
            raise InvalidParameterValue(
                "Output column name is not specified for the multi-output model. Please set the "
                "correct output column name using the `predictions` parameter."
            )
        raise InvalidParameterValue(
            f"Output column name {name!r} is not found in the model predictions "
            f"({', '.join(map(str, output.columns))}). Set `predictions` to one of them."
        )
    array = np.asarray(output)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    return array


# ---------------------------------------------------------------------- logging


@contextlib.contextmanager
def _run() -> Iterator[str]:
    """The active run, else a run started now and ended (committed) when evaluation is done."""
    active = fluent.active_run()
    if active is not None:
        yield active.info.run_id
        return
    with fluent.start_run() as run:
        yield run.info.run_id


class _Logger:
    """Writes one evaluation's metrics and artifacts into a run, remembering what it wrote."""

    def __init__(self, run_id: str, prefix: str, workdir: Path) -> None:
        self.run_id = run_id
        self.prefix = prefix
        self.workdir = workdir
        self.client = fluent.client()
        self.artifacts: dict[str, EvaluationArtifact] = {}

    def _artifact(
        self, kind: type[EvaluationArtifact], file_name: str, content: Any = None
    ) -> EvaluationArtifact:
        """What the result says of a file logged into the run: its URI (the run's file, or
        over http the server's URI, read back from the server when needed)."""
        if self.client.remote:
            uri = self.client.get_artifact_uri(self.run_id, file_name)  # type: ignore[attr-defined]
            return kind(uri, content, fetch=(self.run_id, file_name))
        runs = self.client.repository.runs
        return kind((runs.artifact_dir(self.run_id) / file_name).as_uri(), content)

    def metrics(
        self, values: dict[str, Any], named: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Log ``values`` under the metric prefix, and ``named`` (already named) after them."""
        named = {**{f"{self.prefix}{k}": v for k, v in values.items()}, **(named or {})}
        when = now_ms()
        self.client.log_batch(
            self.run_id, metrics=[Metric(k, float(v), when, 0) for k, v in named.items()]
        )
        return named

    def table(self, name: str, frame: Any) -> None:
        file_name = f"{name}.csv"  # MLflow prefixes plots and metrics, not this table
        path = self.workdir / file_name
        frame.to_csv(path, index=False)
        self.client.log_artifact(self.run_id, str(path))
        self.artifacts[name] = self._artifact(CsvEvaluationArtifact, file_name, frame)

    def eval_table(
        self,
        data: _EvaluationData,
        y_pred: Any,
        predictions: str | None,
        computed: dict[str, MetricValue],
    ) -> None:
        """Per-row scores (and justifications) beside the features, targets and predictions."""
        columns: dict[str, Any] = {}
        for name, value in computed.items():
            if value.scores:
                columns[f"{self.prefix}{name}/score"] = value.scores
            if value.justifications:
                columns[f"{self.prefix}{name}/justification"] = value.justifications
        if not columns:
            return
        table = data.features.assign(
            **{
                data.targets_name or "target": data.targets,
                data.predictions_name or predictions or "outputs": list(y_pred),
                **columns,
            }
        )
        file_name = f"{self.prefix}eval_results_table.json"
        self.client.log_table(self.run_id, table, file_name)
        self.artifacts["eval_results_table"] = self._artifact(JsonEvaluationArtifact, file_name)

    def custom(
        self, name: str, path: Path, kind: type[EvaluationArtifact], value: Any
    ) -> EvaluationArtifact:
        if name in self.artifacts:
            raise InvalidParameterValue(
                f"A custom artifact is named '{name}', as an artifact the evaluator logs; "
                "name it differently."
            )
        self.client.log_artifact(self.run_id, str(path))
        return self._artifact(kind, path.name)

    def plot(self, name: str, draw: Callable[[Path], Path]) -> None:
        global _warned_no_matplotlib
        try:
            import matplotlib  # noqa: F401  (the plot extra)
        except ImportError:
            if not _warned_no_matplotlib:
                _warned_no_matplotlib = True
                warnings.warn(
                    "matplotlib is not installed, so evaluate logs metrics but no plots; "
                    "install mltrack[plot] for the confusion matrix and curve plots.",
                    EvaluationPlotWarning,
                    stacklevel=4,
                )
            return
        file_name = f"{self.prefix}{name}.png"
        try:
            draw(self.workdir / file_name)
        except (ValueError, TypeError) as error:  # a curve undefined for this data (one class)
            logger.warning("Failed to log image artifact %r: %r", name, error)
            return
        self.client.log_artifact(self.run_id, str(self.workdir / file_name))
        self.artifacts[name] = self._artifact(ImageEvaluationArtifact, file_name)


# ---------------------------------------------------------------------- evaluators


_Finish = Callable[[dict[str, Any]], dict[str, Any]]  # built-in metrics -> all, logged


def _model_score(predictor: _Predictor, data: _EvaluationData, weights: Any) -> dict[str, Any]:
    """``{"score": ...}``: a scikit-learn model's own ``score``, when it can compute one."""
    if predictor.score is None:
        return {}
    try:
        return {"score": predictor.score(data.features.copy(), data.targets, sample_weight=weights)}
    except Exception as error:  # the model's own method; MLflow skips the metric the same way
        logger.warning("Computing sklearn model score failed: %r.", error)
        return {}


def _classifier(
    data: _EvaluationData,
    predictor: _Predictor,
    y_pred: Any,
    config: dict[str, Any],
    out: _Logger,
    finish: _Finish,
) -> dict[str, Any]:
    from mltrack.models.evaluation import plots

    y_true = data.targets
    weights = config.get("sample_weights")
    y_proba = predictor.predict_proba(data.features.copy()) if predictor.predict_proba else None
    classes = builtin.class_labels(
        y_true, y_pred, config.get("label_list"), config.get("pos_label")
    )
    values = _model_score(predictor, data, weights)
    if classes.binary:
        values.update(builtin.binary_metrics(y_true, y_pred, y_proba, classes, weights))
    else:
        average = config.get("average", "weighted")
        values.update(
            builtin.multiclass_metrics(y_true, y_pred, y_proba, classes, average, weights)
        )
    logged = finish(values)

    if classes.binary:
        if y_proba is not None:
            out.plot(
                "roc_curve_plot", lambda p: plots.roc_curve(y_true, y_proba, classes, weights, p)
            )
            out.plot(
                "precision_recall_curve_plot",
                lambda p: plots.precision_recall_curve(y_true, y_proba, classes, weights, p),
            )
            out.plot("lift_curve_plot", lambda p: plots.lift_curve(y_true, y_proba, classes, p))
            out.plot(
                "calibration_curve_plot",
                lambda p: plots.calibration_curve(y_true, y_proba, classes, p),
            )
    else:
        limit = config.get("max_classes_for_multiclass_roc_pr", 10)
        curves = y_proba is not None and len(classes.labels) <= limit
        if y_proba is not None:
            out.plot(
                "calibration_curve_plot",
                lambda p: plots.calibration_curve(y_true, y_proba, classes, p),
            )
            if not curves:
                logger.warning(
                    "The classifier has %d classes > %d: the ROC and precision-recall curves are "
                    "not logged (raise evaluator_config['max_classes_for_multiclass_roc_pr']).",
                    len(classes.labels),
                    limit,
                )
        if curves:
            out.plot(
                "roc_curve_plot", lambda p: plots.roc_curve(y_true, y_proba, classes, weights, p)
            )
            out.plot(
                "precision_recall_curve_plot",
                lambda p: plots.precision_recall_curve(y_true, y_proba, classes, weights, p),
            )
        table = builtin.per_class_metrics(y_true, y_pred, y_proba, classes, weights, curves)
        out.table("per_class_metrics", table)
    out.plot(
        "confusion_matrix", lambda p: plots.confusion_matrix(y_true, y_pred, classes, weights, p)
    )
    return logged


def _regressor(
    data: _EvaluationData,
    predictor: _Predictor,
    y_pred: Any,
    config: dict[str, Any],
    out: _Logger,
    finish: _Finish,
) -> dict[str, Any]:
    weights = config.get("sample_weights")
    values = _model_score(predictor, data, weights)
    values.update(builtin.regressor_metrics(data.targets, y_pred, weights))
    return finish(values)


def evaluate(
    model: Any = None,
    data: Any = None,
    *,
    model_type: str | None = None,
    targets: Any = None,
    predictions: str | None = None,
    dataset_path: str | None = None,
    feature_names: Sequence[str] | None = None,
    evaluators: str | Sequence[str] | None = None,
    evaluator_config: dict[str, Any] | None = None,
    extra_metrics: Any = None,
    custom_artifacts: Any = None,
    env_manager: str = "local",
    model_config: dict[str, Any] | None = None,
    inference_params: dict[str, Any] | None = None,
    model_id: str | None = None,
) -> EvaluationResult:
    """Evaluate a classifier or regressor on ``data`` with MLflow's default evaluator.

    ``model``: a model URI (``runs:/``, ``models:/``, a path), a loaded pyfunc
    model, a function of the features, or None with ``predictions`` naming the
    column of ``data`` that holds them. ``data``: a pandas DataFrame (``targets``
    names its label column) or an array (``targets`` holds the labels). Metrics
    and plots go to the active run, or to a run started (and ended) for them.
    """
    if data is None:
        raise InvalidParameterValue("The data argument cannot be None.")
    config = _flat_config(evaluators, evaluator_config)
    _refuse_unoffered(
        model_type, extra_metrics, custom_artifacts, env_manager, inference_params, model_config,
        model,
    )  # fmt: skip
    mapping = config.get("col_mapping") or {}
    if isinstance(targets, str):
        targets = mapping.get(targets, targets)
    if isinstance(predictions, str):
        predictions = mapping.get(predictions, predictions)
    from mltrack.data import PandasDataset

    if targets is None and not isinstance(data, PandasDataset):
        raise InvalidParameterValue(
            f"The targets argument must be specified for {model_type} models."
        )
    _note_explainability(config)
    predictor = _predictor(model, model_config)
    evaluation = _evaluation_data(
        data, targets, predictions if model is None else None, feature_names, dataset_path
    )
    if predictor.predict is None and evaluation.predictions is None:
        raise InvalidParameterValue(
            "Either a model or a set of predictions must be given: pass the model, or name the "
            "column of data that holds its predictions with predictions=."
        )
    if predictor.predict is not None:
        y_pred = _prediction_column(predictor.predict(evaluation.features.copy()), predictions)
    else:
        y_pred = evaluation.predictions
    if len(y_pred) != len(evaluation.targets):
        raise InvalidParameterValue(
            f"The model returned {len(y_pred)} predictions for {len(evaluation.targets)} rows."
        )
    prefix = config.get("metric_prefix") or ""
    if not isinstance(prefix, str):
        raise InvalidParameterValue(f"metric_prefix must be a string, not {prefix!r}.")

    with _run() as run_id, tempfile.TemporaryDirectory(prefix="mltrack-evaluate-") as tmp:
        client = fluent.client()
        # The metric prefix names the dataset's context, as in MLflow.
        tags = (InputTag("mlflow.data.context", prefix),) if prefix else ()
        client.log_inputs(run_id, [DatasetInput(evaluation.dataset.to_entity(), tags)])
        out = _Logger(run_id, prefix, Path(tmp))
        evaluator = _classifier if model_type == "classifier" else _regressor

        def finish(values: dict[str, Any]) -> dict[str, Any]:
            if not extra_metrics:
                return out.metrics(values)
            aggregates, computed = compute_extra_metrics(
                extra_metrics,
                y_pred,
                evaluation.targets,
                evaluation.features,
                values,
                config,
                prefix,
            )
            logged = out.metrics(values, aggregates)
            out.eval_table(evaluation, y_pred, predictions, computed)
            return logged

        try:
            logged = evaluator(evaluation, predictor, y_pred, config, out, finish)
        except ValueError as error:  # scikit-learn's word on data a metric is undefined for
            raise InvalidParameterValue(
                f"Cannot compute the {model_type} metrics for this data: {error}"
            ) from error
        if custom_artifacts:
            out.artifacts.update(
                run_custom_artifacts(
                    custom_artifacts, y_pred, evaluation.targets, logged, out.workdir, out.custom
                )
            )
        return EvaluationResult(logged, out.artifacts, run_id)
