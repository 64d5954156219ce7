"""What the registry returns: versions as their tags record them, and MLflow's entities."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mltrack.exceptions import IntegrityError
from mltrack.gitstore import MLTRACK_DIR, TagInfo
from mltrack.registry.names import STAGES, canonical_stage

__all__ = ["ModelVersion", "RegisteredModel", "RegistryEvent", "TaggedVersion", "latest_per_stage"]


_INVALID = object()


def _json_values(texts: list[str]) -> list[Any]:
    """Each text decoded as JSON (``_INVALID`` where it is not): one decode for all when it can."""
    try:
        decoded = json.loads("[" + ",".join(texts) + "]")
        if isinstance(decoded, list) and len(decoded) == len(texts):
            return decoded
    except ValueError:
        pass
    out: list[Any] = []
    for text in texts:
        try:
            out.append(json.loads(text))
        except ValueError:
            out.append(_INVALID)
    return out


@dataclass(frozen=True)
class TaggedVersion:
    """The immutable part of a version, as its tag records it."""

    name: str
    version: int
    commit: str
    tag: str
    run_id: str
    experiment_id: str
    artifact_path: str
    model_id: str | None
    source: str
    files: dict[str, str]
    created_ms: int
    author: str
    head: str | None = None  # HEAD when it was registered: places the event in commit order

    @property
    def model_dir(self) -> str:
        return f"{MLTRACK_DIR}/experiments/{self.experiment_id}/runs/{self.run_id}/artifacts/{self.artifact_path}"

    def message(self) -> str:
        lines = [
            f"Register model {self.name!r} version {self.version}",
            "",
            *(
                f"{key}: {json.dumps(value)}"
                for key, value in (
                    ("name", self.name),
                    ("version", self.version),
                    ("run_id", self.run_id),
                    ("experiment_id", self.experiment_id),
                    ("artifact_path", self.artifact_path),
                    ("model_id", self.model_id),
                    ("source", self.source),
                    ("created_ms", self.created_ms),
                    ("head", self.head),
                )
            ),
            *(f"file {sha} {json.dumps(path)}" for path, sha in sorted(self.files.items())),
        ]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_tag(cls, info: TagInfo, name: str, version: int) -> TaggedVersion:
        keys: list[str] = []
        values: list[str] = []
        shas: list[str] = []
        paths: list[str] = []
        for line in info.message.splitlines():
            if line.startswith("file "):
                _, sha, path = line.split(" ", 2)
                shas.append(sha)
                paths.append(path)
            elif ": " in line:
                key, _, value = line.partition(": ")
                keys.append(key)
                values.append(value)
        decoded = _json_values(values + paths)
        fields = {
            k: v for k, v in zip(keys, decoded[: len(values)], strict=True) if v is not _INVALID
        }
        files: dict[str, str] = {}
        for sha, path in zip(shas, decoded[len(values) :], strict=True):
            if not isinstance(path, str):
                raise ValueError(f"tag {info.name}: a file line does not name a path")
            files[path] = sha
        if fields.get("name") != name or fields.get("version") != version or "run_id" not in fields:
            raise IntegrityError(
                f"Tag {info.name} does not describe {name!r} version {version}; it was not made by mltrack."
            )
        return cls(
            name=name,
            version=version,
            commit=info.target,
            tag=info.name,
            run_id=fields["run_id"],
            experiment_id=fields["experiment_id"],
            artifact_path=fields["artifact_path"],
            model_id=fields.get("model_id"),
            source=fields.get("source") or f"runs:/{fields['run_id']}/{fields['artifact_path']}",
            files=files,
            created_ms=int(fields.get("created_ms") or info.tagger_time * 1000),
            author=f"{info.tagger_name} <{info.tagger_email}>",
            head=fields.get("head"),
        )


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
