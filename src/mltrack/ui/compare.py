"""Compare runs: the values that differ between them, and a param-against-metric scatter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mltrack.store.records import RunRecord
from mltrack.ui.runs import find_run
from mltrack.ui.templating import page, render

__all__ = ["Difference", "differences", "routes"]


@dataclass(frozen=True)
class Difference:
    kind: str  # params | metrics | tags
    key: str
    values: list[Any]  # one per run, None where the run lacks the key


def differences(runs: list[RunRecord], show_all: bool = False) -> list[Difference]:
    """Every param, metric and tag whose value is not the same in all ``runs``."""
    rows = []
    for kind in ("params", "metrics", "tags"):
        tables = [getattr(run, kind) for run in runs]
        keys = sorted({k for table in tables for k in table})
        for key in keys:
            if kind == "tags" and key.startswith("mlflow.") and key != "mlflow.runName":
                continue
            values = [table.get(key) for table in tables]
            if show_all or len({repr(v) for v in values}) > 1:
                rows.append(Difference(kind, key, values))
    return rows


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compare_page(request: Request) -> Response:
    ids = [r for r in request.query_params.getlist("runs") if r][:50]
    rev = request.query_params.get("rev", "").strip() or None
    runs = [find_run(request, run_id, rev) for run_id in ids]
    show_all = request.query_params.get("all") == "1"
    params = sorted({k for r in runs for k in r.params})
    metrics = sorted({k for r in runs for k in r.metrics})
    x_key = request.query_params.get("x") or (params[0] if params else "")
    y_key = request.query_params.get("y") or (metrics[0] if metrics else "")
    points = [
        {
            "name": r.run_name or r.run_id[:8],
            "x": r.params.get(x_key),
            "xn": _number(r.params.get(x_key)),
            "y": _number(r.metrics.get(y_key)),
        }
        for r in runs
    ]
    return render(
        request,
        "compare.html",
        {
            "title": f"Compare {len(runs)} runs",
            "runs": runs,
            "rev": rev or "",
            "rows": differences(runs, show_all),
            "show_all": show_all,
            "params": params,
            "metrics": metrics,
            "x_key": x_key,
            "y_key": y_key,
            "scatter": {"x": x_key, "y": y_key, "points": points},
        },
    )


routes = [Route("/compare", page(compare_page), methods=["GET"], name="ui-compare")]
