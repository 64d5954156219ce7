"""Metric charts: the chart page and the downsampled series it draws.

A series of any length goes to the browser as at most ``4 × buckets`` points:
the points are cut into equal runs of consecutive points and each run keeps its
first, lowest, highest and last point (M4 aggregation), so spikes and the
line's shape survive while 100,000 points per run stay fast to send and draw.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mltrack.exceptions import InvalidParameterValue
from mltrack.ui.runs import find_run
from mltrack.ui.templating import backend, page, render

__all__ = ["downsample", "routes"]

DEFAULT_BUCKETS = 1000
MAX_BUCKETS = 10_000


def downsample(values: Any, buckets: int) -> Any:
    """Indices (ascending, a numpy array) of the points of ``values`` to keep: all of them, or
    per bucket of consecutive points the first, last, minimum and maximum. NaN values are
    never the minimum or maximum."""
    import numpy as np

    array = np.asarray(values, dtype=float)
    count = len(array)
    if count <= 4 * buckets:
        return np.arange(count)
    size = math.ceil(count / buckets)
    padded = size * math.ceil(count / size)
    nan = np.isnan(array)
    low = np.full(padded, np.inf)
    high = np.full(padded, -np.inf)
    low[:count] = np.where(nan, np.inf, array)
    high[:count] = np.where(nan, -np.inf, array)
    starts = np.arange(0, padded, size)
    keep = np.concatenate(
        [
            starts,
            np.minimum(starts + size - 1, count - 1),
            starts + low.reshape(-1, size).argmin(axis=1),
            starts + high.reshape(-1, size).argmax(axis=1),
        ]
    )
    return np.unique(keep[keep < count])


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def series(request: Request) -> Response:
    """One run's history of one metric as JSON, downsampled, sorted by step or time."""
    import numpy as np

    runs = backend(request).repository.runs
    params = request.query_params
    run_id, key = params.get("run", ""), params.get("key", "")
    axis = params.get("x", "step")
    try:
        buckets = min(MAX_BUCKETS, max(1, int(params.get("buckets", DEFAULT_BUCKETS))))
    except ValueError:
        raise InvalidParameterValue("buckets must be an integer.") from None
    values, steps, stamps = runs.metric_arrays(run_id, key)
    count = len(values)
    xs = stamps if axis == "time" else steps
    order = np.lexsort((stamps, xs))  # by x, then by logging time: a stable line
    xs, values = xs[order], values[order]
    kept = downsample(values, buckets)
    return JSONResponse(
        {
            "run_id": run_id,
            "key": key,
            "x": axis,
            "total": count,
            "points": [
                [x, _number(v)]
                for x, v in zip(xs[kept].tolist(), values[kept].tolist(), strict=True)
            ],
        }
    )


def chart_page(request: Request) -> Response:
    runs = [r for r in request.query_params.getlist("runs") if r][:20]
    rev = request.query_params.get("rev", "").strip() or None
    records = [find_run(request, run_id, rev) for run_id in runs]
    keys = sorted({k for r in records for k in r.metrics})
    key = request.query_params.get("key") or (keys[0] if keys else "")
    config: dict[str, Any] = {
        "key": key,
        "runs": [{"run_id": r.run_id, "name": r.run_name or r.run_id[:8]} for r in records],
    }
    return render(
        request,
        "charts.html",
        {
            "title": f"Chart: {key}" if key else "Chart",
            "records": records,
            "keys": keys,
            "key": key,
            "config": config,
        },
    )


routes = [
    Route("/charts", page(chart_page), methods=["GET"], name="ui-charts"),
    Route("/ui-api/series", page(series), methods=["GET"], name="ui-series"),
]
