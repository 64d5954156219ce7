"""The experiments list and an experiment's runs table (paged, sorted, filtered on the server)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mltrack.entities import LifecycleStage, ViewType
from mltrack.exceptions import GitError, InvalidParameterValue
from mltrack.store.records import RunRecord
from mltrack.ui.templating import backend, page, render

__all__ = ["Column", "routes"]

PAGE_SIZE = 50
DEFAULT_PER_KIND = 4  # metrics and params shown before the user picks columns
ATTRIBUTES = [
    ("run_name", "Run"),
    ("status", "Status"),
    ("start_time", "Started"),
    ("end_time", "Duration"),
    ("user_id", "User"),
]
VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}


@dataclass(frozen=True)
class Column:
    """One runs-table column: ``kind`` is attribute, metrics, params or tags."""

    kind: str
    key: str
    label: str

    @property
    def ident(self) -> str:
        return self.key if self.kind == "attribute" else f"{self.kind}.{self.key}"

    @property
    def order_key(self) -> str:
        """The column as the search grammar's order_by identifier (keys quoted)."""
        if self.kind == "attribute":
            return self.key
        return f"{self.kind}.`{self.key.replace('`', '``')}`"

    def cell(self, run: RunRecord) -> Any:
        if self.kind == "metrics":
            return run.metrics.get(self.key)
        if self.kind == "params":
            return run.params.get(self.key)
        if self.kind == "tags":
            return run.tags.get(self.key)
        return getattr(run, self.key)


def experiment_summaries(request: Request) -> list[dict[str, Any]]:
    """Every experiment with its active run count and last activity (newest first)."""
    repository = backend(request).repository
    counts: dict[str, int] = {}
    latest: dict[str, int] = {}
    for run in repository.runs.records(None, ViewType.ACTIVE_ONLY):
        counts[run.experiment_id] = counts.get(run.experiment_id, 0) + 1
        when = max(run.start_time or 0, run.end_time or 0)
        latest[run.experiment_id] = max(latest.get(run.experiment_id, 0), when)
    rows = []
    for experiment in repository.list_experiments():
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            continue
        rows.append(
            {
                "experiment": experiment,
                "runs": counts.get(experiment.experiment_id, 0),
                "last": latest.get(experiment.experiment_id, 0),
            }
        )
    return sorted(rows, key=lambda row: (-row["last"], row["experiment"].name))


def experiments_page(request: Request) -> Response:
    return render(
        request,
        "experiments.html",
        {"title": "Experiments", "rows": experiment_summaries(request)},
    )


def available_columns(records: list[RunRecord]) -> list[Column]:
    metrics: set[str] = set()
    params: set[str] = set()
    tags: set[str] = set()
    for run in records:
        metrics.update(run.metrics)
        params.update(run.params)
        tags.update(run.tags)
    return (
        [Column("metrics", k, k) for k in sorted(metrics)]
        + [Column("params", k, k) for k in sorted(params)]
        + [Column("tags", k, k) for k in sorted(tags) if not k.startswith("mlflow.")]
    )


def chosen_columns(request: Request, available: list[Column]) -> list[Column]:
    """The columns named by ``cols`` (the chooser), or the first few metrics and params."""
    by_ident = {c.ident: c for c in available}
    picked = request.query_params.getlist("cols")
    if picked:
        return [by_ident[i] for i in picked if i in by_ident]
    return [c for c in available if c.kind == "metrics"][:DEFAULT_PER_KIND] + [
        c for c in available if c.kind == "params"
    ][:DEFAULT_PER_KIND]


def runs_page(request: Request) -> Response:
    client = backend(request).client
    experiment_id = request.path_params["experiment_id"]
    params = request.query_params
    rev = params.get("rev", "").strip() or None
    filter_string = params.get("filter", "")
    order = params.get("order", "")
    view = params.get("view", "active")
    try:
        number = max(1, int(params.get("page", "1")))
    except ValueError:
        number = 1
    experiment = client.repository.get_experiment(experiment_id) if rev is None else None
    error = None
    try:
        records = client.search_run_records(
            [experiment_id],
            filter_string,
            VIEWS.get(view, ViewType.ACTIVE_ONLY),
            [order] if order else None,
            rev=rev,
        )
    except (InvalidParameterValue, GitError) as problem:  # a bad filter, order or revision
        error, records = problem.message, []
    available = available_columns(records)
    columns = chosen_columns(request, available)
    pages = max(1, -(-len(records) // PAGE_SIZE))
    number = min(number, pages)
    shown = records[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    return render(
        request,
        "runs.html",
        {
            "title": experiment.name if experiment else f"Experiment {experiment_id} at {rev}",
            "experiment": experiment,
            "experiment_id": experiment_id,
            "attributes": [Column("attribute", k, label) for k, label in ATTRIBUTES],
            "columns": columns,
            "available": available,
            "runs": shown,
            "total": len(records),
            "page": number,
            "pages": pages,
            "filter": filter_string,
            "order": order,
            "view": view,
            "rev": rev or "",
            "refs": refs(request),
            "error": error,
        },
    )


def refs(request: Request) -> list[str]:
    """Branches and non-registry tags, for the revision picker."""
    git = backend(request).repository.git
    names = [n.removeprefix("refs/heads/") for n in git.ref_names("refs/heads/")]
    names += [
        n.removeprefix("refs/tags/")
        for n in git.ref_names("refs/tags/")
        if not n.startswith("refs/tags/mltrack/")
    ]
    return names


experiments_endpoint = page(experiments_page)

routes = [
    Route("/", experiments_endpoint, methods=["GET"], name="ui-home"),
    Route("/experiments", experiments_endpoint, methods=["GET"], name="ui-experiments"),
    Route("/experiments/{experiment_id}", page(runs_page), methods=["GET"], name="ui-runs"),
]
