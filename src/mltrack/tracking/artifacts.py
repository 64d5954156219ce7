"""Artifact files of a run: copied in atomically, never outside the run's artifact root."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mltrack import safepath
from mltrack.entities import FileInfo
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.store import validation, yamlio
from mltrack.store.files import atomic_write, temp_path

__all__ = [
    "ArtifactWriter",
    "copy_file",
    "copy_tree",
    "download",
    "existing_file",
    "list_dir",
    "render_figure",
    "serialize_dict",
    "stored_file",
    "write_bytes",
]


def _target(root: Path, relative: str) -> Path:
    # artifact_path() refuses '..', '.git' and absolute paths; inside() also
    # covers a symlinked directory inside the artifact root pointing elsewhere.
    return safepath.inside(root, validation.artifact_path(relative), "artifact path")


def list_dir(root: Path, path: str | None = None) -> list[FileInfo]:
    """The entries of one artifact directory (none for a file or a missing path), sorted."""
    relative = validation.artifact_path(path)
    directory = _target(root, relative)
    if not directory.is_dir():
        return []
    infos = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        rel = f"{relative}/{entry.name}" if relative else entry.name
        if entry.is_dir():
            infos.append(FileInfo(rel, True, None))
        else:
            infos.append(FileInfo(rel, False, entry.stat().st_size))
    return infos


def write_bytes(root: Path, artifact_file: str, data: bytes) -> Path:
    relative = validation.artifact_path(artifact_file, "artifact file")
    if not relative:
        raise InvalidParameterValue("The artifact file name is empty.")
    target = _target(root, relative)
    atomic_write(target, data)
    return target


class ArtifactWriter:
    """One artifact received in pieces (an upload), never held in memory.

    The pieces go to a unique temporary file beside the target; ``close()``
    fsyncs it and renames it over the target, ``discard()`` removes it. Used
    as a context manager, an exception discards.
    """

    def __init__(self, root: Path, artifact_file: str) -> None:
        relative = validation.artifact_path(artifact_file, "artifact file")
        if not relative:
            raise InvalidParameterValue("The artifact file name is empty.")
        self.target = _target(root, relative)
        if self.target.is_dir():
            raise InvalidParameterValue(
                f"Artifact path {relative!r} is a directory; upload to a file path inside it."
            )
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{self.target.name}.upload-", dir=self.target.parent)
        self._tmp = Path(name)
        self._handle = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self.size += len(data)

    def close(self) -> Path:
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            os.replace(self._tmp, self.target)
        except BaseException:
            self.discard()
            raise
        return self.target

    def discard(self) -> None:
        self._handle.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> ArtifactWriter:
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


def existing_file(root: Path, path: str) -> Path | None:
    """The stored file at ``path`` if there is one (the path checked as every artifact path)."""
    target = _target(root, path)
    return target if target.is_file() else None


def stored_file(root: Path, path: str) -> Path:
    """The stored file of one artifact (to be streamed); a directory or a missing file is an error."""
    relative = validation.artifact_path(path)
    target = _target(root, relative)
    if target.is_dir():
        raise InvalidParameterValue(f"Artifact path refers to a directory, not a file: {path!r}")
    if not relative or not target.is_file():
        raise ResourceDoesNotExist(f"No such artifact: {path!r}")
    return target


def copy_file(local_path: Path, root: Path, artifact_path: str | None = None) -> Path:
    if not local_path.is_file():
        raise ResourceDoesNotExist(f"No such file to log as an artifact: {local_path}")
    target = _target(
        root, f"{artifact_path}/{local_path.name}" if artifact_path else local_path.name
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    _copy_into_place(local_path, target)
    return target


def _copy_into_place(source: Path, target: Path) -> None:
    """``source``'s bytes at ``target``, atomically (a reader sees the old file or the new)."""
    tmp = temp_path(target)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def copy_tree(local_dir: Path, root: Path, artifact_path: str | None = None) -> Path:
    if not local_dir.is_dir():
        raise ResourceDoesNotExist(f"No such directory to log as artifacts: {local_dir}")
    directory = _target(root, artifact_path or "")
    sources = []
    for folder, _, names in os.walk(local_dir):
        relative_folder = os.path.relpath(folder, local_dir)
        for name in names:
            source = Path(folder, name)
            if source.is_file():  # a symlink to a file is copied as the file, as MLflow does
                relative = name if relative_folder == "." else f"{relative_folder}/{name}"
                sources.append((relative.replace(os.sep, "/"), source))
    sources.sort()
    for relative, _ in sources:  # all checked before the first copy: a refusal copies nothing
        validation.artifact_path(relative, "file in the directory")
    # One symlink check per destination folder, not two path resolutions per file: a file
    # that is itself a symlink is replaced, not followed, by the copy's rename.
    checked: dict[str, Path] = {}
    for relative, source in sources:
        parent, _, name = relative.rpartition("/")
        folder_path = checked.get(parent)
        if folder_path is None:
            folder_path = safepath.inside(directory, parent, "artifact path")
            folder_path.mkdir(parents=True, exist_ok=True)
            checked[parent] = folder_path
        _copy_into_place(source, folder_path / name)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def serialize_dict(dictionary: dict[str, Any], artifact_file: str) -> bytes:
    """JSON, or YAML when the file name ends in .yaml/.yml (as MLflow's log_dict)."""
    if artifact_file.endswith((".yaml", ".yml")):
        return yamlio.dump(dictionary)
    return json.dumps(dictionary, indent=2).encode("utf-8")


def render_figure(
    figure: Any, artifact_file: str, save_kwargs: dict[str, Any] | None = None
) -> bytes:
    """A matplotlib or plotly figure as bytes in the format the file name asks for."""
    kwargs = dict(save_kwargs or {})
    module = type(figure).__module__
    if module.startswith("matplotlib"):
        buffer = io.BytesIO()
        kwargs.setdefault("format", Path(artifact_file).suffix.lstrip(".") or "png")
        figure.savefig(buffer, **kwargs)
        return buffer.getvalue()
    if module.startswith("plotly"):
        if artifact_file.endswith(".html"):
            return str(figure.to_html(**kwargs)).encode("utf-8")
        return bytes(figure.to_image(format=Path(artifact_file).suffix.lstrip("."), **kwargs))
    raise InvalidParameterValue(
        f"Unsupported figure type {type(figure).__name__}: log_figure takes a matplotlib or plotly figure."
    )


def download(root: Path, path: str, dst_path: str | None = None) -> Path:
    """A local copy of an artifact file or directory (the stored file itself without dst_path)."""
    source = _target(root, path or "")
    if not source.exists():
        raise ResourceDoesNotExist(f"No artifact at {path!r} in this run.")
    if dst_path is None:
        dst_path = tempfile.mkdtemp(prefix="mltrack-artifacts-")
    destination = Path(dst_path) / (source.name if path else "artifacts")
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, destination, dirs_exist_ok=True)
    else:
        shutil.copyfile(source, destination)
    return destination
