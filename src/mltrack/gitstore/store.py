"""``GitStore``: one git working tree, read and written on mltrack's terms.

A facade over the package's parts, each in its own module: ``objects`` and ``pack`` (git's
formats, pure), ``process`` (git subprocesses), ``odb`` (objects and trees), ``refs``,
``index`` (the user's index under its lock), ``commits``, ``history`` (revisions, log,
tags) and ``worktree``. The facade keeps what spans parts (discovery, commits and parked
commits, tag creation, refs); reads go to the parts themselves: ``git.history`` (revisions,
trees, log), ``git.tags``, ``git.worktree`` (the user's files), ``git.objects``, ``git.index``
and ``git.remotes`` (fetch, push, upstreams: the git CLI).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

from mltrack.exceptions import GitError, NotAGitRepository
from mltrack.gitstore.commits import Committer
from mltrack.gitstore.history import History, Tags
from mltrack.gitstore.identity import Identities
from mltrack.gitstore.index import UserIndex
from mltrack.gitstore.lfs import LargeFiles
from mltrack.gitstore.objects import (
    HeadInfo,
    Identity,
    ParkedCommit,
)
from mltrack.gitstore.odb import ObjectDatabase
from mltrack.gitstore.process import run_git
from mltrack.gitstore.refs import Refs
from mltrack.gitstore.remotes import Remotes
from mltrack.gitstore.worktree import WorkingTree

__all__ = ["GitStore"]

_SHA256 = re.compile(r"^\s*objectformat\s*=\s*sha256\s*$", re.I | re.M)


class GitStore:
    """A git working tree (main or linked), read and written on mltrack's terms."""

    def __init__(self, root: Path, git_dir: Path, common_dir: Path) -> None:
        self.root = root
        self.git_dir = git_dir
        self.common_dir = common_dir
        self.private_dir = git_dir / "mltrack"
        self.objects = ObjectDatabase(root, common_dir / "objects")
        self._identities = Identities(root)
        self.refs = Refs(root, git_dir, common_dir, lambda: self._identities.get().signature())
        self.index = UserIndex(root, git_dir, self.private_dir, self.objects)
        self.history = History(root, self.objects, self.refs)
        self.tags = Tags(root, self.objects, self.refs, self._identities)
        self.worktree = WorkingTree(root, common_dir, self.refs)
        self.large_files = LargeFiles(root, common_dir)
        self.remotes = Remotes(root, self.refs)
        self._committer = Committer(
            root,
            self.private_dir,
            self.objects,
            self.refs,
            self.index,
            self._identities,
            self.large_files,
        )

    # ------------------------------------------------------------------ discovery

    @classmethod
    def discover(cls, start: str | os.PathLike[str] | None = None) -> GitStore:
        """The working tree containing ``start`` (default: the current directory)."""
        path = Path(start if start is not None else os.getcwd()).resolve()
        if path.is_file():
            path = path.parent
        for candidate in (path, *path.parents):
            dotgit = candidate / ".git"
            if dotgit.is_dir():
                git_dir = dotgit
            elif dotgit.is_file():
                text = dotgit.read_text(encoding="utf-8").strip()
                if not text.startswith("gitdir:"):
                    continue
                git_dir = (candidate / text.removeprefix("gitdir:").strip()).resolve()
            else:
                if (candidate / "HEAD").is_file() and cls.open_bare(candidate) is not None:
                    raise NotAGitRepository(
                        f"{candidate} is a bare git repository: it has no working tree for "
                        "mltrack to record runs in. Clone it (`git clone "
                        f"{candidate}`) and run mltrack in the clone."
                    )
                continue
            common_file = git_dir / "commondir"
            if common_file.is_file():
                common = (git_dir / common_file.read_text(encoding="utf-8").strip()).resolve()
            else:
                common = git_dir
            if (common / "reftable").is_dir():
                raise GitError(
                    f"{candidate} uses git's reftable ref storage, which mltrack does not support yet"
                )
            with contextlib.suppress(FileNotFoundError):
                if _SHA256.search(
                    (common / "config").read_text(encoding="utf-8", errors="replace")
                ):
                    raise GitError(
                        f"{candidate} uses SHA-256 object names (extensions.objectFormat = "
                        "sha256), which mltrack does not support yet: use a SHA-1 repository"
                    )
            store = cls(candidate, git_dir, common)
            try:
                store.settle()
            except (GitError, OSError) as error:  # the command itself may still work: say so
                logging.getLogger("mltrack").warning(
                    "could not finish an earlier commit: %s", error
                )
            return store
        raise NotAGitRepository(
            f"{path} is not inside a git repository. mltrack stores runs in git: "
            "run `git init` there first (or `mltrack init --init-git`)."
        )

    @classmethod
    def open_bare(cls, path: str | os.PathLike[str]) -> GitStore | None:
        """The bare repository at ``path`` (e.g. ``project.git``); None if it is not one.

        A bare repository has no working tree: read it, or check a commit out with
        :meth:`temporary_worktree`; mltrack never commits to one.
        """
        candidate = Path(path).resolve()
        if not (
            (candidate / "HEAD").is_file()
            and (candidate / "objects").is_dir()
            and (candidate / "refs").is_dir()
        ):
            return None
        out = run_git(candidate, ["rev-parse", "--is-bare-repository"], check=False, quiet=True)
        if out.strip() != b"true":
            return None
        return cls(candidate, candidate, candidate)

    @staticmethod
    def init_repository(path: Path) -> None:
        """``git init`` a new repository at ``path``."""
        run_git(path, ["init", "-q"])

    def close(self) -> None:
        self.objects.close()

    def git(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        """Run one git command in the working tree and return its stdout."""
        return run_git(self.root, list(args), input=input, check=check)

    def identity(self, role: str = "committer") -> Identity:
        """Who commits (``role="author"``: who authored): git's identity, else
        ``login <login@hostname>`` (see ``Identities``)."""
        return self._identities.get(role)

    def prefetch_identity(self) -> None:
        """Start looking up the commit identity now; ``identity`` collects the answer."""
        self._identities.prefetch()

    # ------------------------------------------------------------------ writing

    def commit(
        self,
        changes: Mapping[str, bytes | Path | None],
        message: str,
        *,
        ref: str | None = None,
        create_from: str | None = None,
        update_index: bool | None = None,
        author: Identity | None = None,
    ) -> str | None:
        """Commit ``changes`` (repo-relative path → new content) on top of ``ref``.

        A value is file content (bytes), a file or directory in the working tree
        whose whole content replaces the path (Path), or None to delete the path.
        ``ref`` defaults to what HEAD points at (the current branch, or HEAD itself
        when detached); then the user's index gets the commit's ``.mltrack/`` entries
        under git's index lock, or the commit is parked while the user's git holds
        that lock (see ``commits``). ``create_from`` makes a new branch ``ref``
        starting at that commit (it must not exist yet). ``author`` records someone else
        as the author (a team server's authenticated user); the committer stays this
        repository's identity. Returns the new commit, or the unchanged head when the
        tree would not change (None for an unborn branch).
        """
        return self._committer.commit(
            changes,
            message,
            ref=ref,
            create_from=create_from,
            update_index=update_index,
            author=author,
        )

    def settle(self) -> None:
        """Finish what an earlier mltrack process left undone (crash repair, parked commits)."""
        self._committer.settle()

    def parked_commits(self) -> list[ParkedCommit]:
        """Commits waiting for the index lock to join their branch, oldest first."""
        return self._committer.parked_commits()

    def integrate_parked(self) -> list[str]:
        """Put parked commits on their branches (``mltrack commit``); returns the new commits."""
        return self._committer.integrate_parked()

    def prune_detached_refs(self) -> list[str]:
        """Remove the ``refs/mltrack/detached/*`` refs whose commits a branch or tag reaches."""
        return self._committer.prune_detached_refs()

    def create_tag(
        self, name: str, target: str, message: str, *, author: Identity | None = None
    ) -> str:
        """Create the annotated tag ``refs/tags/<name>``; fails if it exists.

        ``author``, when given, is the tagger (a tag has no separate committer).
        """
        return self.tags.create(name, target, message, author=author)

    def delete_ref(self, ref: str) -> None:
        self.git("update-ref", "-d", ref)

    # ------------------------------------------------------------------ reading

    def head(self) -> HeadInfo:
        return self.refs.head()

    def read_ref(self, ref: str) -> str | None:
        """The commit a ref names (following symbolic refs); None if it does not exist."""
        return self.refs.read(ref)

    def ref_names(self, prefix: str) -> list[str]:
        """Names of the refs under ``prefix`` (``refs/tags/x/``), loose and packed, without git."""
        return self.refs.names(prefix)

    def branch_exists(self, name: str) -> bool:
        return self.refs.read(f"refs/heads/{name}") is not None

    def rev_parse(self, rev: str) -> str:
        """The commit a revision names (branch, tag, sha, HEAD~2 …)."""
        return self.history.rev_parse(rev)
