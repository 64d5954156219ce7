"""A registered version as its annotated git tag records it (the immutable part of a version).

The tag's message is written by :meth:`TaggedVersion.message` and read back by
:meth:`TaggedVersion.from_tag`: ``key: <json>`` lines and one ``file <sha256> <json path>``
line per model file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from mltrack.exceptions import IntegrityError
from mltrack.gitstore import MLTRACK_DIR, TagInfo
from mltrack.store.model_document import Pin
from mltrack.store.model_names import parse_version_tag, version_tag
from mltrack.uris import runs_uri

__all__ = ["TaggedVersion", "parse_tag"]


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
    # Registered from a source outside this repository (another store's run, a bucket, a
    # path): the tag records the source and marks the commit that registered it, no files.
    external: bool = False

    @property
    def model_dir(self) -> str:
        return f"{MLTRACK_DIR}/experiments/{self.experiment_id}/runs/{self.run_id}/artifacts/{self.artifact_path}"

    @property
    def model_hash(self) -> str:
        """sha256 over the model's files (``<sha256> <path>`` lines, sorted): the same files,
        the same hash, whatever number or tag object a clone gave the version."""
        lines = "".join(f"{sha} {path}\n" for path, sha in sorted(self.files.items()))
        return hashlib.sha256(lines.encode("utf-8")).hexdigest()

    @property
    def pin(self) -> Pin:
        return Pin(self.run_id, self.model_hash)

    @property
    def run_yaml(self) -> str:
        """The source run's run.yaml in the tagged commit."""
        return f"{MLTRACK_DIR}/experiments/{self.experiment_id}/runs/{self.run_id}/run.yaml"

    def renamed(self, new_name: str) -> TaggedVersion:
        """The same version under another model name (its tag is re-made for the rename)."""
        return replace(self, name=new_name, tag=version_tag(new_name, self.version))

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
                    *((("external", True),) if self.external else ()),
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
            source=fields.get("source") or runs_uri(fields["run_id"], fields["artifact_path"]),
            files=files,
            created_ms=int(fields.get("created_ms") or info.tagger_time * 1000),
            author=f"{info.tagger_name} <{info.tagger_email}>",
            head=fields.get("head"),
            external=fields.get("external") is True,
        )


# Parsed version tags by tag object id: a tag object never changes, so this is never stale,
# and every Registry of the process (one per client) shares it.
_PARSED_TAGS: dict[str, TaggedVersion] = {}
_PARSED_TAGS_MAX = 100_000


def parse_tag(info: TagInfo) -> TaggedVersion | None:
    """The version a tag records, or None for a tag mltrack did not make."""
    parsed = parse_version_tag(info.name)
    if parsed is None:
        return None
    cached = _PARSED_TAGS.get(info.sha) if info.sha else None
    if cached is not None and (cached.name, cached.version) == parsed:
        return cached
    try:
        version = TaggedVersion.from_tag(info, *parsed)
    except (IntegrityError, ValueError, KeyError):
        return None
    if info.sha:
        if len(_PARSED_TAGS) >= _PARSED_TAGS_MAX:
            _PARSED_TAGS.clear()
        _PARSED_TAGS[info.sha] = version
    return version
