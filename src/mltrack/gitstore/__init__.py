"""The only package that talks to git (see ``store.GitStore``, the facade over its parts)."""

from mltrack.gitstore.objects import (
    MLTRACK_DIR,
    CommitInfo,
    CommitObject,
    HeadInfo,
    Identity,
    ParkedCommit,
    TagInfo,
    TreeEntry,
    parse_commit,
    parse_trailers,
    valid_ref_name,
)
from mltrack.gitstore.process import Pending, PendingGit
from mltrack.gitstore.remotes import Upstream
from mltrack.gitstore.store import GitStore

__all__ = [
    "MLTRACK_DIR",
    "CommitInfo",
    "CommitObject",
    "GitStore",
    "HeadInfo",
    "Identity",
    "ParkedCommit",
    "Pending",
    "PendingGit",
    "TagInfo",
    "TreeEntry",
    "Upstream",
    "parse_commit",
    "parse_trailers",
    "valid_ref_name",
]
