"""The user's index, changed only under git's own ``index.lock`` and only for ``.mltrack/``.

Protocol (as ``git commit -a``, see docs/git.md "Your index, your commits"): take
``index.lock`` by creating it exclusively, stage the commit's entries, move the branch,
release. While the lock is held a note lists the entries being changed, so that the next
mltrack command repairs them if this process is killed (``repair``). The lock file names the
mltrack process holding it: other mltrack processes wait for it, and break it if that
process died.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from mltrack.fsutil import create_file
from mltrack.gitstore.objects import DIR_MODE, ZERO
from mltrack.gitstore.odb import Entry, ObjectDatabase
from mltrack.gitstore.process import run_git, test_crash

__all__ = ["UserIndex"]

_PEER_WAIT_SECONDS = 600.0  # other mltrack processes holding index.lock: waited for this long
_LOCK_OWNER = "mltrack-index-lock"  # first word of an index.lock held by mltrack
_HOST = socket.gethostname()


class UserIndex:
    """The index of one worktree (``<git dir>/index``)."""

    def __init__(self, root: Path, git_dir: Path, private_dir: Path, odb: ObjectDatabase) -> None:
        self._root = root
        self.git_dir = git_dir
        self.private_dir = private_dir
        self._odb = odb
        self._own_stamp: tuple[int, int, int] | None = None  # the index as mltrack last wrote it

    def settle_lock(self) -> bool:
        """Break an ``index.lock`` a dead mltrack process left; True if a repair is due."""
        lock = self.git_dir / "index.lock"
        if lock.exists() and _lock_owner(lock) == "dead":
            self._break_stale_lock(lock)
        return self._note.exists()

    def lock(self, wait: float) -> bool:
        """Take git's ``index.lock`` as git does (create it exclusively); False if the user's
        git still holds it after ``wait`` seconds (``git commit -a`` with its editor open).

        While mltrack holds the lock it stages the commit's ``.mltrack/`` entries and only
        then moves the branch, so the branch never names a run the index lacks: a user's
        ``git commit`` cannot commit a tree without it. The lock file says which mltrack
        process holds it; other mltrack processes wait for it (time they spend waiting for
        each other does not count against ``wait``), and a holder that died is broken.
        """
        lock = self.git_dir / "index.lock"
        mine = f"{_LOCK_OWNER} {os.getpid()} {_HOST}\n".encode()
        give_up = time.monotonic() + _PEER_WAIT_SECONDS
        held: tuple[int, int] | None = None  # the user's lock being waited for, and since when
        held_since = 0.0
        while True:
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                owner = _lock_owner(lock)
                if owner == "dead":
                    self._break_stale_lock(lock)
                    continue
                now = time.monotonic()
                if owner == "other":  # only one lock held that long counts, not many short ones
                    with contextlib.suppress(FileNotFoundError):
                        st = lock.stat()
                        if held != (st.st_ino, st.st_ctime_ns):
                            held, held_since = (st.st_ino, st.st_ctime_ns), now
                    if now - held_since > wait:
                        return False
                if now > give_up:
                    return False
                time.sleep(0.002 + 0.02 * random.random())
                continue
            try:
                os.write(fd, mine)
            finally:
                os.close(fd)
            return True

    def _break_stale_lock(self, lock: Path) -> None:
        """Remove an ``index.lock`` left by an mltrack process that died holding it."""
        self.private_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.private_dir / "index-lock-guard", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # two processes must not both break (one a new lock)
            if _lock_owner(lock) == "dead":
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
        finally:
            os.close(fd)

    def unlock(self) -> None:
        """Release the lock: the repair note goes first, the lock (which names us) last."""
        with contextlib.suppress(FileNotFoundError):
            self._note.unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.git_dir / "index.lock").unlink()

    def use_split_index(self) -> None:
        """Turn on git's split index in this clone (``core.splitIndex``): each later write of
        the index, a run's commit among them, writes only the entries changed since the shared
        part was last written, instead of every entry (at 10,000 runs, 20,000 entries)."""
        run_git(self._root, ["config", "--local", "core.splitIndex", "true"])
        run_git(self._root, ["update-index", "--split-index"])

    @property
    def _note(self) -> Path:
        return self.private_dir / "index-update"

    def stage(self, entries: Mapping[str, Entry | None]) -> None:
        """Set the user's index entries of ``entries`` (None: remove) and touch no other entry.

        The index lock is held. A note lists the paths first, so that if this process is
        killed from here until the lock is released, the next mltrack command makes those
        entries match the branch again (``repair``). git writes the new index into a
        copy (a hard link of the index: git writes a new file and renames it over the link,
        so the index itself is never touched), which then replaces the index.
        """
        if not entries:
            return
        paths = sorted(entries)
        note = b"\0".join(p.encode("utf-8", "surrogateescape") for p in paths)
        tmp_note = self._note.with_name(f"index-update.{os.getpid()}.tmp")
        with create_file(tmp_note) as handle:
            handle.write(note)
        os.replace(tmp_note, self._note)
        test_crash("index-locked")
        lines = []
        for path in paths:
            entry = entries[path]
            encoded = path.encode("utf-8", "surrogateescape")
            if entry is None:
                lines.append(b"0 " + ZERO.encode() + b"\t" + encoded)
            else:
                lines.append(entry[0] + b" " + entry[1].hex().encode() + b"\t" + encoded)
        index = self.git_dir / "index"
        copy = self.private_dir / f"index.{os.getpid()}.{threading.get_ident()}"
        with contextlib.suppress(FileNotFoundError):
            copy.unlink()
        try:
            try:
                os.link(index, copy)
            except FileNotFoundError:
                pass  # no index yet (no commit so far): git starts an empty one
            except OSError:  # a filesystem without hard links
                shutil.copyfile(index, copy)
            run_git(
                self._root,
                ["update-index", "-z", "--index-info"],
                input=b"\0".join(lines) + b"\0",
                env={"GIT_INDEX_FILE": str(copy)},
            )
            os.replace(copy, index)
        finally:
            with contextlib.suppress(FileNotFoundError):
                copy.unlink()
        self._own_stamp = self.stamp()

    def changes(
        self, base_tree: bytes | None, prepared: Mapping[str, Entry | None]
    ) -> dict[str, Entry | None]:
        """The index entries a commit of ``prepared`` on ``base_tree`` changes, file by file."""
        changed: dict[str, Entry | None] = {}
        for path, new in prepared.items():
            old = self._odb.entry_at(base_tree, path)
            old_files = {p: (m, s) for p, m, s in self._odb.flatten(*old, path)} if old else {}
            new_files = {p: (m, s) for p, m, s in self._odb.flatten(*new, path)} if new else {}
            for name in old_files.keys() | new_files.keys():
                if old_files.get(name) != new_files.get(name):
                    changed[name] = new_files.get(name)
        return changed

    def entries_at(self, commit: str | None, paths: Iterable[str]) -> dict[str, Entry | None]:
        """The file entries of ``paths`` at ``commit`` (None where it has no such file)."""
        tree = self._odb.commit_tree(commit) if commit and commit != "ref" else None
        entries: dict[str, Entry | None] = {}
        for path in paths:
            entry = self._odb.entry_at(tree, path)
            entries[path] = None if entry is None or entry[0] == DIR_MODE else entry
        return entries

    def repair(self, head: str | None) -> None:
        """Make the index entries a killed process was changing match commit ``head`` (the
        branch; the lock is held)."""
        try:
            data = self._note.read_bytes()
        except FileNotFoundError:
            return
        paths = [p.decode("utf-8", "surrogateescape") for p in data.split(b"\0") if p]
        self.stage(self.entries_at(head, paths))

    def changed_by_others(self, since: tuple[int, int, int] | None) -> bool:
        """Whether the user's index changed since ``since`` other than by mltrack's own updates."""
        current = self.stamp()
        return current != since and current != self._own_stamp

    def stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.git_dir / "index")
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)


def _lock_owner(lock: Path) -> str:
    """Who holds ``lock``: "mltrack" (a live mltrack process), "dead" (an mltrack process
    that is gone) or "other" (git, or unknown)."""
    try:
        words = lock.read_bytes()[:200].split()
    except OSError:
        return "mltrack"  # just released: try again
    if len(words) != 3 or words[0] != _LOCK_OWNER.encode() or not words[1].isdigit():
        return "other"
    if words[2].decode("utf-8", "replace") != _HOST:
        return "mltrack"  # another machine's process (a network file system): not ours to judge
    return "mltrack" if _process_alive(int(words[1])) else "dead"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process its parent has not reaped yet is a zombie: gone all the same
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
