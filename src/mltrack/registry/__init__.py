"""The model registry: versions are immutable git tags, everything mutable is a reviewable commit.

- Version ``N`` of model ``name`` is the annotated tag ``mltrack/<encoded name>/v<N>``
  on the commit that holds the model files. Its message records the source run,
  the artifact path and the sha256 of every file. Numbers come from the integers
  already tagged (deleted versions keep theirs), never from clocks.
- Descriptions, tags, stages, aliases and deletions live in
  ``.mltrack/models/<encoded name>/model.yaml``; each change is a commit on the
  current branch, or on a new branch for a pull request (the working tree is
  never touched), so a promotion is a diff a reviewer approves.
- History is rebuilt from the tags and from ``git log`` of model.yaml, in commit
  order.
"""

from __future__ import annotations

from typing import Any

from mltrack.registry.records import ModelVersion, RegisteredModel, RegistryEvent
from mltrack.registry.service import Registry
from mltrack.store.model_names import (
    STAGES,
    decode_name,
    encode_name,
    parse_version_tag,
    version_tag,
)
from mltrack.tracking.context import current_repository, current_tracking_uri, is_server_uri

__all__ = [
    "STAGES",
    "ModelVersion",
    "RegisteredModel",
    "Registry",
    "RegistryEvent",
    "decode_name",
    "encode_name",
    "parse_version_tag",
    "register_model",
    "version_tag",
]


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = 300,
    *,
    tags: dict[str, Any] | None = None,
    **_: Any,
) -> ModelVersion:
    """Register the model at ``model_uri`` under ``name`` (creating the registered model if needed)."""
    uri = current_tracking_uri()
    if is_server_uri(uri):
        from mltrack.registry.remote import RemoteRegistry
        from mltrack.tracking.rest import RestTransport

        return RemoteRegistry(RestTransport(str(uri))).register_model(model_uri, name, tags)
    return Registry(current_repository()).create_model_version(name, model_uri, tags=tags)
