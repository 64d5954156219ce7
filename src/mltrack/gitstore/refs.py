"""Refs as git keeps them: loose files, ``packed-refs``, compare-and-swap updates, reflogs.

An update follows git's lock protocol (``git-update-ref``): whoever creates ``<ref>.lock``
exclusively may write the new value into it and rename it over the ref; everyone else
retries. Reflog lines are ``<old> <new> <signature>\\t<message>``, appended where git
keeps reflogs (HEAD, branches, remotes, notes).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from mltrack.exceptions import GitError
from mltrack.gitstore.objects import ZERO, HeadInfo, valid_ref_name
from mltrack.gitstore.process import run_git

__all__ = ["Refs"]


class Refs:
    """The refs of one worktree: per-worktree ones in its git dir, shared ones in the common dir."""

    def __init__(
        self, root: Path, git_dir: Path, common_dir: Path, signature: Callable[[], str]
    ) -> None:
        self._root = root
        self.git_dir = git_dir
        self.common_dir = common_dir
        self._signature = signature  # who moves a ref, for reflog lines
        self._packed_refs: tuple[float, dict[str, str]] | None = None

    def read_packed_refs(self) -> dict[str, str]:
        path = self.common_dir / "packed-refs"
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if self._packed_refs is not None and self._packed_refs[0] == mtime:
            return self._packed_refs[1]
        refs: dict[str, str] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line and line[0] not in "#^":
                sha, _, name = line.partition(" ")
                refs[name] = sha
        self._packed_refs = (mtime, refs)
        return refs

    def ref_path(self, ref: str) -> Path:
        shared = ref.startswith("refs/") and not ref.startswith(("refs/bisect/", "refs/worktree/"))
        return (self.common_dir if shared else self.git_dir) / ref

    def read(self, ref: str) -> str | None:
        """The commit a ref names (following symbolic refs); None if it does not exist."""
        for _ in range(10):
            try:
                text = self.ref_path(ref).read_text(encoding="utf-8").strip()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return self.read_packed_refs().get(ref)
            if text.startswith("ref:"):
                ref = text[4:].strip()
                continue
            return text or None
        raise GitError(f"symbolic ref loop at {ref}")

    def head(self) -> HeadInfo:
        text = (self.git_dir / "HEAD").read_text(encoding="utf-8").strip()
        if text.startswith("ref:"):
            ref = text[4:].strip()
            branch = ref.removeprefix("refs/heads/")
            return HeadInfo(self.read(ref), branch, detached=False)
        return HeadInfo(text, None, detached=True)

    def current(self, ref: str) -> str | None:
        """The value a CAS on ``ref`` compares against (HEAD only while detached)."""
        if ref != "HEAD":
            return self.read(ref)
        text = (self.git_dir / "HEAD").read_text(encoding="utf-8").strip()
        return text if not text.startswith("ref:") else "ref"

    def update(self, ref: str, new: str, old: str | None, message: str) -> bool:
        """Compare-and-swap: point ``ref`` at ``new`` only if it still names ``old``.

        Uses git's own locking protocol: whoever creates ``<ref>.lock`` first
        may write, everyone else retries. Returns False when the lock is taken
        or the ref moved, so the caller can rebuild on the new value.
        """
        if not valid_ref_name(ref):
            raise GitError(f"{ref!r} is not a valid git ref name (see `git check-ref-format`)")
        path = self.ref_path(ref)
        lock = path.with_name(path.name + ".lock")
        try:
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileNotFoundError:  # the ref's directory does not exist yet
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        renamed = False
        try:
            if self.current(ref) != old:
                return False
            os.write(fd, (new + "\n").encode())
            # Like git with its default core.fsync, neither loose objects nor refs are
            # fsynced: a commit is as durable as one `git commit` makes.
            os.close(fd)
            fd = -1
            os.replace(lock, path)
            renamed = True
        finally:
            if fd >= 0:
                os.close(fd)
            if not renamed:  # once renamed, ``<ref>.lock`` may already be another writer's
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
        if ref == "HEAD" or ref.startswith(("refs/heads/", "refs/remotes/", "refs/notes/")):
            self._append_reflogs(ref, old or ZERO, new, message)  # where git keeps reflogs
        return True

    def _append_reflogs(self, ref: str, old: str, new: str, message: str) -> None:
        line = f"{old} {new} {self._signature()}\t{message.splitlines()[0]}\n"
        logs = [self.git_dir / "logs" / "HEAD" if ref == "HEAD" else self._log_path(ref)]
        head = self.head()
        if ref != "HEAD" and not head.detached and head.ref == ref:
            logs.append(self.git_dir / "logs" / "HEAD")
        for log in logs:
            with contextlib.suppress(OSError):
                try:
                    handle = open(log, "a", encoding="utf-8")  # noqa: SIM115 - closed below
                except FileNotFoundError:
                    log.parent.mkdir(parents=True, exist_ok=True)
                    handle = open(log, "a", encoding="utf-8")  # noqa: SIM115
                with handle:
                    handle.write(line)

    def _log_path(self, ref: str) -> Path:
        base = self.ref_path(ref)
        root = self.common_dir if base.is_relative_to(self.common_dir) else self.git_dir
        return root / "logs" / ref

    def delete_own(self, ref: str) -> None:
        """Delete one of mltrack's own refs, loose or packed (``git pack-refs`` packs them)."""
        if ref in self.read_packed_refs():
            run_git(self._root, ["update-ref", "-d", ref])
            return
        with contextlib.suppress(FileNotFoundError):
            self.ref_path(ref).unlink()

    def names(self, prefix: str) -> list[str]:
        """Names of the refs under ``prefix`` (``refs/tags/x/``), loose and packed, without git."""
        names = {name for name in self.read_packed_refs() if name.startswith(prefix)}
        folder = self.ref_path(prefix)
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file() and not path.name.endswith(".lock"):
                    names.add(prefix + path.relative_to(folder).as_posix())
        return sorted(names)
