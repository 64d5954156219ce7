"""``model.yaml`` as typed records: the mutable state of one registered model.

Versions themselves are immutable git tags (:mod:`mltrack.store.model_tags`);
this document holds what changes: the model's description, tags and aliases,
and per version its stage, description, tags and deletion. Records are frozen:
a change makes a new document (``with_version``, ``replace``) that the store
saves as one commit. ``from_dict``/``to_dict`` are the storage edge; keys that
were never set are not written, so a change touches only the lines it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["ModelDocument", "VersionEntry"]


@dataclass(frozen=True)
class VersionEntry:
    """What model.yaml records about one version (None: never set)."""

    stage: str | None = None
    description: str | None = None
    deleted: bool = False
    last_updated_timestamp: int | None = None
    tags: dict[str, str] | None = None

    @property
    def current_stage(self) -> str:
        return self.stage or "None"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VersionEntry:
        tags = data.get("tags")
        return cls(
            stage=data.get("stage"),
            description=data.get("description"),
            deleted=bool(data.get("deleted")),
            last_updated_timestamp=data.get("last_updated_timestamp"),
            tags=None if tags is None else dict(tags),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.stage is not None:
            out["stage"] = self.stage
        if self.description is not None:
            out["description"] = self.description
        if self.deleted:
            out["deleted"] = True
        if self.last_updated_timestamp is not None:
            out["last_updated_timestamp"] = self.last_updated_timestamp
        if self.tags is not None:
            out["tags"] = dict(self.tags)
        return out


@dataclass(frozen=True)
class ModelDocument:
    """One registered model's ``.mltrack/models/<encoded name>/model.yaml``."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    deleted: bool = False
    renamed_from: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: dict[int, VersionEntry] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        name: str,
        now: int,
        description: str | None,
        tags: dict[str, str],
        versions: dict[int, VersionEntry] | None = None,
    ) -> ModelDocument:
        return cls(
            name=name,
            creation_timestamp=now,
            last_updated_timestamp=now,
            description=description or "",
            tags=tags,
            versions=dict(versions or {}),
        )

    def version(self, number: int) -> VersionEntry:
        return self.versions.get(number, VersionEntry())

    def is_deleted(self, number: int) -> bool:
        return self.version(number).deleted

    def with_version(self, number: int, **changes: Any) -> ModelDocument:
        """A copy whose entry for version ``number`` has ``changes``."""
        entry = replace(self.version(number), **changes)
        return replace(self, versions={**self.versions, number: entry})

    def aliases_of(self, number: int) -> list[str]:
        return sorted(alias for alias, target in self.aliases.items() if target == number)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelDocument:
        created = data["creation_timestamp"]
        return cls(
            name=data["name"],
            creation_timestamp=created,
            last_updated_timestamp=data.get("last_updated_timestamp", created),
            description=data.get("description"),
            deleted=bool(data.get("deleted")),
            renamed_from=tuple(data.get("renamed_from") or ()),
            tags=dict(data.get("tags") or {}),
            aliases={str(k): int(v) for k, v in (data.get("aliases") or {}).items()},
            versions={
                int(k): VersionEntry.from_dict(v or {})
                for k, v in (data.get("versions") or {}).items()
            },
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
        }
        if self.description is not None:
            out["description"] = self.description
        if self.deleted:
            out["deleted"] = True
        if self.renamed_from:
            out["renamed_from"] = list(self.renamed_from)
        out["tags"] = dict(self.tags)
        out["aliases"] = dict(self.aliases)
        out["versions"] = {str(k): v.to_dict() for k, v in sorted(self.versions.items())}
        return out
