"""``MltrackClient`` (alias ``MlflowClient``): MlflowClient's whole API over a git repository.

The tracking methods come from :class:`~mltrack.tracking.client.TrackingClient`;
the registry methods are those of the client's one
:class:`~mltrack.registry.Registry` (versions are git tags; stages, aliases and
descriptions are commits), under the same names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from mltrack.forwarding import Forward, OnFirstUse
from mltrack.registry import Registry
from mltrack.store.repository import Repository
from mltrack.tracking.client import TrackingClient
from mltrack.tracking.context import current_tracking_uri, is_server_uri

if TYPE_CHECKING:
    from mltrack.remote_client import RemoteMltrackClient

__all__ = ["MlflowClient", "MltrackClient", "RemoteMltrackClient"]


def __getattr__(name: str) -> Any:
    # The HTTP client is loaded when a server URI needs it: a script reading a local
    # repository does not pay for importing it (~0.07 s of a first get_metric_history).
    if name == "RemoteMltrackClient":
        from mltrack.remote_client import RemoteMltrackClient

        return RemoteMltrackClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class MltrackClient(TrackingClient):
    """Experiments, runs, metrics, artifacts and the model registry (MlflowClient's names).

    An ``http(s)://`` tracking URI makes a :class:`RemoteMltrackClient` instead.
    """

    def __new__(
        cls,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        *,
        repository: Repository | None = None,
    ) -> MltrackClient:
        uri = (tracking_uri or current_tracking_uri()) if repository is None else None
        if is_server_uri(uri):
            from mltrack.remote_client import RemoteMltrackClient

            return cast("MltrackClient", RemoteMltrackClient(uri, registry_uri))
        return cast(
            "MltrackClient", super().__new__(cls, tracking_uri, registry_uri, repository=repository)
        )

    registry = OnFirstUse(lambda client: Registry(client.repository))

    create_registered_model = Forward("registry", Registry.create_registered_model)
    get_registered_model = Forward("registry", Registry.get_registered_model)
    search_registered_models = Forward("registry", Registry.search_registered_models)
    rename_registered_model = Forward("registry", Registry.rename_registered_model)
    update_registered_model = Forward("registry", Registry.update_registered_model)
    delete_registered_model = Forward("registry", Registry.delete_registered_model)
    set_registered_model_tag = Forward("registry", Registry.set_registered_model_tag)
    delete_registered_model_tag = Forward("registry", Registry.delete_registered_model_tag)
    create_model_version = Forward("registry", Registry.create_model_version)
    get_model_version = Forward("registry", Registry.get_model_version)
    search_model_versions = Forward("registry", Registry.search_model_versions)
    update_model_version = Forward("registry", Registry.update_model_version)
    delete_model_version = Forward("registry", Registry.delete_model_version)
    set_model_version_tag = Forward("registry", Registry.set_model_version_tag)
    delete_model_version_tag = Forward("registry", Registry.delete_model_version_tag)
    get_model_version_download_uri = Forward("registry", Registry.get_model_version_download_uri)
    transition_model_version_stage = Forward("registry", Registry.transition_model_version_stage)
    set_registered_model_alias = Forward("registry", Registry.set_registered_model_alias)
    delete_registered_model_alias = Forward("registry", Registry.delete_registered_model_alias)
    get_model_version_by_alias = Forward("registry", Registry.get_model_version_by_alias)
    get_latest_versions = Forward("registry", Registry.get_latest_versions)


MlflowClient = MltrackClient
