"""A run's artifacts for the browser: listing and previews, every path resolved inside the run.

A path with ``..`` or ``.git``, an absolute path, or a symlink whose target leaves the
run's artifact directory is refused before anything is read (``mltrack.safepath``). Previews read at most
``PREVIEW_BYTES``; everything is handed to templates as text (autoescaped).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mltrack import safepath
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.store import validation, yamlio

__all__ = ["Entry", "Preview", "inside", "listing", "preview"]

PREVIEW_BYTES = 256 * 1024
CSV_ROWS = 200
TEXT_SUFFIXES = {".txt", ".log", ".md", ".py", ".cfg", ".ini", ".toml", ".sh", ".diff", ".patch"}
YAML_NAMES = {"MLmodel", "MLproject", "conda.yaml", "python_env.yaml"}
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp", ".svg": "image/svg+xml"}  # fmt: skip


@dataclass(frozen=True)
class Entry:
    path: str
    name: str
    is_dir: bool
    size: int | None


@dataclass(frozen=True)
class Preview:
    """What the run page shows for one file: ``kind`` picks the template block."""

    path: str
    kind: str  # text | json | yaml | csv | image | mlmodel | binary
    size: int
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False
    signature: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def inside(root: Path, path: str) -> Path:
    """``root/path`` after the shared path rule (no ``..``, no ``.git``, no absolute path) and
    a check that it stays inside ``root`` with symlinks followed."""
    return safepath.inside(root, validation.artifact_path(path), "artifact path")


def listing(root: Path, path: str) -> list[Entry]:
    """The entries of directory ``path``; links that lead outside the run are left out."""
    directory = inside(root, path)
    if not directory.is_dir():
        return []
    prefix = validation.artifact_path(path)
    entries = []
    for item in sorted(os.scandir(directory), key=lambda e: (not e.is_dir(), e.name)):
        rel = f"{prefix}/{item.name}" if prefix else item.name
        try:
            inside(root, rel)
        except InvalidParameterValue:
            continue
        is_dir = item.is_dir()
        entries.append(Entry(rel, item.name, is_dir, None if is_dir else item.stat().st_size))
    return entries


def _read(file: Path) -> tuple[bytes, bool]:
    with open(file, "rb") as handle:
        data = handle.read(PREVIEW_BYTES + 1)
    return data[:PREVIEW_BYTES], len(data) > PREVIEW_BYTES


def _signature(document: Any) -> dict[str, list[dict[str, Any]]]:
    raw = document.get("signature") if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for part in ("inputs", "outputs", "params"):
        text = raw.get(part)
        if not text:
            continue
        try:
            specs = json.loads(text) if isinstance(text, str) else text
        except ValueError:
            continue
        if isinstance(specs, list):
            out[part] = [s for s in specs if isinstance(s, dict)]
    return out


def preview(root: Path, path: str) -> Preview:
    """A preview of file ``path``; a missing file or a directory is an error."""
    file = inside(root, path)
    if not file.is_file():
        raise ResourceDoesNotExist(f"No such artifact file: {path!r}")
    size = file.stat().st_size
    name = file.name
    suffix = file.suffix.lower()
    if suffix in IMAGE_TYPES:
        return Preview(path, "image", size)
    data, truncated = _read(file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Preview(path, "binary", size)
    if name == "MLmodel":
        try:
            document = yamlio.load(data) if not truncated else None
        except yaml.YAMLError:
            document = None
        return Preview(
            path, "mlmodel", size, text, truncated=truncated, signature=_signature(document)
        )
    if suffix == ".json" and not truncated:
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return Preview(path, "text", size, text)
        return Preview(path, "json", size, pretty)
    if suffix in (".csv", ".tsv"):
        reader = csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        rows = list(itertools.islice(reader, CSV_ROWS + 1))
        return Preview(
            path, "csv", size, rows=rows[:CSV_ROWS], truncated=truncated or len(rows) > CSV_ROWS
        )
    if suffix in (".yaml", ".yml") or name in YAML_NAMES:
        return Preview(path, "yaml", size, text, truncated=truncated)
    if suffix in TEXT_SUFFIXES or "\x00" not in text:
        return Preview(path, "text", size, text, truncated=truncated)
    return Preview(path, "binary", size)


def content_type(path: str) -> str:
    """The type a raw artifact is served with: images as themselves, everything else as text
    or bytes (never HTML, so an artifact cannot run script in the UI's origin)."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_TYPES:
        return IMAGE_TYPES[suffix]
    if suffix in TEXT_SUFFIXES | {".json", ".yaml", ".yml", ".csv", ".tsv"}:
        return "text/plain; charset=utf-8"
    return "application/octet-stream"
