"""Commits on mltrack's terms: built from objects, moved in with a compare-and-swap, staged in
the user's index under its lock, or parked while the user's git holds that lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from mltrack.exceptions import GitError
from mltrack.fsutil import create_file
from mltrack.gitstore.identity import Identities
from mltrack.gitstore.index import UserIndex
from mltrack.gitstore.lfs import LargeFiles
from mltrack.gitstore.objects import (
    MLTRACK_DIR,
    Identity,
    ParkedCommit,
    encode_commit,
    nest,
    parse_commit,
)
from mltrack.gitstore.odb import Entry, LfsPointer, ObjectDatabase
from mltrack.gitstore.process import run_git, test_crash
from mltrack.gitstore.refs import Refs
from mltrack.gitstore.signing import signed_commit

__all__ = ["Committer"]

CAS_ATTEMPTS = 200
LOCK_WAIT_SECONDS = 5.0  # the user's git holding index.lock longer: the commit is parked
_SETTLE_WAIT_SECONDS = 0.5  # at start, parked commits are integrated only if the lock is free
_GC_EVERY = 100  # commits between `git gc --auto` calls, as `git commit` would make them
PARKED_REFS = "refs/mltrack/pending/"
DETACHED_REFS = "refs/mltrack/detached/"


class Committer:
    """Writes commits to one worktree's branches (and its index)."""

    def __init__(
        self,
        root: Path,
        private_dir: Path,
        odb: ObjectDatabase,
        refs: Refs,
        index: UserIndex,
        identities: Identities,
        large_files: LargeFiles,
    ) -> None:
        self._root = root
        self._private_dir = private_dir
        self._odb = odb
        self._refs = refs
        self._index = index
        self._identities = identities
        self._large_files = large_files
        self._lock = threading.RLock()
        self._commits_since_gc = 0

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
        when detached). ``create_from`` makes a new branch ``ref`` starting at that
        commit (it must not exist yet). Returns the new commit, or the unchanged
        head when the tree would not change (None for an unborn branch).
        """
        for path in changes:
            parts = path.split("/")
            if parts[0] != MLTRACK_DIR or any(
                part in ("", ".", "..") or part.lower() == ".git" for part in parts[1:]
            ):
                raise GitError(f"mltrack only commits paths under {MLTRACK_DIR}/, not {path!r}")
        head = self._refs.head()
        target = ref or head.ref
        if update_index is None:
            update_index = target == head.ref
        with self._lock, self._odb.packing():
            return self._commit_locked(changes, message, target, create_from, update_index, author)

    def _commit_locked(
        self,
        changes: Mapping[str, bytes | Path | None],
        message: str,
        target: str,
        create_from: str | None,
        update_index: bool,
        author: Identity | None,
    ) -> str | None:
        lfs = self._lfs_pointers(changes)
        prepared = {path: self._odb.prepare(value, lfs) for path, value in changes.items()}
        if not update_index:
            return self._advance(target, prepared, message, create_from=create_from, author=author)
        # index.lock first, as `git commit -a`; the index gets the run before the branch does.
        if not self._index.lock(LOCK_WAIT_SECONDS):
            return self._park(target, prepared, message, author)
        try:
            self._integrate_parked()
            return self._advance(
                target, prepared, message, create_from=create_from, stage=True, author=author
            )
        finally:
            self._index.unlock()

    def _lfs_pointers(self, changes: Mapping[str, bytes | Path | None]) -> LfsPointer | None:
        """Pointers for the files git would send to the ``lfs`` filter, as ``git add`` does."""
        chosen = {self._root / path for path in self._large_files.select(changes)}
        if not chosen:
            return None
        return lambda path: self._large_files.store(path) if path in chosen else None

    def _build_commit(
        self,
        parent: str | None,
        prepared: Mapping[str, Entry | None],
        message: str,
        author: Identity | str | None,
    ) -> tuple[str | None, bytes | None]:
        """The commit of ``prepared`` on ``parent`` (None: the tree would not change) and the
        parent's tree. ``author``: who, or a whole signature line (a replayed commit's)."""
        base_tree = self._odb.commit_tree(parent) if parent else None
        new_tree = self._odb.splice(base_tree, nest(prepared)) or self._odb.write_tree({})
        if parent is not None and new_tree == base_tree:
            return None, base_tree
        now = time.time()
        parents = (parent,) if parent else ()
        author_line = (
            author
            if isinstance(author, str)
            else (author or self._identities.get("author")).signature(now)
        )
        committer_line = self._identities.get().signature(now)
        if self._identities.config_flag("commit.gpgsign"):
            self._odb.flush_pack()  # git signs it: the tree must be where git finds it
            sha = signed_commit(
                self._root, new_tree.hex(), parents, author_line, committer_line, message
            )
        else:
            body = encode_commit(new_tree.hex(), parents, author_line, committer_line, message)
            sha = self._odb.write_object("commit", body)
        self._odb.remember_commit_tree(sha, new_tree)
        self._odb.flush_pack()
        return sha, base_tree

    def _advance(
        self,
        target: str,
        prepared: Mapping[str, Entry | None],
        message: str,
        *,
        create_from: str | None = None,
        stage: bool = False,
        author: Identity | str | None = None,
    ) -> str | None:
        """Commit ``prepared`` on ``target`` with a compare-and-swap, rebuilding on a moved tip.

        ``stage``: the caller holds the index lock; the user's index gets the commit's
        ``.mltrack/`` entries before the branch moves (see ``UserIndex.lock``).
        """
        staged: dict[str, Entry | None] = {}
        for attempt in range(CAS_ATTEMPTS):
            parent = self._refs.current(target)
            if parent == "ref":
                raise GitError("HEAD was switched to a branch while mltrack was committing; retry")
            if create_from is not None:
                if parent is not None:
                    raise GitError(f"{target} already exists")
                parent = create_from
            sha, base_tree = self._build_commit(parent, prepared, message, author)
            if sha is None:
                return parent
            if stage:
                staged = self._index.changes(base_tree, prepared)
                self._index.stage(staged)
                test_crash("index-written")
            expected = None if create_from is not None else parent
            if self._refs.update(target, sha, expected, "mltrack: " + message.splitlines()[0]):
                test_crash("branch-moved")
                self._maybe_gc()
                if target == "HEAD":
                    self._keep_detached_alive(sha, parent)
                return sha
            time.sleep(min(0.001 * (attempt + 1), 0.05) * random.random())
        if staged:  # the branch never got the commit: the index must not keep its files
            self._index.stage(self._index.entries_at(self._refs.current(target), staged))
        lock = self._refs.ref_path(target).with_name(self._refs.ref_path(target).name + ".lock")
        if lock.exists():
            raise GitError(
                f"could not update {target}: {lock} exists. Another git process seems to be "
                "running; if none is (one was killed mid-update), delete that file and retry."
            )
        raise GitError(f"could not update {target}: it kept moving ({CAS_ATTEMPTS} attempts)")

    # ------------------------------------------------------------------ parked commits

    @property
    def _parked_dir(self) -> Path:
        return self._private_dir / "pending"

    def _park(
        self,
        target: str,
        prepared: Mapping[str, Entry | None],
        message: str,
        author: Identity | None,
    ) -> str | None:
        """Keep a commit durable but off the branch while the user's git holds the index lock.

        The commit (on the current tip) is kept alive by ``refs/mltrack/pending/<sha>``; a note
        in this worktree's ``.git/mltrack/pending/`` names the branch it belongs on. The next
        mltrack command that gets the lock puts it there (``_integrate_parked``).
        """
        parent = self._refs.current(target)
        if parent == "ref":
            raise GitError("HEAD was switched to a branch while mltrack was committing; retry")
        sha, _ = self._build_commit(parent, prepared, message, author)
        if sha is None:
            return parent
        self._parked_dir.mkdir(parents=True, exist_ok=True)
        # The note first: a note whose ref is missing still integrates (the objects exist).
        with create_file(self._parked_dir / f"{time.time_ns():020d}-{sha}") as handle:
            handle.write(target.encode() + b"\n")
        self._refs.update(f"{PARKED_REFS}{sha}", sha, None, "mltrack: index.lock busy")
        logging.getLogger("mltrack").warning(
            "another git command holds %s: run commit %s is saved but not on %s yet; "
            "the next mltrack command puts it there (see `mltrack status`)",
            self._index.git_dir / "index.lock",
            sha[:12],
            target.removeprefix("refs/heads/"),
        )
        return sha

    def parked_commits(self) -> list[ParkedCommit]:
        """Commits waiting for the index lock to join their branch, oldest first."""
        try:
            names = sorted(os.listdir(self._parked_dir))
        except FileNotFoundError:
            return []
        parked = []
        for name in names:
            sha = name.partition("-")[2]
            with contextlib.suppress(OSError, GitError):
                target = (self._parked_dir / name).read_text(encoding="utf-8").strip()
                kind, data = self._odb.read_object(sha)
                if kind == "commit":
                    parked.append(ParkedCommit(sha, target, parse_commit(data)))
        return parked

    def integrate_parked(self, wait: float = LOCK_WAIT_SECONDS) -> list[str]:
        """Put parked commits on their branches (``mltrack commit``); returns the new commits.

        Waits up to ``wait`` seconds for a user's git command to release the index lock.
        """
        if not self._parked_dir.exists():
            return []
        with self._lock:
            if not self._index.lock(wait):
                return []
            try:
                with self._odb.packing():
                    return self._integrate_parked()
            finally:
                self._index.unlock()

    def _integrate_parked(self) -> list[str]:
        """Replay each parked commit's changes on its branch's current tip (the lock is held)."""
        made = []
        head = self._refs.head()
        for parked in self.parked_commits():
            if parked.target != head.ref and self._refs.current(parked.target) is None:
                continue  # its branch is gone: keep it, `mltrack status` shows it
            commit = parked.commit
            base = self._odb.commit_tree(commit.parents[0]) if commit.parents else None
            changes = self._odb.tree_changes(base, self._odb.commit_tree(parked.sha))
            sha = self._advance(
                parked.target,
                changes,
                commit.message,
                stage=parked.target == head.ref,
                author=commit.author,
            )
            if sha is not None:
                made.append(sha)
            with contextlib.suppress(GitError):
                self._refs.delete_own(f"{PARKED_REFS}{parked.sha}")
            for note in self._parked_dir.glob(f"*-{parked.sha}"):
                note.unlink()
        with contextlib.suppress(OSError):
            self._parked_dir.rmdir()  # only if empty: its existence is what `settle` looks for
        return made

    def _maybe_gc(self) -> None:
        """Like `git commit`, let `git gc --auto` consolidate packs now and then (it detaches)."""
        self._commits_since_gc += 1
        if self._commits_since_gc >= _GC_EVERY:
            self._commits_since_gc = 0
            with contextlib.suppress(GitError, OSError):
                run_git(self._root, ["gc", "--auto", "--quiet"], check=False)

    def _keep_detached_alive(self, commit: str, parent: str | None) -> None:
        """A ref keeps commits made on a detached HEAD reachable after the user checks out a branch.

        One ref per line of work (``refs/mltrack/detached/<tip>``): it moves with each commit.
        """
        self._refs.update(f"{DETACHED_REFS}{commit}", commit, None, "mltrack: keep detached runs")
        if parent is not None and self._refs.read(f"{DETACHED_REFS}{parent}") is not None:
            self._refs.delete_own(f"{DETACHED_REFS}{parent}")

    def prune_detached_refs(self) -> list[str]:
        """Remove the ``refs/mltrack/detached/*`` refs whose commits a branch or tag reaches."""
        head = self._refs.head()
        removed = []
        for ref in self._refs.names(DETACHED_REFS):
            sha = self._refs.read(ref)
            if sha is None or (head.detached and head.commit == sha):
                continue
            reached = run_git(
                self._root,
                ["for-each-ref", "--count=1", f"--contains={sha}", "refs/heads", "refs/tags"],
            )
            if reached.strip():
                self._refs.delete_own(ref)
                removed.append(ref)
        return removed

    def settle(self) -> None:
        """Finish what an earlier mltrack process left undone; a few ``stat`` calls otherwise.

        Repairs the index entries a process killed mid-commit may have left stale, removes
        an ``index.lock`` such a process left behind, and puts parked commits on their
        branch (when the user's git does not hold the index lock).
        """
        repair = self._index.settle_lock()
        if not (repair or self._parked_dir.exists()):
            return
        with self._lock:
            if not self._index.lock(_SETTLE_WAIT_SECONDS):
                return
            try:
                self._index.repair(self._refs.head().commit)
                with self._odb.packing():
                    self._integrate_parked()
            finally:
                self._index.unlock()
