"""The working tree around the repository: what is tracked or changed, temporary checkouts,
remotes and local configuration."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from mltrack.gitstore.objects import MLTRACK_DIR
from mltrack.gitstore.process import Pending, PendingGit, run_git
from mltrack.gitstore.refs import Refs

__all__ = ["WorkingTree"]


class WorkingTree:
    """Queries about one working tree that git answers (never taking the index lock)."""

    def __init__(self, root: Path, common_dir: Path, refs: Refs) -> None:
        self._root = root
        self._common_dir = common_dir
        self._refs = refs

    def tracked_files(self, exclude: str = MLTRACK_DIR) -> list[str]:
        """Every file in the user's index outside ``exclude``."""
        return self.start_tracked_files(exclude).result()

    def start_tracked_files(self, exclude: str = MLTRACK_DIR) -> Pending[list[str]]:
        """``tracked_files`` running in the background."""
        if self._refs.head().commit is None:
            return Pending(None, lambda out: [], [])
        call = PendingGit(self._root, ["ls-files", "-z", "--", ".", f":(exclude){exclude}"])
        return Pending(
            call, lambda out: [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]
        )

    def changed_since(self, paths: Iterable[str], since_ns: int) -> bool:
        """Whether any working-tree file of ``paths`` is gone or changed at or after ``since_ns``.

        The inode change time moves on every write, chmod, rename or replacement
        and, unlike the modification time, cannot be set back by a program.
        """
        root = str(self._root)
        for path in paths:
            try:
                if os.lstat(f"{root}/{path}").st_ctime_ns >= since_ns:
                    return True
            except OSError:
                return True
        return False

    def is_dirty(self, exclude: str = MLTRACK_DIR) -> bool:
        """Whether tracked files outside ``exclude`` differ from HEAD (untracked files ignored)."""
        return self.start_dirty_check(exclude).result()

    def start_dirty_check(self, exclude: str = MLTRACK_DIR) -> Pending[bool]:
        """``is_dirty`` running in the background."""
        if self._refs.head().commit is None:
            return Pending(None, lambda out: False, False)
        args = ["--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=no"]
        call = PendingGit(self._root, [*args, "--", ".", f":(exclude){exclude}"])
        return Pending(call, lambda out: bool(out.strip(b"\0")))

    def changed_paths(self, prefix: str) -> list[str]:
        """Files under ``prefix`` that differ from HEAD: modified, deleted or untracked."""
        out = run_git(
            self._root,
            [
                "--no-optional-locks",
                "status",
                "--porcelain=v1",
                "-z",
                "--untracked-files=all",
                "--no-renames",
                "--",
                prefix,
            ],
        )
        return [
            record[3:].decode("utf-8", "surrogateescape")
            for record in out.split(b"\0")
            if len(record) > 3
        ]

    def diff_head(self, exclude: str = MLTRACK_DIR) -> str:
        """``git diff HEAD`` of tracked files outside ``exclude``.

        A complete patch (``--binary``, no colour, no external diff tool) so that
        ``git apply`` on the same commit reproduces the working tree.
        """
        if self._refs.head().commit is None:
            return ""
        return run_git(
            self._root,
            [
                "diff",
                "HEAD",
                "--binary",
                "--no-color",
                "--no-ext-diff",
                "--",
                ".",
                f":(exclude){exclude}",
            ],
        ).decode("utf-8", "replace")

    def remote_url(self, name: str = "origin") -> str | None:
        """The URL of remote ``name``; None when the repository has no such remote."""
        out = run_git(
            self._root, ["config", "--get", f"remote.{name}.url"], check=False, quiet=True
        )
        return out.decode("utf-8", "replace").strip() or None

    @contextlib.contextmanager
    def temporary_worktree(self, commit: str) -> Iterator[Path]:
        """A detached checkout of ``commit`` in a new temporary directory, removed afterwards.

        ``git worktree add --detach``: the user's working tree, index and branches
        are untouched. The checkout and its registration under ``.git/worktrees/``
        are removed when the block ends, also after an error or an interrupt.
        """
        parent = Path(tempfile.mkdtemp(prefix="mltrack-worktree-"))
        path = parent / "checkout"
        try:
            run_git(self._root, ["worktree", "add", "--detach", "--quiet", str(path), commit])
            yield path
        finally:
            self._remove_worktree(path)
            _remove_tree(parent)

    def _remove_worktree(self, path: Path) -> None:
        if path.exists():
            run_git(
                self._root, ["worktree", "remove", "--force", "--force", str(path)], check=False
            )
        _remove_tree(path)
        run_git(self._root, ["worktree", "prune"], check=False)

    def _configured(self, section: str, driver: str, key: str) -> str | None:
        """The value of ``<section>.<driver>.<key>`` in this clone's local config, if set."""
        config = self._common_dir / "config"
        try:
            text = config.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        found = re.search(
            rf'^\[{section} "{re.escape(driver)}"\]\s*$(.*?)(?=^\[|\Z)', text, re.M | re.S
        )
        configured = (
            re.search(rf"^\s*{key}\s*=\s*(.+?)\s*$", found.group(1), re.M) if found else None
        )
        return _config_value(configured.group(1)) if configured else None

    def ensure_textconv_driver(self, driver: str, command: str) -> None:
        """Configure ``diff.<driver>.textconv`` (a shell command) in this clone's local config
        if missing or stale.

        A configured driver whose programs still exist is left alone, so clones used
        from several interpreters (a project's virtualenv, CI) don't rewrite it back and forth.
        """
        configured = self._configured("diff", driver, "textconv")
        if configured and _programs_exist(configured):
            return
        run_git(self._root, ["config", "--local", f"diff.{driver}.textconv", command])
        run_git(self._root, ["config", "--local", f"diff.{driver}.cachetextconv", "false"])

    def ensure_merge_driver(self, driver: str, name: str, command: list[str]) -> None:
        """Configure ``merge.<driver>`` (git passes ``%O %A %B %P``) if missing or stale."""
        configured = self._configured("merge", driver, "driver")
        if configured and _programs_exist(configured):
            return
        line = shlex.join(command) + " %O %A %B %P"
        run_git(self._root, ["config", "--local", f"merge.{driver}.name", name])
        run_git(self._root, ["config", "--local", f"merge.{driver}.driver", line])


def _config_value(raw: str) -> str:
    """A value as git reads it from its config file: git quotes a value holding ``;`` or
    ``#`` (a shell function does) and escapes quotes, backslashes, tabs and newlines."""
    if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
        raw = raw[1:-1]
    escapes = {"n": "\n", "t": "\t", "b": "\b"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), raw)


def _programs_exist(command: str) -> bool:
    """Whether the configured command's interpreter paths (its absolute paths) all exist."""
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    paths = [word for word in words if word.startswith("/")]
    if not words or not paths:
        return bool(words) and shutil.which(words[0]) is not None
    return all(Path(path).exists() for path in paths)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
