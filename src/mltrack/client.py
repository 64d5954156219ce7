"""``MltrackClient`` (alias ``MlflowClient``): MlflowClient's whole API over a git repository.

The tracking methods come from :class:`~mltrack.tracking.client.TrackingClient`;
the registry methods below delegate to :class:`~mltrack.registry.Registry`
(versions are git tags; stages, aliases and descriptions are commits).
"""

from __future__ import annotations

from typing import Any

from mltrack.registry import ModelVersion, RegisteredModel, Registry
from mltrack.tracking.client import TrackingClient

__all__ = ["MlflowClient", "MltrackClient"]


class MltrackClient(TrackingClient):
    """Experiments, runs, metrics, artifacts and the model registry (MlflowClient's names)."""

    @property
    def registry(self) -> Registry:
        return Registry(self.repository)

    def create_registered_model(
        self,
        name: str,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        **_: Any,
    ) -> RegisteredModel:
        return self.registry.create_registered_model(name, tags, description)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.registry.get_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> list[RegisteredModel]:
        return self.registry.search_registered_models(
            filter_string, max_results, order_by, page_token
        )

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self.registry.rename_registered_model(name, new_name)

    def update_registered_model(
        self, name: str, description: str | None = None, **_: Any
    ) -> RegisteredModel:
        return self.registry.update_registered_model(name, description)

    def delete_registered_model(self, name: str) -> None:
        self.registry.delete_registered_model(name)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.registry.set_registered_model_tag(name, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.registry.delete_registered_model_tag(name, key)

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
        model_id: str | None = None,
    ) -> ModelVersion:
        return self.registry.create_model_version(
            name, source, run_id, tags, run_link, description, model_id
        )

    def get_model_version(self, name: str, version: Any) -> ModelVersion:
        return self.registry.get_model_version(name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> list[ModelVersion]:
        return self.registry.search_model_versions(filter_string, max_results, order_by, page_token)

    def update_model_version(
        self, name: str, version: Any, description: str | None = None
    ) -> ModelVersion:
        return self.registry.update_model_version(name, version, description)

    def delete_model_version(self, name: str, version: Any) -> None:
        self.registry.delete_model_version(name, version)

    def set_model_version_tag(
        self,
        name: str,
        version: Any = None,
        key: str = "",
        value: Any = "",
        stage: str | None = None,
    ) -> None:
        self.registry.set_model_version_tag(name, version, key, value)

    def delete_model_version_tag(
        self, name: str, version: Any = None, key: str = "", stage: str | None = None
    ) -> None:
        self.registry.delete_model_version_tag(name, version, key)

    def get_model_version_download_uri(self, name: str, version: Any) -> str:
        return self.registry.get_model_version_download_uri(name, version)

    def transition_model_version_stage(
        self, name: str, version: Any, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        return self.registry.transition_model_version_stage(
            name, version, stage, archive_existing_versions
        )

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        self.registry.set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.registry.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.registry.get_model_version_by_alias(name, alias)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        return self.registry.get_latest_versions(name, stages)


MlflowClient = MltrackClient
