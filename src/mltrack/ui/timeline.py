"""The git timeline: commits that carry runs or registry changes, and the diff of two revisions."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mltrack.gitstore import CommitInfo
from mltrack.tracking.compare import compare_snapshots
from mltrack.ui.templating import backend, page, render

__all__ = ["Event", "routes"]

MAX_COMMITS = 300


@dataclass(frozen=True)
class Event:
    """One commit of the timeline: ``kind`` is run or model."""

    commit: CommitInfo
    kind: str
    run_id: str | None
    experiment_id: str | None
    model: str | None


def events(request: Request, rev: str) -> list[Event]:
    git = backend(request).repository.git
    # One grep for both trailers (Mltrack-Run and Mltrack-Model), newest first.
    found = []
    for info in git.history.log(rev, max_count=MAX_COMMITS, grep="Mltrack-"):
        run_id, model = info.trailer("Mltrack-Run"), info.trailer("Mltrack-Model")
        if run_id is None and model is None:
            continue
        found.append(
            Event(
                info,
                "run" if run_id else "model",
                run_id,
                info.trailer("Mltrack-Experiment"),
                model,
            )
        )
    return found


def timeline_page(request: Request) -> Response:
    rev = request.query_params.get("rev", "").strip() or "HEAD"
    return render(
        request,
        "timeline.html",
        {"title": "Timeline", "rev": rev, "events": events(request, rev), "limit": MAX_COMMITS},
    )


def diff_page(request: Request) -> Response:
    reader = backend(request).repository.revisions
    a = request.query_params.get("a", "").strip() or "HEAD"
    b = request.query_params.get("b", "").strip() or None
    diff = compare_snapshots(reader.snapshot(a), reader.snapshot(b))
    return render(
        request,
        "diff.html",
        {"title": f"Diff {diff.a.label} → {diff.b.label}", "diff": diff, "a": a, "b": b or ""},
    )


routes = [
    Route("/timeline", page(timeline_page), methods=["GET"], name="ui-timeline"),
    Route("/diff", page(diff_page), methods=["GET"], name="ui-diff"),
]
