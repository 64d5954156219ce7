"""MLflow's fluent registry searches (``mlflow.search_registered_models`` …) on the current repository.

They page through :class:`~mltrack.registry.Registry`'s searches until
``max_results`` (default: everything), as MLflow's do; with a server tracking URI,
through :class:`~mltrack.registry.remote.RemoteRegistry`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mltrack.paging import PagedList
from mltrack.registry.records import ModelVersion, RegisteredModel
from mltrack.registry.service import Registry
from mltrack.tracking.context import current_repository, current_tracking_uri, is_server_uri

__all__ = ["search_model_versions", "search_registered_models", "set_model_version_tag"]

_PAGE = 1000


def _registry() -> Any:
    """The registry the tracking URI names: a server's over REST, else the repository's."""
    uri = current_tracking_uri()
    if is_server_uri(uri):
        from mltrack.registry.remote import RemoteRegistry
        from mltrack.tracking.rest import RestTransport

        return RemoteRegistry(RestTransport(str(uri)))
    return Registry(current_repository())


def _every_page(
    search: Callable[..., PagedList], max_results: int | None, **query: Any
) -> list[Any]:
    found: list[Any] = []
    token: str | None = None
    while True:
        wanted = _PAGE if max_results is None else min(_PAGE, max_results - len(found))
        page = search(max_results=wanted, page_token=token, **query)
        found.extend(page)
        token = page.token
        if not token or (max_results is not None and len(found) >= max_results):
            return found


def search_registered_models(
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[RegisteredModel]:
    """Registered models matching MLflow's filter grammar (``name LIKE 'fraud%'``)."""
    return _every_page(
        _registry().search_registered_models,
        max_results,
        filter_string=filter_string,
        order_by=order_by,
    )


def search_model_versions(
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[ModelVersion]:
    """Model versions matching MLflow's filter grammar (``name = 'fraud'``)."""
    return _every_page(
        _registry().search_model_versions,
        max_results,
        filter_string=filter_string,
        order_by=order_by,
    )


def set_model_version_tag(
    name: str, version: str | None = None, key: str | None = None, value: Any = None
) -> None:
    """Set a tag on version ``version`` of ``name`` (a commit to its model.yaml)."""
    _registry().set_model_version_tag(name, version, key or "", value)
