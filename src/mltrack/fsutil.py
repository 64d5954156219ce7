"""File helpers shared by every layer (below gitstore; imports nothing from mltrack)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

__all__ = ["create_file"]


def create_file(path: Path) -> BinaryIO:
    """Open ``path`` for writing, creating its directory only when it is missing (rarely)."""
    try:
        return open(path, "wb")
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "wb")
