"""Artifacts of runs by id: MlflowClient's artifact methods over :mod:`mltrack.tracking.artifacts`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mltrack.entities import FileInfo
from mltrack.store.repository import Repository
from mltrack.tracking import artifacts as artifact_io

__all__ = ["RunArtifacts"]


class RunArtifacts:
    """Files in the artifact directories of the runs of one repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def root(self, run_id: str) -> Path:
        return self.repo.runs.artifact_dir(run_id)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        artifact_io.copy_file(Path(local_path), self.root(run_id), artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        artifact_io.copy_tree(Path(local_dir), self.root(run_id), artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        artifact_io.write_bytes(self.root(run_id), artifact_file, text.encode("utf-8"))

    def log_dict(self, run_id: str, dictionary: dict[str, Any], artifact_file: str) -> None:
        artifact_io.write_bytes(
            self.root(run_id), artifact_file, artifact_io.serialize_dict(dictionary, artifact_file)
        )

    def log_figure(
        self,
        run_id: str,
        figure: Any,
        artifact_file: str,
        *,
        save_kwargs: dict[str, Any] | None = None,
    ) -> None:
        artifact_io.write_bytes(
            self.root(run_id),
            artifact_file,
            artifact_io.render_figure(figure, artifact_file, save_kwargs),
        )

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return artifact_io.list_dir(self.root(run_id), path)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        return str(artifact_io.download(self.root(run_id), path, dst_path))

    def get_artifact_file(self, run_id: str, path: str) -> Path:
        """The stored file of one artifact, to stream it (directories are refused)."""
        return artifact_io.stored_file(self.root(run_id), path)

    def open_artifact_writer(self, run_id: str, artifact_file: str) -> artifact_io.ArtifactWriter:
        """A writer that receives one artifact in pieces (an upload) without holding it in memory."""
        return artifact_io.ArtifactWriter(self.root(run_id), artifact_file)
