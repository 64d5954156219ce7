"""Large artifacts: sent to git-lfs at ``artifacts.lfs_threshold``, or warned about without it.

A run's artifacts at or above the threshold are listed in the run's own ``.gitattributes``
(``/artifacts/<path> filter=lfs diff=lfs merge=lfs -text``), so that git itself (``git status``,
``git lfs pull`` in a clone) treats them as git-lfs files, exactly as after ``git lfs track``;
gitstore then commits them as pointers. One file per run keeps merges of clones conflict-free.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from mltrack.exceptions import InvalidParameterValue
from mltrack.store.files import atomic_write

__all__ = [
    "DEFAULT_LFS_THRESHOLD",
    "WARN_BYTES",
    "large_artifacts",
    "mark_for_lfs",
    "parse_size",
    "warn_oversized",
]

DEFAULT_LFS_THRESHOLD = 10 * 1024 * 1024
WARN_BYTES = 50 * 1024 * 1024  # GitHub warns at 50 MiB and refuses files over 100 MiB
LFS_ATTRIBUTES = "filter=lfs diff=lfs merge=lfs -text"
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.I)


def parse_size(text: str) -> int:
    """``10MB``, ``512k``, ``1.5G`` or a number of bytes (K, M, G are powers of 1024)."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS or float(match.group(1)) * _UNITS[unit] < 1:
        raise InvalidParameterValue(
            f"Invalid size {text!r}: use a number of bytes or e.g. 10MB, 512KB, 1GB."
        )
    return int(float(match.group(1)) * _UNITS[unit])


def large_artifacts(run_dir: Path, minimum: int) -> list[tuple[str, int]]:
    """(path relative to the run directory, size) of the run's artifacts of ``minimum`` bytes or more."""
    artifacts = run_dir / "artifacts"
    found = []
    for folder, _dirs, names in os.walk(artifacts):
        for name in names:
            path = Path(folder) / name
            if not path.is_symlink() and path.stat().st_size >= minimum:
                found.append((path.relative_to(run_dir).as_posix(), path.stat().st_size))
    return found


def _pattern(relative: str) -> str:
    """A gitattributes pattern matching exactly ``relative`` from the run directory.

    Glob characters are escaped; whitespace (which would end the pattern) matches as ``?``.
    """
    escaped = re.sub(r"([*?\[\\])", r"\\\1", relative)
    return "/" + re.sub(r"\s", "?", escaped)


def mark_for_lfs(run_dir: Path, relatives: list[str]) -> None:
    """List ``relatives`` in the run's ``.gitattributes`` as git-lfs files (kept lines stay)."""
    attributes = run_dir / ".gitattributes"
    try:
        lines = attributes.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = ["# Written by mltrack: artifacts of artifacts.lfs_threshold bytes or more"]
    wanted = [f"{_pattern(relative)} {LFS_ATTRIBUTES}" for relative in relatives]
    missing = [line for line in wanted if line not in lines]
    if missing:
        atomic_write(attributes, ("\n".join([*lines, *missing]) + "\n").encode())


def warn_oversized(run_id: str, relative: str, size: int) -> None:
    logging.getLogger("mltrack").warning(
        "%s of run %s is %d MB and goes into git as is (git hosts refuse files over 100 MB): "
        "store large artifacts with git-lfs, `mltrack init --lfs`",
        relative,
        run_id,
        size // (1024 * 1024),
    )
