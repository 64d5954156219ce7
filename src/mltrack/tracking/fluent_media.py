"""The fluent ``log_image``, ``log_table`` and ``load_table`` (MLflow's names and arguments)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mltrack.exceptions import ResourceDoesNotExist
from mltrack.tracking import fluent, media

if TYPE_CHECKING:
    import pandas

__all__ = ["load_table", "log_image", "log_table"]

logger = logging.getLogger("mltrack")


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = None,
) -> None:
    """Log an image: ``log_image(img, "dir/a.png")``, or per step: ``log_image(img, key="k", step=3)``."""
    fluent.client().log_image(
        fluent.live_run().run_id, image, artifact_file, key=key, step=step, timestamp=timestamp
    )


def log_table(
    data: dict[str, Any] | pandas.DataFrame, artifact_file: str, run_id: str | None = None
) -> None:
    """Log a table (DataFrame or dict of columns) as JSON or Parquet; an existing file grows."""
    fluent.client().log_table(run_id or fluent.live_run().run_id, data, artifact_file)


def _lists_table(tag: Any, artifact_file: str) -> bool:
    if not isinstance(tag, str):
        return False
    try:
        listed = json.loads(tag)
    except ValueError:
        return False
    return {"path": artifact_file, "type": "table"} in listed


def load_table(
    artifact_file: str,
    run_ids: Sequence[str] | None = None,
    extra_columns: Sequence[str] | None = None,
) -> pandas.DataFrame:
    """The tables ``log_table`` logged as ``artifact_file`` in the active experiment's runs, as one.

    ``run_ids`` limits the runs; ``extra_columns`` adds columns of ``search_runs``
    (``run_id``, ``metrics.rmse`` …) to each run's rows.
    """
    import pandas as pd

    runs = fluent.search_runs(experiment_ids=[fluent.active_experiment_id()])
    assert isinstance(runs, pd.DataFrame)  # the default output_format
    tag = f"tags.{media.LOGGED_ARTIFACTS_TAG}"
    if runs.empty or tag not in runs.columns:
        raise ResourceDoesNotExist("No runs found with the corresponding table artifact.")
    runs = runs[runs[tag].map(lambda value: _lists_table(value, artifact_file))]
    if run_ids:
        runs = runs[runs["run_id"].isin(list(run_ids))]
        if len(runs) != len(run_ids):
            logger.warning("Not all runs have the table %s; those are skipped.", artifact_file)
    if runs.empty:
        raise ResourceDoesNotExist("No runs found with the corresponding table artifact.")
    client = fluent.client()
    # the remote client fetches each table; a local one reads it in the repository
    artifacts: Any = client if client.remote else client.artifacts
    frames = []
    for _, run in runs.iterrows():
        frame = artifacts.load_table(run["run_id"], artifact_file)
        for column in extra_columns or ():
            name = f"{column}_" if column in frame.columns else column
            frame[name] = run[column]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
