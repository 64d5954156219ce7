"""Parameter searches under sklearn autolog: the best candidate on the run, one child run each.

As MLflow's sklearn autolog does for ``GridSearchCV``, ``RandomizedSearchCV`` and
the halving searches: the search's run gets ``best_<param>`` params, the
``best_cv_score`` metric, the best estimator as the ``best_estimator`` model and
``cv_results_`` as ``cv_results.csv``. The best ``max_tuning_runs`` candidates
(by ``rank_test_score``) become child runs (``tags.mlflow.parentRunId``) with the
search's base estimator params updated by the candidate's, and the candidate's
``cv_results_`` columns other than ``param_*`` and per-split ones as metrics.
The child runs of one search are committed together, in one commit.
"""

from __future__ import annotations

import logging
import tempfile
from numbers import Real
from pathlib import Path
from typing import Any

from mltrack.entities import DatasetInput, InputTag, Metric, Param
from mltrack.store.repository import now_ms
from mltrack.tracking import fluent

__all__ = ["is_search", "log_search"]

logger = logging.getLogger("mltrack")

_SEARCH_CLASSES = (
    "GridSearchCV",
    "RandomizedSearchCV",
    "HalvingGridSearchCV",
    "HalvingRandomSearchCV",
)


def is_search(estimator: Any) -> bool:
    """Whether the estimator is one of sklearn's parameter searches."""
    return any(klass.__name__ in _SEARCH_CLASSES for klass in type(estimator).__mro__)


def log_search(
    estimator: Any,
    *,
    max_tuning_runs: int | None,
    params: Any,
    dataset: Any,
    child_tags: dict[str, str],
) -> None:
    """Log what a fitted search found on the active run, then its candidates as child runs.

    ``params`` turns an estimator into run params (autolog's own rules for keys and
    lengths); ``dataset`` is the training dataset input, or None.
    """
    if hasattr(estimator, "best_score_"):
        fluent.log_metric("best_cv_score", float(estimator.best_score_))
    if hasattr(estimator, "best_params_"):
        fluent.log_params({f"best_{k}": v for k, v in estimator.best_params_.items()})
    if not hasattr(estimator, "cv_results_"):
        return
    import pandas as pd

    results = pd.DataFrame.from_dict(estimator.cv_results_)
    try:
        _log_candidates(estimator, results, max_tuning_runs, params, dataset, child_tags)
    except Exception as error:  # as in MLflow: a failed child run never fails the fit
        logger.warning(
            "autolog: could not log the candidates of %s: %s", type(estimator).__name__, error
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cv_results.csv"
        results.to_csv(path, index=False)
        fluent.log_artifact(str(path))


def _best(results: Any, max_tuning_runs: int | None) -> Any:
    if max_tuning_runs is None:
        return results
    rank = "rank_test_score"
    if rank not in results.columns:  # several scorers: rank by the first one
        rank = next(c for c in results.columns if c.startswith("rank_"))
        logger.warning(
            "autolog: child runs are the top %d candidates by %s; "
            "set max_tuning_runs=None to log them all.",
            max_tuning_runs,
            rank,
        )
    return results.nsmallest(max_tuning_runs, rank)


def _log_candidates(
    estimator: Any,
    results: Any,
    max_tuning_runs: int | None,
    params: Any,
    dataset: Any,
    child_tags: dict[str, str],
) -> None:
    parent = fluent.active_run()
    assert parent is not None  # autolog starts a run around the fit when there is none
    best = _best(results, max_tuning_runs)
    if len(best) < len(results):
        logger.info(
            "autolog: logging the best %d of %d candidates as child runs.", len(best), len(results)
        )
    seed = estimator.estimator
    base_params = params(seed)
    tags = {
        **child_tags,
        "mlflow.parentRunId": parent.info.run_id,
        "estimator_name": type(seed).__name__,
        "estimator_class": f"{type(seed).__module__}.{type(seed).__name__}",
    }
    inputs = []
    if dataset is not None:
        inputs = [DatasetInput(dataset.to_entity(), (InputTag("mlflow.data.context", "train"),))]
    client = fluent.client()
    end_time = now_ms()
    name = type(estimator).__name__
    with client.runs.in_one_commit(
        f"{name}: {len(best)} candidate run(s) of run {parent.info.run_name}"
    ):
        for _, row in best.iterrows():
            candidate = {**base_params, **{str(k): str(v) for k, v in row["params"].items()}}
            metrics = {
                str(key): float(value)
                for key, value in row.items()
                if not str(key).startswith(("param", "split")) and isinstance(value, Real)
            }
            run = client.create_run(
                parent.info.experiment_id, start_time=parent.info.start_time, tags=tags
            )
            run_id = run.info.run_id
            client.log_batch(
                run_id,
                metrics=[Metric(k, v, end_time, 0) for k, v in metrics.items()],
                params=[Param(k, v) for k, v in candidate.items()],
            )
            if inputs:
                client.log_inputs(run_id, inputs)
            client.set_terminated(run_id, end_time=end_time)
