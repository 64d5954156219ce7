"""``model.yaml`` as typed records: the mutable state of one registered model.

Versions themselves are immutable git tags (:mod:`mltrack.store.model_tags`);
this document holds what changes: the model's description, tags and aliases,
and per version its stage, description, tags and deletion. Records are frozen:
a change makes a new document (``with_version``, ``replace``) that the store
saves as one commit. ``from_dict``/``to_dict`` are the storage edge; keys that
were never set are not written, so a change touches only the lines it changes.

The file records when the model was created and last changed, and when each
version entry last changed, in ms as MLflow reports them (``creation_timestamp``,
``last_updated_timestamp``); a file written without them (by an earlier mltrack) takes them
from ``git log``. Two clones that create the same model write files that differ
only in those keys, which the merge driver (:mod:`mltrack.store.model_merge`)
merges by keeping the earlier creation and the later update. Every version entry and alias *pins* the version it
means (:class:`Pin`: the source run and the hash of the model files), so a
version number that a clone renumbers or that collides with another clone's
can never silently change which model ``Production`` or ``@champion`` is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["ModelDocument", "Pin", "Replaced", "VersionEntry"]


@dataclass(frozen=True)
class Pin:
    """Which model a version number meant when it was recorded: its run and model hash."""

    run_id: str
    model_hash: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pin | None:
        run_id, model_hash = data.get("run_id"), data.get("model_hash")
        if run_id is None or model_hash is None:
            return None
        return cls(str(run_id), str(model_hash))

    def to_dict(self) -> dict[str, str]:
        return {"run_id": self.run_id, "model_hash": self.model_hash}


@dataclass(frozen=True)
class Replaced:
    """The version a promotion replaced (in the stage, or as the alias's target), pinned."""

    version: int
    pin: Pin | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Replaced | None:
        if isinstance(data, dict) and data.get("version") is not None:
            return cls(int(data["version"]), Pin.from_dict(data))
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, **(self.pin.to_dict() if self.pin else {})}


@dataclass(frozen=True)
class VersionEntry:
    """What model.yaml records about one version (None: never set)."""

    stage: str | None = None
    description: str | None = None
    deleted: bool = False
    tags: dict[str, str] | None = None
    pin: Pin | None = None
    replaces: Replaced | None = None  # what its last promotion replaced in its stage
    # When the entry last changed as MLflow counts it (description, stage, deletion,
    # rename; not tags): None in files written without it, and before any such change.
    updated_ms: int | None = None

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
            tags=None if tags is None else dict(tags),
            pin=Pin.from_dict(data),
            replaces=Replaced.from_dict(data.get("replaces")),
            updated_ms=_clock(data.get("last_updated_timestamp")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.stage is not None:
            out["stage"] = self.stage
        if self.description is not None:
            out["description"] = self.description
        if self.deleted:
            out["deleted"] = True
        if self.tags is not None:
            out["tags"] = dict(self.tags)
        if self.pin is not None:
            out.update(self.pin.to_dict())
        if self.replaces is not None:
            out["replaces"] = self.replaces.to_dict()
        if self.updated_ms is not None:
            out["last_updated_timestamp"] = self.updated_ms
        return out


@dataclass(frozen=True)
class ModelDocument:
    """One registered model's ``.mltrack/models/<encoded name>/model.yaml``."""

    name: str
    description: str | None = None
    deleted: bool = False
    renamed_from: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    alias_pins: dict[str, Pin] = field(default_factory=dict)
    # What each alias pointed at before it last moved.
    alias_replaces: dict[str, Replaced] = field(default_factory=dict)
    versions: dict[int, VersionEntry] = field(default_factory=dict)
    # When the model was created and last changed as MLflow counts it (ms); None in a file
    # written without them, whose times come from git history.
    created_ms: int | None = None
    updated_ms: int | None = None

    @classmethod
    def new(
        cls,
        name: str,
        description: str | None,
        tags: dict[str, str],
        versions: dict[int, VersionEntry] | None = None,
        *,
        created_ms: int | None = None,
    ) -> ModelDocument:
        return cls(
            name=name,
            description=description or "",
            tags=tags,
            versions=dict(versions or {}),
            created_ms=created_ms,
            updated_ms=created_ms,
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

    def with_alias(
        self, alias: str, number: int, pin: Pin | None, replaces: Replaced | None = None
    ) -> ModelDocument:
        pins = {a: p for a, p in self.alias_pins.items() if a != alias}
        if pin is not None:
            pins[alias] = pin
        replaced = {a: r for a, r in self.alias_replaces.items() if a != alias}
        if replaces is not None:
            replaced[alias] = replaces
        return replace(
            self,
            aliases={**self.aliases, alias: number},
            alias_pins=pins,
            alias_replaces=replaced,
        )

    def without_aliases(self, removed: set[str]) -> ModelDocument:
        return replace(
            self,
            aliases={a: v for a, v in self.aliases.items() if a not in removed},
            alias_pins={a: p for a, p in self.alias_pins.items() if a not in removed},
            alias_replaces={a: r for a, r in self.alias_replaces.items() if a not in removed},
        )

    def pins(self) -> list[tuple[str, int, Pin | None]]:
        """(field, version, pin) of every record that names a version: entries, then aliases,
        then the versions promotions replaced."""
        return [
            *((f"versions.{n}", n, e.pin) for n, e in sorted(self.versions.items())),
            *((f"aliases.{a}", n, self.alias_pins.get(a)) for a, n in sorted(self.aliases.items())),
            *(
                (f"versions.{n}.replaces", e.replaces.version, e.replaces.pin)
                for n, e in sorted(self.versions.items())
                if e.replaces is not None
            ),
            *(
                (f"aliases.{a}.replaces", r.version, r.pin)
                for a, r in sorted(self.alias_replaces.items())
            ),
        ]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelDocument:
        aliases: dict[str, int] = {}
        alias_pins: dict[str, Pin] = {}
        alias_replaces: dict[str, Replaced] = {}
        for alias, value in (data.get("aliases") or {}).items():
            if isinstance(value, dict):
                aliases[str(alias)] = int(value["version"])
                pin = Pin.from_dict(value)
                if pin is not None:
                    alias_pins[str(alias)] = pin
                replaced = Replaced.from_dict(value.get("replaces"))
                if replaced is not None:
                    alias_replaces[str(alias)] = replaced
            else:
                aliases[str(alias)] = int(value)
        return cls(
            name=data["name"],
            description=data.get("description"),
            deleted=bool(data.get("deleted")),
            renamed_from=tuple(data.get("renamed_from") or ()),
            tags=dict(data.get("tags") or {}),
            aliases=aliases,
            alias_pins=alias_pins,
            alias_replaces=alias_replaces,
            versions={
                int(k): VersionEntry.from_dict(v or {})
                for k, v in (data.get("versions") or {}).items()
            },
            created_ms=_clock(data.get("creation_timestamp")),
            updated_ms=_clock(data.get("last_updated_timestamp")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.created_ms is not None:
            out["creation_timestamp"] = self.created_ms
        if self.updated_ms is not None:
            out["last_updated_timestamp"] = self.updated_ms
        if self.description is not None:
            out["description"] = self.description
        if self.deleted:
            out["deleted"] = True
        if self.renamed_from:
            out["renamed_from"] = list(self.renamed_from)
        out["tags"] = dict(self.tags)
        out["aliases"] = {alias: self._alias_record(alias) for alias in sorted(self.aliases)}
        out["versions"] = {str(k): v.to_dict() for k, v in sorted(self.versions.items())}
        return out

    def _alias_record(self, alias: str) -> Any:
        """An alias as model.yaml stores it: a bare number (no pin), or its version, pin and
        what it replaced."""
        number = self.aliases[alias]
        pin, replaced = self.alias_pins.get(alias), self.alias_replaces.get(alias)
        if pin is None and replaced is None:
            return number
        record: dict[str, Any] = {"version": number, **(pin.to_dict() if pin else {})}
        if replaced is not None:
            record["replaces"] = replaced.to_dict()
        return record


def _clock(value: Any) -> int | None:
    """A stored time in ms (the schema makes it an integer), or None when absent."""
    return None if value is None else int(value)
