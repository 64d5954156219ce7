"""A run's page (params, metrics, tags, inputs, code, its commit, artifacts) and its raw files."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from mltrack.entities import ViewType
from mltrack.exceptions import ResourceDoesNotExist
from mltrack.store.records import RunRecord
from mltrack.tracking import artifacts as artifact_io
from mltrack.ui import artifacts
from mltrack.ui.templating import backend, check_csrf, page, render

__all__ = ["find_run", "routes"]


def find_run(request: Request, run_id: str, rev: str | None) -> RunRecord:
    """The run as stored in the working tree, or at revision ``rev``."""
    client = backend(request).client
    if rev is None:
        runs = client.repository.runs
        record = runs.get(run_id).copy()  # the store may share its record; this one is ours
        record.status = runs.effective_status(record)
        return record
    quoted = run_id.replace("'", "''")
    found = client.search_run_records(
        None, f"attributes.run_id = '{quoted}'", ViewType.ALL, rev=rev
    )
    if not found:
        raise ResourceDoesNotExist(f"Run {run_id!r} is not stored at revision {rev!r}.")
    return found[0]


def run_page(request: Request) -> Response:
    repository = backend(request).repository
    run_id = request.path_params["run_id"]
    rev = request.query_params.get("rev", "").strip() or None
    run = find_run(request, run_id, rev)
    experiment = repository.read_experiment(run.experiment_id)
    commits = repository.git.history.log(rev or "HEAD", grep=f"Mltrack-Run: {run_id}", max_count=1)
    path = request.query_params.get("path", "")
    entries: list[artifacts.Entry] = []
    preview = None
    if rev is None:
        root = repository.runs.artifact_dir(run_id)
        target = artifacts.inside(root, path)
        if target.is_file():
            preview = artifacts.preview(root, path)
            entries = artifacts.listing(root, path.rpartition("/")[0])
        else:
            entries = artifacts.listing(root, path)
    return render(
        request,
        "run.html",
        {
            "title": run.run_name or run.run_id,
            "run": run,
            "experiment": experiment,
            "rev": rev or "",
            "commit": commits[0] if commits else None,
            "artifact_path": path,
            "parent": path.rpartition("/")[0] if "/" in path else "",
            "entries": entries,
            "preview": preview,
            "metric_keys": sorted(run.metrics),
            "datasets": [_dataset(item) for item in run.inputs],
        },
    )


def _dataset(item: dict[str, Any]) -> dict[str, Any]:
    tags = item.get("tags") or {}
    return {
        "name": item.get("name", ""),
        "digest": item.get("digest", ""),
        "context": tags.get("mlflow.data.context", ""),
        "source_type": item.get("source_type", ""),
        "source": item.get("source", ""),
        "profile": item.get("profile", ""),
    }


def raw_artifact(request: Request) -> Response:
    """One artifact file: inline for previews (images, text), as an attachment for downloads."""
    repository = backend(request).repository
    run_id = request.path_params["run_id"]
    path = request.query_params.get("path", "")
    file = artifact_io.stored_file(repository.runs.artifact_dir(run_id), path)
    download = request.query_params.get("download") == "1"
    response = FileResponse(
        file,
        media_type=artifacts.content_type(path),
        filename=file.name,
        content_disposition_type="attachment" if download else "inline",
    )
    # A sandboxed origin for whatever the file holds (an SVG with script stays inert).
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def set_lifecycle(request: Request, form: Any) -> Response:
    """Delete or restore a run (POST with the CSRF token), then back to its page."""
    check_csrf(request, form)
    client = backend(request).client
    run_id = request.path_params["run_id"]
    action = form.get("action")
    if action == "delete":
        client.delete_run(run_id)
    elif action == "restore":
        client.restore_run(run_id)
    run = find_run(request, run_id, None)
    url = f"/experiments/{run.experiment_id}/runs/{run_id}"
    return RedirectResponse(url, status_code=303)


routes = [
    Route(
        "/experiments/{experiment_id}/runs/{run_id}", page(run_page), methods=["GET"], name="ui-run"
    ),
    Route("/runs/{run_id}/artifact", page(raw_artifact), methods=["GET"], name="ui-artifact"),
    Route("/runs/{run_id}/lifecycle", page(set_lifecycle), methods=["POST"], name="ui-lifecycle"),
]
