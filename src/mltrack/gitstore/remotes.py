"""Remotes, through the git CLI: which remote a branch follows, fetching from it.

Every remote operation is a ``git`` subprocess, so credentials, ssh and https work
exactly as they do for the user's own ``git fetch`` (their helpers, agents and
``~/.ssh/config``). Terminal prompts are off (``GIT_TERMINAL_PROMPT=0``): a remote
that would ask for a password fails with git's one-line message instead of hanging.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mltrack.gitstore.process import run_git
from mltrack.gitstore.refs import Refs

__all__ = ["Remotes", "Upstream"]

# Not forced: a remote tag never replaces a local one of the same name (a collision).
TAG_REFSPEC = "refs/tags/mltrack/*:refs/tags/mltrack/*"


@dataclass(frozen=True)
class Upstream:
    """The remote branch a local branch integrates with (``origin``, ``main``)."""

    remote: str
    branch: str

    @property
    def tracking_ref(self) -> str:
        return f"refs/remotes/{self.remote}/{self.branch}"

    def __str__(self) -> str:
        return f"{self.remote}/{self.branch}"


class Remotes:
    """The remotes of one repository."""

    def __init__(self, root: Path, refs: Refs) -> None:
        self._root = root
        self._refs = refs

    def names(self) -> list[str]:
        out = run_git(self._root, ["remote"], check=False, quiet=True)
        return out.decode("utf-8", "replace").split()

    def _config(self, key: str) -> str | None:
        out = run_git(self._root, ["config", "--get", key], check=False, quiet=True)
        return out.decode("utf-8", "replace").strip() or None

    def upstream(self, remote: str | None = None) -> Upstream | None:
        """The remote branch the current branch follows.

        Its configured upstream (``branch.<b>.remote``/``.merge``) when ``remote``
        is not given or names it; else the same-named branch of ``remote`` (default:
        ``origin``, or the only remote). None on a detached HEAD or without remotes.
        """
        head = self._refs.head()
        if head.branch is None:
            return None
        remotes = self.names()
        configured = self._config(f"branch.{head.branch}.remote")
        merge = self._config(f"branch.{head.branch}.merge")
        if configured and merge and configured in remotes and remote in (None, configured):
            return Upstream(configured, merge.removeprefix("refs/heads/"))
        if remote is None:
            remote = "origin" if "origin" in remotes or len(remotes) != 1 else remotes[0]
        if remote not in remotes:
            return None
        return Upstream(remote, head.branch)

    def default_remote(self) -> str | None:
        """The current branch's remote, else ``origin``, else the only remote (CI's detached HEAD)."""
        upstream = self.upstream()
        if upstream is not None:
            return upstream.remote
        remotes = self.names()
        if "origin" in remotes:
            return "origin"
        return remotes[0] if len(remotes) == 1 else None

    def fetch_branch(self, upstream: Upstream) -> bool:
        """Update ``refs/remotes/<remote>/<branch>``; False when the remote has no such branch."""
        out = run_git(
            self._root,
            ["ls-remote", "--heads", upstream.remote, f"refs/heads/{upstream.branch}"],
        )
        if not out.strip():
            return False
        run_git(
            self._root,
            [
                "fetch",
                "--quiet",
                "--no-tags",
                upstream.remote,
                f"+refs/heads/{upstream.branch}:{upstream.tracking_ref}",
            ],
        )
        return True

    def fetch_version_tags(self, remote: str) -> None:
        """Fetch every ``refs/tags/mltrack/*`` of ``remote`` (a CI clone made without tags)."""
        run_git(self._root, ["fetch", "--quiet", "--no-tags", remote, TAG_REFSPEC])
