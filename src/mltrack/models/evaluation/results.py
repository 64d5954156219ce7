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


def _local(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def _plain(value: Any) -> Any:
    """numpy scalars (the confusion counts) as JSON numbers."""
    item = getattr(value, "item", None)
    if item is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return item()


class EvaluationArtifact:
    """An artifact an evaluation logged: its URI, and its content read on first use.

    ``fetch`` (run id, artifact path): logged to a tracking server, so its content is
    downloaded from there when first read (the URI is the server's, not a file).
    """

    def __init__(self, uri: str, content: Any = None, fetch: tuple[str, str] | None = None) -> None:
        self._uri = uri
        self._content = content
        self._fetch = fetch

    def _source(self) -> Path:
        """A local file holding the artifact."""
        if self._fetch is None:
            return _local(self._uri)
        import tempfile

        from mltrack.tracking import fluent

        run_id, path = self._fetch
        directory = tempfile.mkdtemp(prefix="mltrack-evaluation-")
        return Path(fluent.client().download_artifacts(run_id, path, directory))

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def content(self) -> Any:
        if self._content is None:
            self._content = self._read(self._source())
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

    def save(self, path: str | Path) -> None:
        """Write the metrics, and a copy of each artifact, to the directory ``path``."""
        import shutil

        directory = Path(path)
        (directory / "artifacts").mkdir(parents=True, exist_ok=True)
        (directory / "metrics.json").write_text(json.dumps(self._metrics, default=_plain))
        listed = {
            name: {"uri": artifact.uri, "class_name": type(artifact).__name__}
            for name, artifact in self._artifacts.items()
        }
        (directory / "artifacts_metadata.json").write_text(json.dumps(listed))
        for artifact in self._artifacts.values():
            shutil.copy2(artifact._source(), directory / "artifacts" / _local(artifact.uri).name)

    @classmethod
    def load(cls, path: str | Path) -> EvaluationResult:
        """What :meth:`save` wrote; each artifact's content is read from the saved copy."""
        directory = Path(path)
        metrics = json.loads((directory / "metrics.json").read_text())
        listed = json.loads((directory / "artifacts_metadata.json").read_text())
        kinds = {kind.__name__: kind for kind in _ARTIFACT_CLASSES}
        artifacts: dict[str, EvaluationArtifact] = {}
        for name, entry in listed.items():
            kind = kinds.get(str(entry.get("class_name")).rpartition(".")[2], EvaluationArtifact)
            artifact = kind(entry["uri"])
            artifact._content = artifact._read(directory / "artifacts" / _local(entry["uri"]).name)
            artifacts[name] = artifact
        return cls(metrics, artifacts)

    def __repr__(self) -> str:
        return (
            f"EvaluationResult(metrics={sorted(self._metrics)}, "
            f"artifacts={sorted(self._artifacts)}, run_id={self._run_id!r})"
        )


_ARTIFACT_CLASSES = (
    CsvEvaluationArtifact,
    ImageEvaluationArtifact,
    JsonEvaluationArtifact,
    NumpyEvaluationArtifact,
    ParquetEvaluationArtifact,
    TextEvaluationArtifact,
)
