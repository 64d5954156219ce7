"""``mltrack metrics RUN KEY``: a metric's full history, as a table or a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mltrack.cli.context import AppContext, pass_app
from mltrack.cli.output import emit, format_option, format_time
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist


@click.command()
@click.argument("run")
@click.argument("key")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    help="Also draw the history into this PNG file.",
)
@format_option()
@pass_app
def metrics(app: AppContext, run: str, key: str, plot_path: str | None, output_format: str) -> None:
    """Every logged point of metric KEY in RUN (an id or a unique prefix)."""
    client = app.client()
    run_id = client.resolve_run_id(run)
    history = client.get_metric_history(run_id, key)
    if not history:
        known = sorted(client.get_run(run_id).data.metrics)
        raise ResourceDoesNotExist(
            f"Run {run_id[:12]} has no metric {key!r}"
            + (f"; it has: {', '.join(known)}." if known else ".")
        )
    rows = [
        {
            "step": m.step,
            "value": m.value,
            "timestamp": format_time(m.timestamp) if output_format == "table" else m.timestamp,
        }
        for m in history
    ]
    if plot_path:
        _plot(history, key, run_id, Path(plot_path))
    emit(rows, ["step", "value", "timestamp"], output_format)
    if plot_path:
        click.echo(f"Plot written to {plot_path}", err=True)


def _plot(history: list[Any], key: str, run_id: str, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InvalidParameterValue(
            "--plot needs matplotlib: pip install 'mltrack[plot]' (or pip install matplotlib)."
        ) from None
    figure, axis = plt.subplots(figsize=(8, 4.5))
    axis.plot(
        [m.step for m in history],
        [m.value for m in history],
        marker="." if len(history) < 200 else None,
    )
    axis.set_xlabel("step")
    axis.set_ylabel(key)
    axis.set_title(f"{key} — run {run_id[:12]}")
    axis.grid(True, alpha=0.3)
    figure.tight_layout()
    try:
        figure.savefig(path, format="png")
    except OSError as error:
        raise InvalidParameterValue(
            f"Cannot write the plot to {path}: {error.strerror or error}."
        ) from None
    finally:
        plt.close(figure)


COMMANDS = [metrics]
