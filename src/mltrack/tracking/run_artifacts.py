"""Artifacts of runs by id: MlflowClient's artifact methods over :mod:`mltrack.tracking.artifacts`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mltrack.entities import FileInfo
from mltrack.exceptions import InvalidParameterValue
from mltrack.store.repository import Repository, now_ms
from mltrack.tracking import artifacts as artifact_io
from mltrack.tracking import media

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

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """An image (numpy array or PIL image) as ``artifact_file``, or time-stepped under ``key``."""
        if artifact_file is not None and (key, step, timestamp) != (None, None, None):
            raise InvalidParameterValue(
                "log_image takes either artifact_file, or key with step and timestamp, not both."
            )
        if artifact_file is None and key is None:
            raise InvalidParameterValue(
                "log_image needs artifact_file (a static image) or key (an image per step)."
            )
        picture = media.to_pil_image(image)
        root = self.root(run_id)
        if artifact_file is not None:
            artifact_io.write_bytes(root, artifact_file, media.image_bytes(picture, artifact_file))
            return
        assert key is not None
        full, small = media.image_key_paths(key, int(step or 0), int(timestamp or now_ms()))
        png, webp = media.png_and_thumbnail(picture)
        artifact_io.write_bytes(root, full, png)
        artifact_io.write_bytes(root, small, webp)
        with self.repo.runs.updating(run_id) as live:
            live.set_tags({media.LOGGED_IMAGES_TAG: "True"})

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """A DataFrame or dict as a table file; rows are appended when the file exists."""
        root = self.root(run_id)
        content = media.table_bytes(
            data, artifact_file, artifact_io.existing_file(root, artifact_file)
        )
        artifact_io.write_bytes(root, artifact_file, content)
        with self.repo.runs.updating(run_id) as live:
            current = live.snapshot().tags.get(media.LOGGED_ARTIFACTS_TAG)
            tag = media.table_tag(current, artifact_file)
            if tag is not None:
                live.set_tags({media.LOGGED_ARTIFACTS_TAG: tag})

    def load_table(self, run_id: str, artifact_file: str) -> Any:
        """The table a run logged as ``artifact_file`` (a pandas DataFrame)."""
        return media.read_table(artifact_io.stored_file(self.root(run_id), artifact_file))

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
