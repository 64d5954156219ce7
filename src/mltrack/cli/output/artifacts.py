"""How the CLI prints a run's artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from mltrack.cli.output import emit

if TYPE_CHECKING:
    from mltrack.entities import FileInfo

__all__ = ["artifact_names", "print_artifacts"]


def artifact_names(entries: Sequence[FileInfo]) -> str:
    """One line naming the entries, directories with a trailing slash."""
    return ", ".join(f"{e.path}/" if e.is_dir else e.path for e in entries)


def print_artifacts(run_id: str, entries: Sequence[FileInfo], output_format: str) -> None:
    """Path, kind and size per entry (JSON: MLflow's FileInfo fields)."""
    rows = [{"path": e.path, "is_dir": e.is_dir, "file_size": e.file_size} for e in entries]
    if output_format == "table" and not rows:
        click.echo(f"Run {run_id[:8]} has no artifacts here.")
        return
    emit(rows, ["path", "is_dir", "file_size"], output_format)
