"""What ``evaluate`` returns: :class:`EvaluationResult` and its artifacts (MLflow's shapes)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

__all__ = [
    "CsvEvaluationArtifact",
    "EvaluationArtifact",
    "EvaluationResult",
    "ImageEvaluationArtifact",
    "JsonEvaluationArtifact",
    "NumpyEvaluationArtifact",
    "ParquetEvaluationArtifact",
    "TextEvaluationArtifact",
]

logger = logging.getLogger("mltrack")


class EvaluationArtifact:
    """An artifact an evaluation logged: its URI, and its content read on first use."""

    def __init__(self, uri: str, content: Any = None) -> None:
        self._uri = uri
        self._content = content

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def content(self) -> Any:
        if self._content is None:
            self._content = self._read(Path(unquote(urlparse(self._uri).path)))
        return self._content

    def _read(self, path: Path) -> Any:
        return path.read_bytes()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uri='{self.uri}')"


class ImageEvaluationArtifact(EvaluationArtifact):
    """A PNG plot; its content is a PIL image (the ``images`` extra)."""

    def _read(self, path: Path) -> Any:
        from PIL import Image

        with Image.open(path) as image:
            image.load()
            return image


class CsvEvaluationArtifact(EvaluationArtifact):
    """A CSV table; its content is a pandas DataFrame."""

    def _read(self, path: Path) -> Any:
        import pandas as pd

        return pd.read_csv(path)


class JsonEvaluationArtifact(EvaluationArtifact):
    def _read(self, path: Path) -> Any:
        return json.loads(path.read_text())


class NumpyEvaluationArtifact(EvaluationArtifact):
    def _read(self, path: Path) -> Any:
        import numpy as np

        return np.load(path, allow_pickle=False)


class ParquetEvaluationArtifact(EvaluationArtifact):
    def _read(self, path: Path) -> Any:
        import pandas as pd

        return pd.read_parquet(path)


class TextEvaluationArtifact(EvaluationArtifact):
    def _read(self, path: Path) -> Any:
        return path.read_text()


class EvaluationResult:
    """The metrics and artifacts one ``evaluate`` call logged, and the run it logged them to."""

    def __init__(
        self,
        metrics: dict[str, Any],
        artifacts: dict[str, EvaluationArtifact],
        run_id: str | None = None,
    ) -> None:
        self._metrics = metrics
        self._artifacts = artifacts
        self._run_id = run_id

    @property
    def metrics(self) -> dict[str, Any]:
        """Metric name -> value, as logged to the run."""
        return self._metrics

    @property
    def artifacts(self) -> dict[str, EvaluationArtifact]:
        """Artifact name (``roc_curve_plot``, ``per_class_metrics`` …) -> artifact."""
        return self._artifacts

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def tables(self) -> dict[str, Any]:
        """The artifacts that are tables logged with ``log_table``, as DataFrames.

        As in MLflow, the default evaluator's classifier and regressor results have
        none (their per-class metrics are a CSV artifact, not a logged table).
        """
        from mltrack.tracking import fluent, media

        tables: dict[str, Any] = {}
        if self._run_id is None:
            logger.warning("Cannot load eval_results_table because run_id is not specified.")
            return tables
        client = fluent.client()
        listed = client.get_run(self._run_id).data.tags.get(media.LOGGED_ARTIFACTS_TAG)
        logged = {
            entry.get("path")
            for entry in (json.loads(listed) if listed else [])
            if isinstance(entry, dict) and entry.get("type") == "table"
        }
        for name, artifact in self._artifacts.items():
            file_name = Path(unquote(urlparse(artifact.uri).path)).name
            if file_name in logged:
                tables[name] = client.artifacts.load_table(self._run_id, file_name)
        return tables

    def __repr__(self) -> str:
        return (
            f"EvaluationResult(metrics={sorted(self._metrics)}, "
            f"artifacts={sorted(self._artifacts)}, run_id={self._run_id!r})"
        )
