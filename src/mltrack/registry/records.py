"""What the registry returns: MLflow's entities (and the events of a model's history)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mltrack.store.model_names import STAGES, canonical_stage

__all__ = ["ModelVersion", "RegisteredModel", "RegistryEvent", "latest_per_stage"]


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version (MLflow's ModelVersion)."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str
    current_stage: str
    description: str
    source: str
    run_id: str
    status: str = "READY"
    status_message: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    run_link: str = ""
    aliases: list[str] = field(default_factory=list)
    model_id: str | None = None
    commit: str = ""
    tag: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "description": self.description,
            "latest_versions": [v.to_dict() for v in self.latest_versions],
            "tags": dict(self.tags),
            "aliases": dict(self.aliases),
        }


@dataclass(frozen=True)
class RegistryEvent:
    """One step of a model's history: who did what, in which commit."""

    commit: str
    author: str
    time: int
    kind: str  # registered | stage | alias | alias-removed | deleted | description | tag | created | renamed
    version: int | None
    detail: str


def latest_per_stage(versions: list[ModelVersion], stages: list[str] | None) -> list[ModelVersion]:
    wanted = [canonical_stage(s) for s in stages] if stages else list(STAGES)
    latest: dict[str, ModelVersion] = {}
    for version in versions:
        if version.current_stage in wanted:
            current = latest.get(version.current_stage)
            if current is None or version.version > current.version:
                latest[version.current_stage] = version
    return [latest[s] for s in wanted if s in latest]
