"""Artifacts of runs by id: MlflowClient's artifact methods over :mod:`mltrack.tracking.artifacts`,
and browsing or copying them out at any git revision (``mltrack artifacts list|get``).
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from mltrack import safepath
from mltrack.entities import FileInfo
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.gitstore import MLTRACK_DIR
from mltrack.store import validation
from mltrack.store.files import atomic_write
from mltrack.store.repository import Repository
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

    def log_stream(self, run_id: str, stream: Any, artifact_file: str) -> None:
        """A binary file-like object's contents as one artifact, copied in pieces."""
        with self.open_artifact_writer(run_id, artifact_file) as writer:
            while chunk := stream.read(1 << 20):
                if not isinstance(chunk, bytes | bytearray | memoryview):
                    raise InvalidParameterValue(
                        f"log_stream needs a binary stream (io.BytesIO, open(..., 'rb')); "
                        f"it read {type(chunk).__name__}."
                    )
                writer.write(bytes(chunk))

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
        root = self.root(run_id)
        for path, data in media.image_files(image, artifact_file, key, step, timestamp).items():
            artifact_io.write_bytes(root, path, data)
        if artifact_file is None:
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

    # -- browsing, in the working tree or at a revision ------------------------------------

    def _missing(self, run_id: str, relative: str, rev: str | None) -> ResourceDoesNotExist:
        where = f" at {rev}" if rev else ""
        return ResourceDoesNotExist(
            f"Run {run_id[:8]} has no artifact {relative!r}{where}. "
            f"List its artifacts with `mltrack artifacts list {run_id[:8]}`."
        )

    def _stored_dir(self, run_id: str, rev: str) -> tuple[str, str]:
        """The commit ``rev`` names and the run's artifact directory in its tree."""
        commit = self.repo.git.rev_parse(rev)
        record = self.repo.revisions.snapshot(rev).runs.get(run_id)
        if record is None:
            raise ResourceDoesNotExist(f"Run {run_id} is not stored at {rev}.")
        return commit, f"{MLTRACK_DIR}/experiments/{record.experiment_id}/runs/{run_id}/artifacts"

    def browse(
        self, run_id: str, path: str | None = None, rev: str | None = None
    ) -> list[FileInfo]:
        """The entries of an artifact directory (or the one file ``path`` names), at ``rev``.

        A path that names nothing is an error; a run without artifacts lists nothing.
        """
        relative = validation.artifact_path(path)
        if rev is None:
            target = safepath.inside(self.root(run_id), relative, "artifact path")
            if target.is_file():
                return [FileInfo(relative, False, target.stat().st_size)]
            if relative and not target.is_dir():
                raise self._missing(run_id, relative, rev)
            return self.list_artifacts(run_id, relative)
        git = self.repo.git
        commit, base = self._stored_dir(run_id, rev)
        where = f"{base}/{relative}" if relative else base
        entry = git.history.tree_entry(commit, where)
        if entry is None:
            if relative:
                raise self._missing(run_id, relative, rev)
            return []
        if not entry.is_dir:
            return [FileInfo(relative, False, len(git.objects.blob(entry.sha)))]
        return [
            FileInfo(
                child.path[len(base) + 1 :],
                child.is_dir,
                None if child.is_dir else len(git.objects.blob(child.sha)),
            )
            for child in git.history.list_dir(commit, where)
        ]

    def read(self, run_id: str, path: str, rev: str | None = None) -> bytes:
        """The content of one artifact file, at ``rev``."""
        relative = validation.artifact_path(path)
        if rev is None:
            target = safepath.inside(self.root(run_id), relative, "artifact path")
            if target.is_dir():
                raise InvalidParameterValue(f"Artifact {relative!r} is a directory, not a file.")
            if not relative or not target.is_file():
                raise self._missing(run_id, relative, rev)
            return target.read_bytes()
        commit, base = self._stored_dir(run_id, rev)
        entry = self.repo.git.history.tree_entry(commit, f"{base}/{relative}") if relative else None
        if entry is None:
            raise self._missing(run_id, relative, rev)
        if entry.is_dir:
            raise InvalidParameterValue(f"Artifact {relative!r} is a directory, not a file.")
        return self.repo.git.objects.blob(entry.sha)

    def copy_out(
        self, run_id: str, path: str, destination: Path | None = None, rev: str | None = None
    ) -> Path:
        """Copy an artifact file or directory out of the run, as stored at ``rev``.

        ``destination``: an existing directory receives it under its own name; any
        other path is the copy's own name (default: its name in the current directory).
        Returns the path written.
        """
        relative = validation.artifact_path(path)
        name = PurePosixPath(relative).name or "artifacts"
        if destination is None:
            target = Path.cwd() / name
        elif destination.is_dir():
            target = destination / name
        else:
            target = destination
        if rev is None:
            source = safepath.inside(self.root(run_id), relative, "artifact path")
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            elif source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            else:
                raise self._missing(run_id, relative, rev)
            return target
        git = self.repo.git
        commit, base = self._stored_dir(run_id, rev)
        where = f"{base}/{relative}" if relative else base
        entry = git.history.tree_entry(commit, where)
        if entry is None:
            raise self._missing(run_id, relative, rev)
        if not entry.is_dir:
            self._write(target, git.objects.blob(entry.sha))
            return target
        for file in git.history.list_files(commit, where):
            inner = safepath.tree_path(file.path[len(where) + 1 :], "artifact file")
            self._write(safepath.inside(target, inner, "artifact file"), git.objects.blob(file.sha))
        return target

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data, durable=False)
