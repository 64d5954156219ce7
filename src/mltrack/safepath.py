"""Which relative paths may be written, listed or served: the one rule every layer applies.

A path from outside (an artifact path, a file name in a git tree that arrived
with ``git fetch``, an upload URL) may never leave its root nor touch a
repository's ``.git``. A component is refused when it is empty, ``.``, ``..``,
or any spelling of ``.git`` that git itself refuses in a tree (``verify_path``:
case-insensitive; NTFS ignores trailing dots and spaces, reads ``git~1`` as the
short name and ``.git::$INDEX_ALLOCATION`` as the directory; HFS+ ignores a set
of invisible code points). A path that passes may still lead out through a
symlinked directory on disk, so :func:`inside` resolves it against its root.

Imports nothing from mltrack but the exceptions: store, registry, tracking and
both servers share it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mltrack.exceptions import InvalidParameterValue

__all__ = ["inside", "is_dotgit", "refused_component", "tree_path"]

# HFS+ drops these when it compares names (git's is_hfs_dotgit), so ".g\u200cit" is ".git".
_HFS_IGNORABLE = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_dotgit(component: str) -> bool:
    """Whether some file system reads ``component`` as ``.git`` (git's HFS and NTFS rules)."""
    if _HFS_IGNORABLE.sub("", component).casefold() == ".git":
        return True
    # NTFS: an alternate data stream suffix (":…") and trailing dots/spaces are ignored.
    stem = component.split(":", 1)[0].rstrip(". ").casefold()
    return stem in (".git", "git~1")


def refused_component(component: str) -> str | None:
    """Why one path component may not be used, or None if it may."""
    if component in ("", "."):
        return "an empty or '.' component"
    if component == "..":
        return "a '..' component, which would leave its directory"
    if is_dotgit(component):
        return f"the component {component!r}, which git reads as its own .git directory"
    return None


def tree_path(path: str, kind: str = "path") -> str:
    """A ``/``-separated relative path as git trees hold them, every component checked.

    Stricter than user input: nothing is normalised away, so ``a//b``, ``./a``,
    a backslash or a control character is refused, not repaired.
    """
    if not path or path.startswith("/") or "\\" in path or _CONTROL.search(path):
        raise InvalidParameterValue(
            f"Refusing {kind} {path!r}: not a plain relative path (absolute, empty, a "
            "backslash or a control character)."
        )
    for component in path.split("/"):
        reason = refused_component(component)
        if reason is not None:
            raise InvalidParameterValue(f"Refusing {kind} {path!r}: it has {reason}.")
    return path


def inside(root: Path, relative: str, kind: str = "path") -> Path:
    """``root / relative``, once it is known to stay under ``root`` with symlinks followed."""
    target = root / relative if relative else root
    resolved_root = root.resolve()
    resolved = target.resolve()
    if resolved != resolved_root and not resolved.is_relative_to(resolved_root):
        raise InvalidParameterValue(
            f"Refusing {kind} {relative!r}: it leads outside its directory (a symlink)."
        )
    return target
