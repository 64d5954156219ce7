"""How the CLI prints: tables on a terminal, stable JSON and CSV for scripts, progress bars.

This module holds what every command shares; each noun's rendering is a module
beside it (``runs``, ``models``), so a command is: parse, one library call, print.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import click

__all__ = [
    "FORMATS",
    "emit",
    "emit_csv",
    "exact_value",
    "format_option",
    "format_time",
    "format_value",
    "progress",
    "to_json",
]

FORMATS = ("table", "json", "csv")


def format_option(*extra: str, default: str = "table") -> Callable[[Any], Any]:
    """The shared ``--format`` option (``extra`` adds choices such as ``markdown``)."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice([*FORMATS, *extra]),
        default=default,
        show_default=True,
        help="Output: a readable table, or JSON/CSV for scripts.",
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def to_json(data: Any) -> str:
    """Stable JSON: sorted keys, non-finite floats as strings (valid JSON, like MLflow's REST API)."""
    return json.dumps(_jsonable(data), indent=2, sort_keys=True, ensure_ascii=False)


def format_value(value: Any) -> str:
    """For people: floats to 6 significant digits."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def exact_value(value: Any) -> str:
    """For scripts (CSV): floats as the shortest text that reads back as the same float."""
    kind = type(value)
    if kind is str:  # most cells of a 10,000-run CSV: skip the checks below
        return value
    if kind is float or isinstance(value, float):
        if not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return repr(value)
    return format_value(value)


def format_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def emit(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    output_format: str,
    *,
    title: str | None = None,
    data: Any = None,
) -> None:
    """Print ``rows`` (dicts keyed by ``columns``); JSON prints ``data`` when given."""
    if output_format == "json":
        click.echo(to_json(data if data is not None else list(rows)))
    elif output_format == "csv":
        emit_csv(columns, ([row.get(c) for c in columns] for row in rows))
    else:
        table(rows, columns, title)


def emit_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """CSV with a header; cells as :func:`exact_value` writes them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        # csv writes str, int, None ("") and finite floats (repr) exactly as exact_value
        # does; only the rest goes through it (10,000 runs × 26 columns).
        writer.writerow(
            [
                v
                if (kind := type(v)) is str
                or v is None
                or kind is int
                or (kind is float and v - v == 0)
                else exact_value(v)
                for v in row
            ]
        )
    click.echo(buffer.getvalue(), nl=False)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    """rich on a terminal; a plain aligned table when piped (fast for 10,000 rows)."""
    if sys.stdout.isatty() and len(rows) <= 2000:
        from rich.console import Console
        from rich.table import Table

        rich_table = Table(title=title, show_lines=False, header_style="bold")
        for column in columns:
            rich_table.add_column(column, overflow="fold")
        for row in rows:
            rich_table.add_row(*(format_value(row.get(c)) for c in columns))
        Console().print(rich_table)
        return
    cells = [[format_value(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = []
    if title:
        lines.append(title)
    lines.append("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    click.echo("\n".join(lines))


@contextlib.contextmanager
def progress(description: str, delay: float = 1.0) -> Iterator[Callable[[int, int], None]]:
    """A callback for library functions; shows a bar on stderr once work lasts over ``delay`` s."""
    started = time.monotonic()
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            if time.monotonic() - started < delay or not sys.stderr.isatty():
                return
            from rich.console import Console
            from rich.progress import Progress

            bar = Progress(console=Console(stderr=True), transient=True)
            bar.start()
            state["bar"] = bar
            state["task"] = bar.add_task(description, total=total)
        state["bar"].update(state["task"], completed=done, total=total)

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].stop()
