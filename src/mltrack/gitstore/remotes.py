"""Remotes, through the git CLI: which remote a branch follows, fetching from it.

Every remote operation is a ``git`` subprocess, so credentials, ssh and https work
exactly as they do for the user's own ``git fetch`` (their helpers, agents and
``~/.ssh/config``). Terminal prompts are off (``GIT_TERMINAL_PROMPT=0``): a remote
that would ask for a password fails with git's one-line message instead of hanging.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mltrack.exceptions import GitError
from mltrack.gitstore.process import NO_GIT, failure, git_env, run_git
from mltrack.gitstore.refs import Refs

__all__ = ["MIRROR", "Remotes", "Upstream"]

# Where sync keeps the remote's version tags as last fetched (refs/mltrack/remotes/<remote>/
# tags/mltrack/...): a remote tag never replaces a local one, and `status` needs no network.
MIRROR = "refs/mltrack/remotes"

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

    def _remote_config(self) -> dict[str, str]:
        """Remote URLs and branch upstreams from git's config (one ``git config`` call)."""
        out = run_git(
            self._root,
            ["config", "-z", "--get-regexp", r"^(remote\..*\.url|branch\..*\.(remote|merge))$"],
            check=False,
            quiet=True,
        ).decode("utf-8", "replace")
        return {
            key: value
            for key, _, value in (item.partition("\n") for item in out.split("\0") if item)
        }

    def names(self) -> list[str]:
        return self._names(self._remote_config())

    @staticmethod
    def _names(config: dict[str, str]) -> list[str]:
        return sorted(
            key[len("remote.") : -len(".url")]
            for key in config
            if key.startswith("remote.") and key.endswith(".url")
        )

    def upstream(self, remote: str | None = None) -> Upstream | None:
        """The remote branch the current branch follows.

        Its configured upstream (``branch.<b>.remote``/``.merge``) when ``remote``
        is not given or names it; else the same-named branch of ``remote`` (default:
        ``origin``, or the only remote). None on a detached HEAD or without remotes.
        """
        head = self._refs.head()
        if head.branch is None:
            return None
        config = self._remote_config()
        remotes = self._names(config)
        configured = config.get(f"branch.{head.branch}.remote")
        merge = config.get(f"branch.{head.branch}.merge")
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

    def mirror_prefix(self, remote: str) -> str:
        return f"{MIRROR}/{remote}/tags/"

    def fetch_for_sync(self, upstream: Upstream) -> bool:
        """Fetch the branch and mirror the remote's version tags; False if the branch is absent."""
        heads = run_git(
            self._root, ["ls-remote", "--heads", upstream.remote, f"refs/heads/{upstream.branch}"]
        )
        refspecs = [f"+refs/tags/mltrack/*:{self.mirror_prefix(upstream.remote)}mltrack/*"]
        if heads.strip():
            refspecs.append(f"+refs/heads/{upstream.branch}:{upstream.tracking_ref}")
        run_git(
            self._root, ["fetch", "--quiet", "--no-tags", "--prune", upstream.remote, *refspecs]
        )
        return bool(heads.strip())

    def mirrored_tags(self, remote: str) -> dict[str, str] | None:
        """tag name (``mltrack/…``) → tag object of the remote as last fetched; None if never."""
        prefix = self.mirror_prefix(remote)
        out = run_git(
            self._root, ["for-each-ref", "--format=%(objectname) %(refname)", prefix]
        ).decode("utf-8", "replace")
        tags = {
            ref.removeprefix(prefix): sha
            for sha, _, ref in (line.partition(" ") for line in out.splitlines())
        }
        if tags or self._refs.read(f"{MIRROR}/{remote}/synced") is not None:
            return tags
        return None

    def mark_synced(self, remote: str, commit: str) -> None:
        """Remember that ``remote``'s tags were mirrored (even when it has none)."""
        run_git(self._root, ["update-ref", f"{MIRROR}/{remote}/synced", commit])

    def set_ref(self, ref: str, sha: str) -> None:
        run_git(self._root, ["update-ref", ref, sha])

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        code, _, _ = _git_status(self._root, ["merge-base", "--is-ancestor", ancestor, descendant])
        return code == 0

    def ahead_behind(self, base: str, head: str) -> tuple[int, int]:
        """(commits on ``head`` not on ``base``, commits on ``base`` not on ``head``)."""
        out = run_git(self._root, ["rev-list", "--left-right", "--count", f"{base}...{head}"])
        behind, ahead = out.split()
        return int(ahead), int(behind)

    def integrate(
        self, onto: str, merge: bool, env: Mapping[str, str] | None = None
    ) -> list[str] | None:
        """Rebase the branch onto ``onto`` (or merge it); the conflicted paths if git stopped.

        ``env`` reaches git's merge drivers (a sync tells the model.yaml driver what it
        renumbered)."""
        args = (
            ["merge", "--no-edit", "--quiet", onto]
            if merge
            else ["rebase", "--quiet", "--autostash", onto]
        )
        code, _, err = _git_status(self._root, args, env)
        if code == 0:
            return None
        conflicted = (
            run_git(self._root, ["diff", "--name-only", "--diff-filter=U"], check=False)
            .decode("utf-8", "replace")
            .split()
        )
        if not conflicted:
            raise failure(args, err, code)
        return conflicted

    def push_atomic(self, remote: str, branch: str, tags: list[str]) -> bool:
        """Push HEAD to ``branch`` and ``tags`` in one atomic push; False if the remote moved."""
        args = [
            "push",
            "--atomic",
            "--porcelain",
            remote,
            f"HEAD:refs/heads/{branch}",
            *(f"refs/tags/{tag}:refs/tags/{tag}" for tag in tags),
        ]
        code, out, err = _git_status(self._root, args)
        if code == 0:
            return True
        # --porcelain: a refused ref is a "!" line. Another push that landed first shows as a
        # rejected (fetch first / non-fast-forward / stale) or a remote's lost ref-lock race;
        # a hook or policy that declines is final.
        refused = [
            line for line in out.decode("utf-8", "replace").splitlines() if line.startswith("!")
        ]
        if refused and not any("declined" in line for line in refused):
            return False
        raise failure(args, err, code)


def _git_status(
    root: Path, args: list[str], env: Mapping[str, str] | None = None
) -> tuple[int, bytes, bytes]:
    """Run git; (exit status, stdout, stderr), for commands whose failure is an answer."""
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            env={**git_env(), **(env or {})},
            check=False,
        )
    except FileNotFoundError:
        raise GitError(NO_GIT) from None
    return proc.returncode, proc.stdout, proc.stderr
