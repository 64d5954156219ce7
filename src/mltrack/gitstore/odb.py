"""The object database: objects read and written in-process, trees edited along changed paths.

Loose objects are read directly; packed ones through one ``git cat-file --batch``. Inside
``packing()`` (a commit) new objects are collected and written as one pack per
``flush_pack``. Trees are cached parsed, and large ones keep their sorted layout so that the
next commit edits it instead of sorting 10,000 entries again.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import random
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from hashlib import sha1
from pathlib import Path

from mltrack.exceptions import GitError
from mltrack.fsutil import create_file
from mltrack.gitstore.objects import (
    DIR_MODE,
    EXEC_MODE,
    FILE_MODE,
    LINK_MODE,
    Entries,
    deflate,
    entry_sort_key,
    git_sort_key,
    parse_tree,
    tree_entry_bytes,
)
from mltrack.gitstore.pack import build_pack
from mltrack.gitstore.process import CatFile, run_git, test_crash

__all__ = ["ObjectDatabase"]

_LARGE_TREE = 256  # entries from which a tree's layout is kept for the next commit
_TREE_CACHE_ENTRIES = 200_000  # parsed tree entries kept in memory, over all cached trees
_LARGE_FILE = 32 * 1024 * 1024  # hashed by `git hash-object` instead of in memory
_RACY_NS = 1_000_000_000  # stat data of a file changed this recently may not show the next change

Entry = tuple[bytes, bytes]  # (mode, 20-byte id)
# A file's git-lfs pointer when it goes to git-lfs, else None (see ``lfs.LargeFiles``).
LfsPointer = Callable[[Path], bytes | None]


@dataclass
class TreeLayout:
    """A written tree's entries in git order: sort keys and serialized entries, side by side.

    Kept for large trees (an experiment's ``runs/`` directory) so that the next commit, which
    changes one or two entries, edits these lists instead of sorting and serializing every
    entry again: O(changes · log n) work plus one join, instead of O(n log n) in Python.
    """

    keys: list[bytes]
    chunks: list[bytes]


class ObjectDatabase:
    """``.git/objects`` of one repository (shared by its worktrees)."""

    def __init__(self, root: Path, objects_dir: Path) -> None:
        self._root = root
        self.objects_dir = objects_dir
        self._cat = CatFile(root)
        self._trees: OrderedDict[bytes, Entries] = OrderedDict()
        self._tree_entries = 0  # entries held by self._trees
        self._layouts: OrderedDict[bytes, TreeLayout] = OrderedDict()
        self._commit_trees: dict[str, bytes] = {}
        self._pack: dict[str, tuple[str, bytes]] | None = None
        self._keeps: list[Path] = []  # .keep files of the packs written inside packing()
        self._blob_stamps: dict[tuple[str, int, int, int, int], str] = {}

    def close(self) -> None:
        self._cat.close()

    def loose_path(self, sha: str) -> Path:
        return self.objects_dir / sha[:2] / sha[2:]

    def blob(self, sha: str) -> bytes:
        """The content of blob ``sha``."""
        return self.read_object(sha)[1]

    def read_object(self, sha: str) -> tuple[str, bytes]:
        pending = self._pack.get(sha) if self._pack is not None else None
        if pending is not None:
            return pending
        path = self.loose_path(sha)
        try:
            raw = zlib.decompress(path.read_bytes())
        except FileNotFoundError:
            found = self._cat.read(sha)
            if found is None:
                raise GitError(f"git object {sha} is missing from {self.objects_dir}") from None
            return found
        header, _, body = raw.partition(b"\0")
        return header.split(b" ", 1)[0].decode(), body

    def write_object(self, kind: str, data: bytes) -> str:
        raw = f"{kind} {len(data)}\0".encode() + data
        sha = sha1(raw).hexdigest()
        path = self.loose_path(sha)
        if self._pack is not None:
            # Inside a commit: collected and written as one pack file (one file
            # instead of one per object; creating files is what commits cost most).
            if sha not in self._pack and not path.exists():
                self._pack[sha] = (kind, data)
            return sha
        if not path.exists():
            tmp = (
                path.parent
                / f"tmp_obj_{os.getpid()}_{threading.get_ident()}_{random.getrandbits(32)}"
            )
            try:
                with create_file(tmp) as handle:
                    handle.write(deflate(raw, kind))
                os.chmod(tmp, 0o444)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        return sha

    def write_blob_from_file(self, path: Path, lfs: LfsPointer | None = None) -> str:
        """The file as a blob (its git-lfs pointer when ``lfs`` gives one); unchanged files
        (same stat, ctime included) are not hashed again."""
        pointer = lfs(path) if lfs is not None else None
        if pointer is not None:
            return self.write_object("blob", pointer)
        st = path.stat()
        stamp = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        cached = self._blob_stamps.get(stamp)
        if cached is not None:
            return cached
        if st.st_size >= _LARGE_FILE:
            sha = (
                run_git(self._root, ["hash-object", "-w", "--no-filters", "--", str(path)])
                .decode()
                .strip()
            )
        else:
            sha = self.write_object("blob", path.read_bytes())
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS:
            self._blob_stamps[stamp] = sha  # a file changed this instant could change again unseen
        return sha

    def tree(self, sha: bytes) -> dict[str, tuple[bytes, bytes]]:
        cached = self._trees.get(sha)
        if cached is not None:
            self._trees.move_to_end(sha)
            return cached
        kind, data = self.read_object(sha.hex())
        if kind != "tree":
            raise GitError(f"git object {sha.hex()} is a {kind}, not a tree")
        entries = parse_tree(data)
        self._remember_tree(sha, entries)
        return entries

    def _remember_tree(self, sha: bytes, entries: dict[str, tuple[bytes, bytes]]) -> None:
        if sha in self._trees:
            self._trees.move_to_end(sha)
            return
        self._trees[sha] = entries
        self._tree_entries += len(entries)
        # Bounded by entries, not trees: a sweep in an experiment of 10,000 runs writes a
        # 10,000-entry runs/ tree per commit.
        while len(self._trees) > 1 and (
            len(self._trees) > 256 or self._tree_entries > _TREE_CACHE_ENTRIES
        ):
            _, evicted = self._trees.popitem(last=False)
            self._tree_entries -= len(evicted)

    def write_tree(
        self,
        entries: dict[str, tuple[bytes, bytes]],
        base: bytes | None = None,
        changed: Iterable[str] = (),
    ) -> bytes:
        """Write a tree of ``entries``; ``base``: the tree they were edited from, ``changed``:
        the names edited (lets a large tree be written by editing the base's layout)."""
        layout = self._edited_layout(base, entries, changed) if base is not None else None
        if layout is None:
            ordered = sorted(entries.items(), key=git_sort_key)
            chunks = [tree_entry_bytes(name, mode, sha) for name, (mode, sha) in ordered]
            body = b"".join(chunks)
        else:
            body = b"".join(layout.chunks)
        sha = bytes.fromhex(self.write_object("tree", body))
        self._remember_tree(sha, dict(entries))
        if len(entries) >= _LARGE_TREE:
            if layout is None:
                layout = TreeLayout([git_sort_key(item) for item in ordered], chunks)
            self._layouts[sha] = layout
            while len(self._layouts) > 8:
                self._layouts.popitem(last=False)
        return sha

    def _edited_layout(
        self, base: bytes, entries: dict[str, tuple[bytes, bytes]], changed: Iterable[str]
    ) -> TreeLayout | None:
        """The layout of ``base`` with the ``changed`` names edited to match ``entries``."""
        old = self._layouts.get(base)
        base_entries = self._trees.get(base)
        if old is None or base_entries is None:
            return None
        keys, chunks = list(old.keys), list(old.chunks)
        for name in changed:
            before = base_entries.get(name)
            if before is not None:
                index = bisect.bisect_left(keys, entry_sort_key(name, before[0]))
                if index == len(keys) or keys[index] != entry_sort_key(name, before[0]):
                    return None  # not the layout of base after all: sort from scratch
                del keys[index]
                del chunks[index]
            after = entries.get(name)
            if after is not None:
                key = entry_sort_key(name, after[0])
                index = bisect.bisect_left(keys, key)
                keys.insert(index, key)
                chunks.insert(index, tree_entry_bytes(name, *after))
        return TreeLayout(keys, chunks)

    def tree_of_directory(self, directory: Path, lfs: LfsPointer | None = None) -> bytes | None:
        """Write every file under ``directory`` as blobs and trees; None if it holds no file."""
        entries: dict[str, tuple[bytes, bytes]] = {}
        with os.scandir(directory) as scan:
            for item in scan:
                if item.is_symlink():
                    target = os.readlink(item.path).encode("utf-8", "surrogateescape")
                    entries[item.name] = (
                        LINK_MODE,
                        bytes.fromhex(self.write_object("blob", target)),
                    )
                elif item.is_dir():
                    sub = self.tree_of_directory(Path(item.path), lfs)
                    if sub is not None:
                        entries[item.name] = (DIR_MODE, sub)
                elif item.is_file():
                    mode = EXEC_MODE if os.access(item.path, os.X_OK) else FILE_MODE
                    entries[item.name] = (
                        mode,
                        bytes.fromhex(self.write_blob_from_file(Path(item.path), lfs)),
                    )
        return self.write_tree(entries) if entries else None

    def flatten(self, mode: bytes, sha: bytes, prefix: str) -> Iterator[tuple[str, bytes, bytes]]:
        if mode != DIR_MODE:
            yield prefix, mode, sha
            return
        for name, (sub_mode, sub_sha) in self.tree(sha).items():
            yield from self.flatten(sub_mode, sub_sha, f"{prefix}/{name}")

    @contextlib.contextmanager
    def packing(self) -> Iterator[None]:
        """Collect the objects written inside the block into packs (one per ``flush_pack``).

        Each new pack has a ``.keep`` file until the block ends, that is until a ref names its
        objects: a concurrent ``git gc`` must neither repack nor delete a pack whose objects
        it sees as unreachable.
        """
        self._pack, self._keeps = {}, []
        try:
            yield
        finally:
            self._pack = None
            for keep in self._keeps:
                with contextlib.suppress(FileNotFoundError):
                    keep.unlink()

    def tree_changes(
        self, old: bytes | None, new: bytes | None, prefix: str = ""
    ) -> dict[str, tuple[bytes, bytes] | None]:
        """The paths where tree ``new`` differs from ``old`` (None: deleted), as few as possible."""
        before = self.tree(old) if old else {}
        after = self.tree(new) if new else {}
        changes: dict[str, tuple[bytes, bytes] | None] = {}
        for name in before.keys() | after.keys():
            a, b = before.get(name), after.get(name)
            if a == b:
                continue
            if a is not None and b is not None and a[0] == b[0] == DIR_MODE:
                changes.update(self.tree_changes(a[1], b[1], f"{prefix}{name}/"))
            else:
                changes[f"{prefix}{name}"] = b
        return changes

    def flush_pack(self) -> None:
        """Write the objects collected for this commit as one pack (before any ref names them)."""
        if not self._pack:
            return
        objects, self._pack = self._pack, {}
        pack_dir = self.objects_dir / "pack"
        data, index, name = build_pack(objects)
        # Temporary names as git's own (tmp_pack_*, tmp_idx_*), unique per write and without
        # an extension: `git gc` deletes any lone *.idx it finds, a temporary one included.
        unique = f"{os.getpid()}_{threading.get_ident()}_{random.getrandbits(32):08x}"
        written = []
        try:
            for kind, content in (("pack", data), ("idx", index)):
                tmp = pack_dir / f"tmp_{kind}_mltrack_{unique}"
                written.append(tmp)
                with create_file(tmp) as handle:
                    handle.write(content)
                os.chmod(tmp, 0o444)
            test_crash("pack-written")
            keep = pack_dir / f"pack-{name}.keep"
            with create_file(keep) as handle:
                handle.write(b"mltrack: until a ref names these objects\n")
            self._keeps.append(keep)
            for tmp, suffix in zip(written, (".pack", ".idx"), strict=True):
                os.replace(tmp, pack_dir / f"pack-{name}{suffix}")  # git finds a pack by its .idx
        finally:
            for tmp in written:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    def prepare(
        self, value: bytes | Path | None, lfs: LfsPointer | None = None
    ) -> tuple[bytes, bytes] | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            return FILE_MODE, bytes.fromhex(self.write_object("blob", value))
        if value.is_dir():
            tree = self.tree_of_directory(value, lfs)
            return None if tree is None else (DIR_MODE, tree)
        if value.is_file():
            mode = EXEC_MODE if os.access(value, os.X_OK) else FILE_MODE
            return mode, bytes.fromhex(self.write_blob_from_file(value, lfs))
        return None

    def commit_tree(self, commit: str) -> bytes:
        tree = self._commit_trees.get(commit)  # commits are immutable: cache forever
        if tree is None:
            kind, data = self.read_object(commit)
            if kind != "commit" or not data.startswith(b"tree "):
                raise GitError(f"{commit} is not a commit")
            tree = bytes.fromhex(data[5:45].decode())
            if len(self._commit_trees) > 4096:
                self._commit_trees.clear()
            self._commit_trees[commit] = tree
        return tree

    def splice(self, tree: bytes | None, changes: dict[str, object]) -> bytes | None:
        entries = dict(self.tree(tree)) if tree else {}
        for name, change in changes.items():
            if isinstance(change, dict):
                old = entries.get(name)
                old_tree = old[1] if old is not None and old[0] == DIR_MODE else None
                new = self.splice(old_tree, change)
                if new is None:
                    entries.pop(name, None)
                else:
                    entries[name] = (DIR_MODE, new)
            elif change is None:
                entries.pop(name, None)
            else:
                assert isinstance(change, tuple)
                entries[name] = change
        return self.write_tree(entries, tree, changes) if entries else None

    def entry_at(self, tree: bytes | None, path: str) -> tuple[bytes, bytes] | None:
        entry: tuple[bytes, bytes] | None = (DIR_MODE, tree) if tree else None
        for part in path.split("/"):
            if entry is None or entry[0] != DIR_MODE:
                return None
            entry = self.tree(entry[1]).get(part)
        return entry

    def remember_commit_tree(self, commit: str, tree: bytes) -> None:
        self._commit_trees[commit] = tree
