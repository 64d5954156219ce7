"""``RemoteMltrackClient``: what ``MltrackClient`` becomes for an ``http(s)://`` tracking URI.

Apart from :mod:`mltrack.client` so that a client of a local repository never imports the
HTTP layer.
"""

from __future__ import annotations

from functools import cached_property

from mltrack.forwarding import Forward
from mltrack.registry.remote import RemoteRegistry
from mltrack.tracking.remote import RemoteTrackingClient

__all__ = ["RemoteMltrackClient"]


class RemoteMltrackClient(RemoteTrackingClient):
    """The client of a tracking server: tracking and registry calls over MLflow's REST API."""

    @cached_property
    def registry(self) -> RemoteRegistry:
        return RemoteRegistry(self.transport)

    create_registered_model = Forward("registry", RemoteRegistry.create_registered_model)
    get_registered_model = Forward("registry", RemoteRegistry.get_registered_model)
    search_registered_models = Forward("registry", RemoteRegistry.search_registered_models)
    rename_registered_model = Forward("registry", RemoteRegistry.rename_registered_model)
    update_registered_model = Forward("registry", RemoteRegistry.update_registered_model)
    delete_registered_model = Forward("registry", RemoteRegistry.delete_registered_model)
    set_registered_model_tag = Forward("registry", RemoteRegistry.set_registered_model_tag)
    delete_registered_model_tag = Forward("registry", RemoteRegistry.delete_registered_model_tag)
    create_model_version = Forward("registry", RemoteRegistry.create_model_version)
    get_model_version = Forward("registry", RemoteRegistry.get_model_version)
    search_model_versions = Forward("registry", RemoteRegistry.search_model_versions)
    update_model_version = Forward("registry", RemoteRegistry.update_model_version)
    delete_model_version = Forward("registry", RemoteRegistry.delete_model_version)
    set_model_version_tag = Forward("registry", RemoteRegistry.set_model_version_tag)
    delete_model_version_tag = Forward("registry", RemoteRegistry.delete_model_version_tag)
    get_model_version_download_uri = Forward(
        "registry", RemoteRegistry.get_model_version_download_uri
    )
    transition_model_version_stage = Forward(
        "registry", RemoteRegistry.transition_model_version_stage
    )
    set_registered_model_alias = Forward("registry", RemoteRegistry.set_registered_model_alias)
    delete_registered_model_alias = Forward(
        "registry", RemoteRegistry.delete_registered_model_alias
    )
    get_model_version_by_alias = Forward("registry", RemoteRegistry.get_model_version_by_alias)
    get_latest_versions = Forward("registry", RemoteRegistry.get_latest_versions)
