"""The registry: models, versions (source run, metrics, file hashes, verification), stages
and aliases, each model's history from git, and promotions proposed on a review branch."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mltrack.exceptions import ResourceDoesNotExist
from mltrack.registry import STAGES, ModelVersion, Registry, review
from mltrack.registry.report import comparison_markdown, comparison_rows
from mltrack.ui.templating import backend, check_csrf, page, render

__all__ = ["VersionRow", "review_branch", "routes"]


@dataclass(frozen=True)
class VersionRow:
    version: ModelVersion
    metrics: dict[str, float]
    files: dict[str, str]  # path → sha256, as the version's tag records them
    problems: list[str]  # verification failures; empty means verified


def _registry(request: Request) -> Registry:
    return backend(request).registry


def version_rows(registry: Registry, name: str) -> list[VersionRow]:
    problems = review.verify(registry.store)  # what is here (absent tags are not an error)
    rows = []
    tagged = registry.store.versions_of(name)
    for version in reversed(registry.list_versions(name)):
        run = review.source_run(registry.store, version)
        files = tagged[version.version].files if version.version in tagged else {}
        label = f"{name!r} version {version.version}:"
        rows.append(
            VersionRow(
                version,
                dict(run.metrics) if run else {},
                files,
                [p.removeprefix(label).strip() for p in problems if p.startswith(label)],
            )
        )
    return rows


def review_branch(name: str, version: int, stage: str) -> str:
    """A branch name for proposing ``name`` version ``version`` in ``stage``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"
    return f"promote/{slug}-v{version}-{stage.lower()}"


def models_page(request: Request) -> Response:
    models = _registry(request).search_registered_models(max_results=1000)
    return render(request, "models.html", {"title": "Models", "models": models})


def model_page(request: Request) -> Response:
    registry = _registry(request)
    name = request.path_params["name"]
    model = registry.get_registered_model(name)
    try:
        history = registry.history(name)
    except ResourceDoesNotExist:
        history = []
    return render(
        request,
        "model.html",
        {
            "title": name,
            "model": model,
            "rows": version_rows(registry, name),
            "history": list(reversed(history)),
            "stages": STAGES,
        },
    )


def _production(registry: Registry, name: str, version: int) -> ModelVersion | None:
    current = registry.get_latest_versions(name, ["Production"])
    return current[0] if current and current[0].version != version else None


def version_page(request: Request, outcome: dict[str, Any] | None = None) -> Response:
    registry = _registry(request)
    name = request.path_params["name"]
    number = int(request.path_params["version"])
    version = registry.get_model_version(name, number)
    row = next(r for r in version_rows(registry, name) if r.version.version == number)
    production = _production(registry, name, number)
    comparison = registry.compare(name, production.version, number) if production else None
    return render(
        request,
        "version.html",
        {
            "title": f"{name} version {number}",
            "name": name,
            "row": row,
            "version": version,
            "signature": review.signature(registry.store, version),
            "production": production,
            "rows": comparison_rows(comparison) if comparison else [],
            "markdown": comparison_markdown(name, comparison) if comparison else "",
            "stages": [s for s in STAGES if s != "None"] + ["None"],
            "suggested": review_branch(name, number, "Production"),
            "outcome": outcome,
        },
    )


def promote(request: Request, form: Any) -> Response:
    """Propose a stage change or an alias on a new branch (or commit it on the current one)."""
    check_csrf(request, form)
    registry = _registry(request)
    name = request.path_params["name"]
    number = int(request.path_params["version"])
    branch = str(form.get("branch") or "").strip() or None
    action = form.get("action")
    if action == "alias":
        alias = str(form.get("alias") or "").strip()
        registry.set_registered_model_alias(name, alias, number, branch=branch)
        change = f"@{alias} now points at version {number}"
    else:
        stage = str(form.get("stage") or "Production")
        archive = form.get("archive") == "1"
        result = registry.transition_model_version_stage(
            name, number, stage, archive, branch=branch
        )
        change = f"version {number} is now {result.current_stage}"
    outcome = {"change": change, "branch": branch, "title": f"{name}: {change}"}
    return version_page(request, outcome)


routes = [
    Route("/models", page(models_page), methods=["GET"], name="ui-models"),
    Route(
        "/models/{name:path}/versions/{version:int}",
        page(version_page),
        methods=["GET"],
        name="ui-version",
    ),
    Route(
        "/models/{name:path}/versions/{version:int}",
        page(promote),
        methods=["POST"],
        name="ui-promote",
    ),
    Route("/models/{name:path}", page(model_page), methods=["GET"], name="ui-model"),
]
