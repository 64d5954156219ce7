"""The only module that talks to git.

Commits are built directly from git objects: new blobs and trees are written
into the object database and spliced into the parent commit's tree, so only the
paths mltrack changes are touched (cost grows with the changed paths, not with
the repository). No index is involved in building a commit: the user's staged
changes stay exactly as they were. The branch (or a detached HEAD) is advanced
with a compare-and-swap ref update under git's own ``<ref>.lock`` protocol and
the whole commit is rebuilt on the new parent if another process won the race.
Afterwards the user's index gets the committed ``.mltrack/`` entries (and only
those) through ``git update-index``, which takes git's index lock, so
``git status`` shows nothing under ``.mltrack/`` and the user's own changes
exactly as before.

Reading: any path at any revision, tree listings, history with trailers, tags.
Loose objects are read in-process; packed ones through one long-lived
``git cat-file --batch`` process.
"""

from __future__ import annotations

import bisect
import contextlib
import getpass
import os
import random
import re
import shlex
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from hashlib import sha1
from pathlib import Path
from typing import IO, Generic, TypeVar, cast

from mltrack.exceptions import GitError, NotAGitRepository
from mltrack.fsutil import create_file

__all__ = [
    "MLTRACK_DIR",
    "CommitInfo",
    "GitStore",
    "HeadInfo",
    "Identity",
    "Pending",
    "PendingGit",
    "TagInfo",
    "TreeEntry",
]

MLTRACK_DIR = ".mltrack"
_ZERO = "0" * 40
_DIR_MODE = b"40000"
_FILE_MODE = b"100644"
_EXEC_MODE = b"100755"
_LINK_MODE = b"120000"
_LARGE_TREE = 256  # entries from which a tree's layout is kept for the next commit
_TREE_CACHE_ENTRIES = 200_000  # parsed tree entries kept in memory, over all cached trees
_TAGS_READ_ONE_BY_ONE = 32  # more unread tags than this: one for-each-ref reads them all
_LARGE_FILE = 32 * 1024 * 1024  # hashed by `git hash-object` instead of in memory
_CAS_ATTEMPTS = 200
_LOCK_WAIT_SECONDS = 5.0
_GC_EVERY = 100  # commits between `git gc --auto` calls, as `git commit` would make them
_RACY_NS = 1_000_000_000  # stat data of a file changed this recently may not show the next change
_SIGNATURE = re.compile(r"^(.*) <(.*)> (\d+) [-+]\d{4}$")
_TRAILER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*): (.*)$")
T = TypeVar("T")
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^/|/$|\.$|(?:^|/)\.|\.lock(?:/|$)")


def valid_ref_name(ref: str) -> bool:
    """Whether git accepts ``ref`` as a ref name (the rules of ``git check-ref-format``)."""
    return ref == "HEAD" or (ref.startswith("refs/") and ref != "@" and not _BAD_REF.search(ref))


@dataclass(frozen=True)
class Identity:
    name: str
    email: str
    fallback: bool = False

    def signature(self, when: float | None = None) -> str:
        when = time.time() if when is None else when
        offset = time.localtime(when).tm_gmtoff
        sign = "+" if offset >= 0 else "-"
        hours, minutes = divmod(abs(offset) // 60, 60)
        return f"{self.name} <{self.email}> {int(when)} {sign}{hours:02d}{minutes:02d}"


@dataclass(frozen=True)
class HeadInfo:
    """What HEAD points at: a branch (possibly unborn) or a detached commit."""

    commit: str | None
    branch: str | None
    detached: bool

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}" if self.branch else "HEAD"


@dataclass(frozen=True)
class TreeEntry:
    path: str
    mode: str
    sha: str

    @property
    def is_dir(self) -> bool:
        return self.mode == "40000"


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_time: int
    committer_time: int
    subject: str
    body: str
    trailers: dict[str, list[str]] = field(default_factory=dict)

    def trailer(self, key: str) -> str | None:
        values = self.trailers.get(key.lower())
        return values[0] if values else None


@dataclass(frozen=True)
class TagInfo:
    """An annotated tag: ``sha`` is the tag object's id, ``target`` the commit it points at."""

    name: str
    target: str
    tagger_name: str
    tagger_email: str
    tagger_time: int
    message: str
    sha: str = ""


def _entry_sort_key(name: str, mode: bytes) -> bytes:
    """Git orders tree entries by name, a directory's name as if it ended in '/'."""
    encoded = name.encode("utf-8", "surrogateescape")
    return encoded + b"/" if mode == _DIR_MODE else encoded


def _git_sort_key(item: tuple[str, tuple[bytes, bytes]]) -> bytes:
    name, (mode, _) = item
    return _entry_sort_key(name, mode)


def _tree_entry_bytes(name: str, mode: bytes, sha: bytes) -> bytes:
    return mode + b" " + name.encode("utf-8", "surrogateescape") + b"\0" + sha


@dataclass
class _TreeLayout:
    """A written tree's entries in git order: sort keys and serialized entries, side by side.

    Kept for large trees (an experiment's ``runs/`` directory) so that the next commit, which
    changes one or two entries, edits these lists instead of sorting and serializing every
    entry again: O(changes · log n) work plus one join, instead of O(n log n) in Python.
    """

    keys: list[bytes]
    chunks: list[bytes]


def parse_trailers(message: str) -> dict[str, list[str]]:
    """Trailers of a commit message's last paragraph, keys lower-cased."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return {}
    found: dict[str, list[str]] = {}
    for line in paragraphs[-1].splitlines():
        match = _TRAILER.match(line.strip())
        if not match:
            return {}
        found.setdefault(match.group(1).lower(), []).append(match.group(2).strip())
    return found


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Close a cat-file process's pipes and reap it (also when its owner is garbage-collected)."""
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


class _CatFile:
    """One long-lived ``git cat-file --batch`` process for packed objects."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        self._lock = threading.Lock()

    def read(self, sha: str) -> tuple[str, bytes] | None:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    ["git", "cat-file", "--batch"],
                    cwd=self._root,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
                # A store dropped without close() still reaps its process.
                self._finalizer = weakref.finalize(self, _stop_process, self._proc)
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(sha.encode() + b"\n")
            self._proc.stdin.flush()
            header = self._proc.stdout.readline().split()
            if len(header) < 3:
                return None  # "<sha> missing"
            size = int(header[2])
            data = self._proc.stdout.read(size)
            self._proc.stdout.read(1)
            return header[1].decode(), data

    def close(self) -> None:
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()  # runs _stop_process once
                self._finalizer = None
            self._proc = None


class GitStore:
    """A git working tree (main or linked), read and written on mltrack's terms."""

    def __init__(self, root: Path, git_dir: Path, common_dir: Path) -> None:
        self.root = root
        self.git_dir = git_dir
        self.common_dir = common_dir
        self.objects_dir = common_dir / "objects"
        self.private_dir = git_dir / "mltrack"
        self._cat = _CatFile(root)
        self._trees: OrderedDict[bytes, dict[str, tuple[bytes, bytes]]] = OrderedDict()
        self._tree_entries = 0  # entries held by self._trees
        self._layouts: OrderedDict[bytes, _TreeLayout] = OrderedDict()
        self._commit_trees: dict[str, bytes] = {}
        self._own_index_stamp: tuple[int, int, int] | None = None
        self._pack: dict[str, tuple[str, bytes]] | None = None
        self._commits_since_gc = 0
        self._blob_stamps: dict[tuple[str, int, int, int, int], str] = {}
        self._tag_objects: dict[str, TagInfo] = {}
        self._identities: dict[str, Identity] = {}
        self._identity_lock = threading.Lock()
        self._identity_lookup: PendingGit | None = None
        self._packed_refs: tuple[float, dict[str, str]] | None = None
        self._lock = threading.RLock()

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
            return cls(candidate, git_dir, common)
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
        out = _run_git(candidate, ["rev-parse", "--is-bare-repository"], check=False, quiet=True)
        if out.strip() != b"true":
            return None
        return cls(candidate, candidate, candidate)

    @staticmethod
    def init_repository(path: Path) -> None:
        """``git init`` a new repository at ``path``."""
        _run_git(path, ["init", "-q"])

    def close(self) -> None:
        self._cat.close()

    # ------------------------------------------------------------------ plumbing

    def git(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        """Run one git command in the working tree and return its stdout."""
        return _run_git(self.root, list(args), input=input, check=check)

    def identity(self, role: str = "committer") -> Identity:
        """Who commits (``role="author"``: who authored): git's identity, else ``login <login@hostname>``.

        As git does, ``GIT_AUTHOR_*`` and ``GIT_COMMITTER_*`` (then user.name /
        user.email) decide each role separately. Without an identity, git
        itself refuses to commit; mltrack falls back to the same guess git's
        auto-detection would make, so training never fails at the end of a long
        run for want of an email address.
        """
        cached = self._identities.get(role)
        if cached is not None:
            return cached
        with self._identity_lock:  # a run's prefetch thread may be asking at the same time
            if not self._identities:
                self._identities.update(self._configured_identities())
            if role not in self._identities:
                self._identities[role] = self._strict_identity(role)
            return self._identities[role]

    def prefetch_identity(self) -> None:
        """Start looking up the commit identity now; ``identity`` collects the answer."""
        with self._identity_lock:
            if not self._identities and self._identity_lookup is None:
                self._identity_lookup = PendingGit(self.root, ["var", "-l"])

    def _configured_identities(self) -> dict[str, Identity]:
        """Both roles from one ``git var -l``, where git would accept them as configured.

        ``git var -l`` shows idents git merely guessed too (``root@host.(none)``);
        a role counts only when its email is set explicitly, as git's strict
        check requires. Other roles are left to ``_strict_identity``.
        """
        lookup, self._identity_lookup = self._identity_lookup, None
        try:
            out = lookup.output() if lookup else _run_git(self.root, ["var", "-l"])
        except GitError:
            return {}
        values: dict[str, str] = {}
        for line in out.decode("utf-8", "surrogateescape").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key] = value  # later configuration layers win, as in git
        found: dict[str, Identity] = {}
        for role, prefix in (("author", "GIT_AUTHOR"), ("committer", "GIT_COMMITTER")):
            explicit = (
                os.environ.get(f"{prefix}_EMAIL")
                or values.get(f"{role}.email")
                or values.get("user.email")
                or os.environ.get("EMAIL")
            )
            match = re.match(r"^(.*) <(.*)> \d+ [-+]\d{4}$", values.get(f"{prefix}_IDENT", ""))
            if explicit and match and match.group(1).strip() and match.group(2).strip():
                found[role] = Identity(match.group(1), match.group(2))
        return found

    def _strict_identity(self, role: str) -> Identity:
        var = "GIT_AUTHOR_IDENT" if role == "author" else "GIT_COMMITTER_IDENT"
        out = _run_git(self.root, ["var", var], check=False, quiet=True)
        match = re.match(rb"^(.*) <(.*)> \d+ [-+]\d{4}$", out.strip())
        if match and match.group(1).strip() and match.group(2).strip():
            return Identity(match.group(1).decode(), match.group(2).decode())
        try:
            login = getpass.getuser()
        except (KeyError, OSError):
            login = "mltrack"
        return Identity(login, f"{login}@{socket.gethostname()}", fallback=True)

    # ------------------------------------------------------------------ objects

    def _loose_path(self, sha: str) -> Path:
        return self.objects_dir / sha[:2] / sha[2:]

    def read_object(self, sha: str) -> tuple[str, bytes]:
        pending = self._pack.get(sha) if self._pack is not None else None
        if pending is not None:
            return pending
        path = self._loose_path(sha)
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
        path = self._loose_path(sha)
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
                    handle.write(_deflate(raw, kind))
                os.chmod(tmp, 0o444)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        return sha

    def write_blob_from_file(self, path: Path) -> str:
        """The file as a blob; unchanged files (same stat, ctime included) are not hashed again."""
        st = path.stat()
        stamp = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        cached = self._blob_stamps.get(stamp)
        if cached is not None:
            return cached
        if st.st_size >= _LARGE_FILE:
            sha = self.git("hash-object", "-w", "--no-filters", "--", str(path)).decode().strip()
        else:
            sha = self.write_object("blob", path.read_bytes())
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS:
            self._blob_stamps[stamp] = sha  # a file changed this instant could change again unseen
        return sha

    def _tree(self, sha: bytes) -> dict[str, tuple[bytes, bytes]]:
        cached = self._trees.get(sha)
        if cached is not None:
            self._trees.move_to_end(sha)
            return cached
        kind, data = self.read_object(sha.hex())
        if kind != "tree":
            raise GitError(f"git object {sha.hex()} is a {kind}, not a tree")
        entries: dict[str, tuple[bytes, bytes]] = {}
        pos, end = 0, len(data)
        while pos < end:
            space = data.index(b" ", pos)
            nul = data.index(b"\0", space)
            name = data[space + 1 : nul].decode("utf-8", "surrogateescape")
            entries[name] = (data[pos:space], data[nul + 1 : nul + 21])
            pos = nul + 21
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

    def _write_tree(
        self,
        entries: dict[str, tuple[bytes, bytes]],
        base: bytes | None = None,
        changed: Iterable[str] = (),
    ) -> bytes:
        """Write a tree of ``entries``; ``base``: the tree they were edited from, ``changed``:
        the names edited (lets a large tree be written by editing the base's layout)."""
        layout = self._edited_layout(base, entries, changed) if base is not None else None
        if layout is None:
            ordered = sorted(entries.items(), key=_git_sort_key)
            chunks = [_tree_entry_bytes(name, mode, sha) for name, (mode, sha) in ordered]
            body = b"".join(chunks)
        else:
            body = b"".join(layout.chunks)
        sha = bytes.fromhex(self.write_object("tree", body))
        self._remember_tree(sha, dict(entries))
        if len(entries) >= _LARGE_TREE:
            if layout is None:
                layout = _TreeLayout([_git_sort_key(item) for item in ordered], chunks)
            self._layouts[sha] = layout
            while len(self._layouts) > 8:
                self._layouts.popitem(last=False)
        return sha

    def _edited_layout(
        self, base: bytes, entries: dict[str, tuple[bytes, bytes]], changed: Iterable[str]
    ) -> _TreeLayout | None:
        """The layout of ``base`` with the ``changed`` names edited to match ``entries``."""
        old = self._layouts.get(base)
        base_entries = self._trees.get(base)
        if old is None or base_entries is None:
            return None
        keys, chunks = list(old.keys), list(old.chunks)
        for name in changed:
            before = base_entries.get(name)
            if before is not None:
                index = bisect.bisect_left(keys, _entry_sort_key(name, before[0]))
                if index == len(keys) or keys[index] != _entry_sort_key(name, before[0]):
                    return None  # not the layout of base after all: sort from scratch
                del keys[index]
                del chunks[index]
            after = entries.get(name)
            if after is not None:
                key = _entry_sort_key(name, after[0])
                index = bisect.bisect_left(keys, key)
                keys.insert(index, key)
                chunks.insert(index, _tree_entry_bytes(name, *after))
        return _TreeLayout(keys, chunks)

    def _tree_of_directory(self, directory: Path) -> bytes | None:
        """Write every file under ``directory`` as blobs and trees; None if it holds no file."""
        entries: dict[str, tuple[bytes, bytes]] = {}
        with os.scandir(directory) as scan:
            for item in scan:
                if item.is_symlink():
                    target = os.readlink(item.path).encode("utf-8", "surrogateescape")
                    entries[item.name] = (
                        _LINK_MODE,
                        bytes.fromhex(self.write_object("blob", target)),
                    )
                elif item.is_dir():
                    sub = self._tree_of_directory(Path(item.path))
                    if sub is not None:
                        entries[item.name] = (_DIR_MODE, sub)
                elif item.is_file():
                    mode = _EXEC_MODE if os.access(item.path, os.X_OK) else _FILE_MODE
                    entries[item.name] = (
                        mode,
                        bytes.fromhex(self.write_blob_from_file(Path(item.path))),
                    )
        return self._write_tree(entries) if entries else None

    def _flatten(self, mode: bytes, sha: bytes, prefix: str) -> Iterator[tuple[str, bytes, bytes]]:
        if mode != _DIR_MODE:
            yield prefix, mode, sha
            return
        for name, (sub_mode, sub_sha) in self._tree(sha).items():
            yield from self._flatten(sub_mode, sub_sha, f"{prefix}/{name}")

    # ------------------------------------------------------------------ refs

    def _read_packed_refs(self) -> dict[str, str]:
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

    def _ref_path(self, ref: str) -> Path:
        shared = ref.startswith("refs/") and not ref.startswith(("refs/bisect/", "refs/worktree/"))
        return (self.common_dir if shared else self.git_dir) / ref

    def read_ref(self, ref: str) -> str | None:
        """The commit a ref names (following symbolic refs); None if it does not exist."""
        for _ in range(10):
            try:
                text = self._ref_path(ref).read_text(encoding="utf-8").strip()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return self._read_packed_refs().get(ref)
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
            return HeadInfo(self.read_ref(ref), branch, detached=False)
        return HeadInfo(text, None, detached=True)

    def _current(self, ref: str) -> str | None:
        """The value a CAS on ``ref`` compares against (HEAD only while detached)."""
        if ref != "HEAD":
            return self.read_ref(ref)
        text = (self.git_dir / "HEAD").read_text(encoding="utf-8").strip()
        return text if not text.startswith("ref:") else "ref"

    def update_ref(self, ref: str, new: str, old: str | None, message: str) -> bool:
        """Compare-and-swap: point ``ref`` at ``new`` only if it still names ``old``.

        Uses git's own locking protocol: whoever creates ``<ref>.lock`` first
        may write, everyone else retries. Returns False when the lock is taken
        or the ref moved, so the caller can rebuild on the new value.
        """
        if not valid_ref_name(ref):
            raise GitError(f"{ref!r} is not a valid git ref name (see `git check-ref-format`)")
        path = self._ref_path(ref)
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
            if self._current(ref) != old:
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
        if not ref.startswith("refs/tags/"):
            self._append_reflogs(ref, old or _ZERO, new, message)
        return True

    def _append_reflogs(self, ref: str, old: str, new: str, message: str) -> None:
        line = f"{old} {new} {self.identity().signature()}\t{message.splitlines()[0]}\n"
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
        base = self._ref_path(ref)
        root = self.common_dir if base.is_relative_to(self.common_dir) else self.git_dir
        return root / "logs" / ref

    # ------------------------------------------------------------------ commits

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
        ``author`` records someone else as the author (a team server's
        authenticated user); the committer stays this repository's identity.
        """
        for path in changes:
            parts = path.split("/")
            if parts[0] != MLTRACK_DIR or any(
                part in ("", ".", "..") or part.lower() == ".git" for part in parts[1:]
            ):
                raise GitError(f"mltrack only commits paths under {MLTRACK_DIR}/, not {path!r}")
        head = self.head()
        target = ref or head.ref
        if update_index is None:
            update_index = target == head.ref
        with self._lock:
            self._pack = {}
            try:
                return self._commit_locked(
                    changes, message, target, create_from, update_index, author
                )
            finally:
                self._pack = None

    def _commit_locked(
        self,
        changes: Mapping[str, bytes | Path | None],
        message: str,
        target: str,
        create_from: str | None,
        update_index: bool,
        author: Identity | None,
    ) -> str | None:
        prepared = {path: self._prepare(value) for path, value in changes.items()}
        author, committer = author or self.identity("author"), self.identity()
        for attempt in range(_CAS_ATTEMPTS):
            parent = self._current(target)
            if parent == "ref":
                raise GitError("HEAD was switched to a branch while mltrack was committing; retry")
            if create_from is not None:
                if parent is not None:
                    raise GitError(f"{target} already exists")
                parent = create_from
            base_tree = self._commit_tree(parent) if parent else None
            new_tree = self._splice(base_tree, _nest(prepared)) or self._write_tree({})
            if parent is not None and new_tree == base_tree and create_from is None:
                return parent
            now = time.time()
            lines = [f"tree {new_tree.hex()}"]
            if parent:
                lines.append(f"parent {parent}")
            lines += [
                f"author {author.signature(now)}",
                f"committer {committer.signature(now)}",
            ]
            body = "\n".join(lines) + "\n\n" + message.rstrip("\n") + "\n"
            sha = self.write_object("commit", body.encode("utf-8"))
            self._commit_trees[sha] = new_tree
            self._flush_pack()
            expected = None if create_from is not None else parent
            if self.update_ref(target, sha, expected, "mltrack: " + message.splitlines()[0]):
                self._maybe_gc()
                if target == "HEAD":
                    self._keep_detached_alive(sha, parent)
                if update_index:
                    self._update_user_index(base_tree, prepared)
                return sha
            time.sleep(min(0.001 * (attempt + 1), 0.05) * random.random())
        lock = self._ref_path(target).with_name(self._ref_path(target).name + ".lock")
        if lock.exists():
            raise GitError(
                f"could not update {target}: {lock} exists. Another git process seems to be "
                "running; if none is (one was killed mid-update), delete that file and retry."
            )
        raise GitError(f"could not update {target}: it kept moving ({_CAS_ATTEMPTS} attempts)")

    def _flush_pack(self) -> None:
        """Write the objects collected for this commit as one pack (before any ref names them)."""
        if not self._pack:
            return
        objects, self._pack = self._pack, {}
        pack_dir = self.objects_dir / "pack"
        data, index, name = _build_pack(objects)
        for suffix, content in ((".pack", data), (".idx", index)):  # git finds a pack by its .idx
            final = pack_dir / f"pack-{name}{suffix}"
            tmp = pack_dir / f"tmp_mltrack_{os.getpid()}_{threading.get_ident()}{suffix}"
            try:
                with create_file(tmp) as handle:
                    handle.write(content)
                os.chmod(tmp, 0o444)
                os.replace(tmp, final)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    def _maybe_gc(self) -> None:
        """Like `git commit`, let `git gc --auto` consolidate packs now and then (it detaches)."""
        self._commits_since_gc += 1
        if self._commits_since_gc >= _GC_EVERY:
            self._commits_since_gc = 0
            with contextlib.suppress(GitError, OSError):
                _run_git(self.root, ["gc", "--auto", "--quiet"], check=False)

    def _keep_detached_alive(self, commit: str, parent: str | None) -> None:
        """A ref keeps commits made on a detached HEAD reachable after the user checks out a branch.

        One ref per line of work (``refs/mltrack/detached/<tip>``): it moves with each commit.
        """
        self.update_ref(
            f"refs/mltrack/detached/{commit}", commit, None, "mltrack: keep detached runs"
        )
        if parent is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.common_dir / "refs" / "mltrack" / "detached" / parent).unlink()

    def _prepare(self, value: bytes | Path | None) -> tuple[bytes, bytes] | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            return _FILE_MODE, bytes.fromhex(self.write_object("blob", value))
        if value.is_dir():
            tree = self._tree_of_directory(value)
            return None if tree is None else (_DIR_MODE, tree)
        if value.is_file():
            mode = _EXEC_MODE if os.access(value, os.X_OK) else _FILE_MODE
            return mode, bytes.fromhex(self.write_blob_from_file(value))
        return None

    def _commit_tree(self, commit: str) -> bytes:
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

    def _splice(self, tree: bytes | None, changes: dict[str, object]) -> bytes | None:
        entries = dict(self._tree(tree)) if tree else {}
        for name, change in changes.items():
            if isinstance(change, dict):
                old = entries.get(name)
                old_tree = old[1] if old is not None and old[0] == _DIR_MODE else None
                new = self._splice(old_tree, change)
                if new is None:
                    entries.pop(name, None)
                else:
                    entries[name] = (_DIR_MODE, new)
            elif change is None:
                entries.pop(name, None)
            else:
                assert isinstance(change, tuple)
                entries[name] = change
        return self._write_tree(entries, tree, changes) if entries else None

    def _update_user_index(
        self, base_tree: bytes | None, prepared: Mapping[str, tuple[bytes, bytes] | None]
    ) -> None:
        changed: set[str] = set()
        for path, new in prepared.items():
            old = self._entry_at(base_tree, path)
            old_files = {p: (m, s) for p, m, s in self._flatten(*old, path)} if old else {}
            new_files = {p: (m, s) for p, m, s in self._flatten(*new, path)} if new else {}
            changed |= {
                p
                for p in old_files.keys() | new_files.keys()
                if old_files.get(p) != new_files.get(p)
            }
        if changed:
            self.sync_index(changed)

    @property
    def _pending_index_file(self) -> Path:
        return self.private_dir / "index-pending"

    def sync_index(
        self, paths: Iterable[str], wait: float | None = None, *, defer: bool = True
    ) -> bool:
        """Make the user's index entries for ``paths`` match HEAD (and touch no other entry).

        Entries come from HEAD's tree at the moment of the update, so concurrent
        committers never stage an older blob. When another git command holds the
        index lock longer than ``wait`` seconds (``git commit`` with its editor
        open), the paths are remembered and synced by a background retry and by
        the next mltrack command; the commit itself is never undone or failed.
        """
        paths = set(paths) | self._read_pending()
        if not paths:
            return True
        deadline = time.monotonic() + (_LOCK_WAIT_SECONDS if wait is None else wait)
        while True:
            head = self.head().commit
            tree = self._commit_tree(head) if head else None
            lines = []
            for path in sorted(paths):
                entry = self._entry_at(tree, path)
                encoded = path.encode("utf-8", "surrogateescape")
                if entry is None or entry[0] == _DIR_MODE:
                    lines.append(b"0 " + _ZERO.encode() + b"\t" + encoded)
                else:
                    lines.append(entry[0] + b" " + entry[1].hex().encode() + b"\t" + encoded)
            try:
                _run_git(
                    self.root,
                    ["update-index", "-z", "--index-info"],
                    input=b"\0".join(lines) + b"\0",
                )
                self._own_index_stamp = self.index_stamp()
                self._clear_pending()
                return True
            except GitError as error:
                if "index.lock" not in str(error):
                    raise
                if time.monotonic() > deadline:
                    if defer:
                        self._defer_index_sync(paths)
                    return False
                time.sleep(0.005 + 0.02 * random.random())

    def _read_pending(self) -> set[str]:
        try:
            data = self._pending_index_file.read_bytes()
        except FileNotFoundError:
            return set()
        return {p.decode("utf-8", "surrogateescape") for p in data.split(b"\0") if p}

    def _clear_pending(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._pending_index_file.unlink()

    def _defer_index_sync(self, paths: set[str]) -> None:
        import logging

        self.private_dir.mkdir(parents=True, exist_ok=True)
        data = b"\0".join(p.encode("utf-8", "surrogateescape") for p in sorted(paths))
        tmp = self._pending_index_file.with_name(f"index-pending.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self._pending_index_file)
        logging.getLogger("mltrack").warning(
            "another git command holds %s; the run is committed, and mltrack adds its files to "
            "your index as soon as the lock is free (until then `git status` lists them as deleted)",
            self.git_dir / "index.lock",
        )
        threading.Thread(
            target=self._retry_index_sync, name="mltrack-index-sync", daemon=True
        ).start()

    def _retry_index_sync(self) -> None:
        delay = 0.5
        for _ in range(200):  # about half an hour of patience, then the next mltrack command
            time.sleep(delay)
            try:
                if self.sync_index((), wait=0, defer=False):
                    return
            except (GitError, OSError):
                return
            delay = min(delay * 1.5, 10.0)

    def sync_pending_index(self) -> None:
        """Apply index updates an earlier process had to defer (called by every command)."""
        if self._pending_index_file.exists():
            with contextlib.suppress(GitError):
                self.sync_index((), wait=1.0, defer=False)

    def _entry_at(self, tree: bytes | None, path: str) -> tuple[bytes, bytes] | None:
        entry: tuple[bytes, bytes] | None = (_DIR_MODE, tree) if tree else None
        for part in path.split("/"):
            if entry is None or entry[0] != _DIR_MODE:
                return None
            entry = self._tree(entry[1]).get(part)
        return entry

    # ------------------------------------------------------------------ reading revisions

    def rev_parse(self, rev: str) -> str:
        """The commit a revision names (branch, tag, sha, HEAD~2 …)."""
        out = _run_git(
            self.root,
            ["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
            check=False,
            quiet=True,
        )
        sha = out.decode().strip()
        if not sha:
            raise GitError(f"unknown revision {rev!r}: it names no commit in {self.root}")
        return sha

    def tree_entry(self, commit: str, path: str) -> TreeEntry | None:
        entry = self._entry_at(self._commit_tree(commit), path)
        if entry is None:
            return None
        return TreeEntry(path, entry[0].decode(), entry[1].hex())

    def read_blob(self, commit: str, path: str) -> bytes | None:
        """Content of ``path`` at ``commit``; None if absent."""
        entry = self._entry_at(self._commit_tree(commit), path)
        if entry is None or entry[0] == _DIR_MODE:
            return None
        return self.read_object(entry[1].hex())[1]

    def list_dir(self, commit: str, path: str) -> list[TreeEntry]:
        entry = self._entry_at(self._commit_tree(commit), path)
        if entry is None or entry[0] != _DIR_MODE:
            return []
        return [
            TreeEntry(f"{path}/{name}", mode.decode(), sha.hex())
            for name, (mode, sha) in sorted(self._tree(entry[1]).items())
        ]

    def list_files(self, commit: str, path: str) -> list[TreeEntry]:
        """Every file under ``path`` at ``commit`` (one ``git ls-tree -r``)."""
        out = self.git("ls-tree", "-r", "-z", "--full-tree", commit, "--", path)
        entries = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, name = record.partition(b"\t")
            mode, _, rest = meta.partition(b" ")
            entries.append(
                TreeEntry(
                    name.decode("utf-8", "surrogateescape"),
                    mode.decode(),
                    rest.split(b" ")[1].decode(),
                )
            )
        return entries

    def blob(self, sha: str) -> bytes:
        return self.read_object(sha)[1]

    def log(
        self,
        rev: str = "HEAD",
        paths: Iterable[str] = (),
        *,
        max_count: int | None = None,
        grep: str | None = None,
    ) -> list[CommitInfo]:
        """Commits reachable from ``rev`` touching ``paths``, newest first (topological order)."""
        if self.head().commit is None and rev == "HEAD":
            return []
        args = ["log", "--topo-order", "-z", "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%ct%x1f%B"]
        if max_count is not None:
            args.append(f"--max-count={max_count}")
        if grep:
            args += ["--fixed-strings", f"--grep={grep}"]
        args += [rev, "--", *paths]
        out = self.git(*args).decode("utf-8", "replace")
        commits = []
        for record in out.split("\0"):
            if not record.strip():
                continue
            sha, parents, name, email, at, ct, message = record.lstrip("\n").split("\x1f", 6)
            subject, _, body = message.partition("\n")
            commits.append(
                CommitInfo(
                    sha=sha,
                    parents=tuple(parents.split()),
                    author_name=name,
                    author_email=email,
                    author_time=int(at),
                    committer_time=int(ct),
                    subject=subject,
                    body=body.strip("\n"),
                    trailers=parse_trailers(message),
                )
            )
        return commits

    def rev_list(self, rev: str = "HEAD") -> list[str]:
        """Every commit reachable from ``rev``, newest first, in topological order."""
        return self.git("rev-list", "--topo-order", rev).decode().split()

    def tracked_files(self, exclude: str = MLTRACK_DIR) -> list[str]:
        """Every file in the user's index outside ``exclude``."""
        return self.start_tracked_files(exclude).result()

    def start_tracked_files(self, exclude: str = MLTRACK_DIR) -> Pending[list[str]]:
        """``tracked_files`` running in the background."""
        if self.head().commit is None:
            return Pending(None, lambda out: [], [])
        call = PendingGit(self.root, ["ls-files", "-z", "--", ".", f":(exclude){exclude}"])
        return Pending(
            call, lambda out: [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]
        )

    def changed_since(self, paths: Iterable[str], since_ns: int) -> bool:
        """Whether any working-tree file of ``paths`` is gone or changed at or after ``since_ns``.

        The inode change time moves on every write, chmod, rename or replacement
        and, unlike the modification time, cannot be set back by a program.
        """
        root = str(self.root)
        for path in paths:
            try:
                if os.lstat(f"{root}/{path}").st_ctime_ns >= since_ns:
                    return True
            except OSError:
                return True
        return False

    def index_changed_by_others(self, since: tuple[int, int, int] | None) -> bool:
        """Whether the user's index changed since ``since`` other than by mltrack's own updates."""
        current = self.index_stamp()
        return current != since and current != self._own_index_stamp

    def index_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.git_dir / "index")
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def is_dirty(self, exclude: str = MLTRACK_DIR) -> bool:
        """Whether tracked files outside ``exclude`` differ from HEAD (untracked files ignored)."""
        return self.start_dirty_check(exclude).result()

    def start_dirty_check(self, exclude: str = MLTRACK_DIR) -> Pending[bool]:
        """``is_dirty`` running in the background."""
        if self.head().commit is None:
            return Pending(None, lambda out: False, False)
        args = ["--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=no"]
        call = PendingGit(self.root, [*args, "--", ".", f":(exclude){exclude}"])
        return Pending(call, lambda out: bool(out.strip(b"\0")))

    def changed_paths(self, prefix: str) -> list[str]:
        """Files under ``prefix`` that differ from HEAD: modified, deleted or untracked."""
        out = self.git(
            "--no-optional-locks",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
            prefix,
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
        if self.head().commit is None:
            return ""
        return self.git(
            "diff",
            "HEAD",
            "--binary",
            "--no-color",
            "--no-ext-diff",
            "--",
            ".",
            f":(exclude){exclude}",
        ).decode("utf-8", "replace")

    # ------------------------------------------------------------------ worktrees and remotes

    def remote_url(self, name: str = "origin") -> str | None:
        """The URL of remote ``name``; None when the repository has no such remote."""
        out = _run_git(
            self.root, ["config", "--get", f"remote.{name}.url"], check=False, quiet=True
        )
        return out.decode("utf-8", "replace").strip() or None

    def branch_exists(self, name: str) -> bool:
        return self.read_ref(f"refs/heads/{name}") is not None

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
            self.git("worktree", "add", "--detach", "--quiet", str(path), commit)
            yield path
        finally:
            self._remove_worktree(path)
            _remove_tree(parent)

    def _remove_worktree(self, path: Path) -> None:
        if path.exists():
            _run_git(
                self.root, ["worktree", "remove", "--force", "--force", str(path)], check=False
            )
        _remove_tree(path)
        _run_git(self.root, ["worktree", "prune"], check=False)

    # ------------------------------------------------------------------ tags

    def create_tag(
        self, name: str, target: str, message: str, *, author: Identity | None = None
    ) -> str:
        """Create the annotated tag ``refs/tags/<name>``; fails if it exists.

        ``author``, when given, is the tagger (a tag has no separate committer).
        """
        identity = author or self.identity()
        body = (
            f"object {target}\ntype commit\ntag {name}\ntagger {identity.signature()}\n\n"
            + message.rstrip("\n")
            + "\n"
        )
        sha = self.write_object("tag", body.encode("utf-8"))
        if not self.update_ref(f"refs/tags/{name}", sha, None, f"tag {name}"):
            raise GitError(f"tag {name} already exists")
        return sha

    def read_tag(self, name: str) -> TagInfo | None:
        """The annotated tag ``refs/tags/<name>``, read without starting git; None if absent."""
        sha = self.read_ref(f"refs/tags/{name}")
        return self._tag_object(name, sha) if sha is not None else None

    def _tag_object(self, name: str, sha: str) -> TagInfo | None:
        """Tag object ``sha`` as ``name``; None for a lightweight tag (not a tag object)."""
        cached = self._tag_objects.get(sha)  # objects never change: keyed by id, never stale
        if cached is not None and cached.name == name:
            return cached
        kind, body = self.read_object(sha)
        if kind != "tag":
            return None
        header, _, message = body.decode("utf-8", "replace").partition("\n\n")
        fields = dict(line.split(" ", 1) for line in header.splitlines() if " " in line)
        tagger = _SIGNATURE.match(fields.get("tagger", ""))
        info = TagInfo(
            name=name,
            target=fields.get("object", ""),
            tagger_name=tagger.group(1) if tagger else "",
            tagger_email=tagger.group(2) if tagger else "",
            tagger_time=int(tagger.group(3)) if tagger else 0,
            message=message,
            sha=sha,
        )
        self._tag_objects[sha] = info
        return info

    def ref_names(self, prefix: str) -> list[str]:
        """Names of the refs under ``prefix`` (``refs/tags/x/``), loose and packed, without git."""
        names = {name for name in self._read_packed_refs() if name.startswith(prefix)}
        folder = self._ref_path(prefix)
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file() and not path.name.endswith(".lock"):
                    names.add(prefix + path.relative_to(folder).as_posix())
        return sorted(names)

    def list_tags(self, prefix: str) -> list[TagInfo]:
        """Annotated tags under ``refs/tags/<prefix>``, with their messages.

        One ``for-each-ref`` names them; tag objects already read are not read again, so listing
        thousands of tags repeatedly costs little more than listing their names.
        """
        pattern = f"refs/tags/{prefix}"
        out = self.git("for-each-ref", "--format=%(objectname) %(refname)", pattern)
        refs = [line.partition(" ")[::2] for line in out.decode("utf-8", "replace").splitlines()]
        if sum(sha not in self._tag_objects for sha, _ in refs) > _TAGS_READ_ONE_BY_ONE:
            self._read_tags_at_once(pattern)
        tags = []
        for sha, ref in refs:
            info = self._tag_object(ref.removeprefix("refs/tags/"), sha)
            if info is not None:
                tags.append(info)
        return tags

    def _read_tags_at_once(self, pattern: str) -> None:
        """Read every tag object under ``pattern`` with one ``for-each-ref`` into the cache."""
        fmt = "%(objecttype)%1f%(objectname)%1f%(refname)%1f%(*objectname)%1f%(taggername)%1f%(taggeremail)%1f%(taggerdate:unix)%1f%(contents)%1e"
        out = self.git("for-each-ref", f"--format={fmt}", pattern).decode("utf-8", "replace")
        for record in out.split("\x1e"):
            record = record.lstrip("\n")
            if not record:
                continue
            kind, sha, ref, target, tagger, email, when, message = record.split("\x1f", 7)
            if kind == "tag":
                self._tag_objects[sha] = TagInfo(
                    name=ref.removeprefix("refs/tags/"),
                    target=target,
                    tagger_name=tagger,
                    tagger_email=email.strip("<>"),
                    tagger_time=int(when or 0),
                    message=message,
                    sha=sha,
                )

    def delete_ref(self, ref: str) -> None:
        self.git("update-ref", "-d", ref)

    # ------------------------------------------------------------------ configuration

    def ensure_textconv_driver(self, driver: str, command: list[str]) -> None:
        """Configure ``diff.<driver>.textconv`` in this clone's local config if missing or stale.

        A configured driver whose program still exists is left alone, so clones used
        from several interpreters (a project's virtualenv, CI) don't rewrite it back and forth.
        """
        config = self.common_dir / "config"
        try:
            text = config.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        section = re.search(
            rf'^\[diff "{re.escape(driver)}"\]\s*$(.*?)(?=^\[|\Z)', text, re.M | re.S
        )
        if section:
            configured = re.search(r"^\s*textconv\s*=\s*(.+?)\s*$", section.group(1), re.M)
            if configured:
                try:
                    program = shlex.split(configured.group(1))[0]
                except (ValueError, IndexError):
                    program = ""
                if program and (shutil.which(program) or Path(program).exists()):
                    return
        self.git("config", "--local", f"diff.{driver}.textconv", shlex.join(command))
        self.git("config", "--local", f"diff.{driver}.cachetextconv", "false")


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


_PACK_TYPES = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}
_SAMPLE = 32 * 1024


def _deflate(data: bytes, kind: str = "blob") -> bytes:
    """``data`` as a zlib stream for git: level 1, or stored (level 0) when samples from its start
    and middle do not compress, as with images, Parquet or zipped models: deflating 10 MB of
    such bytes takes ~0.35 s and saves nothing. Git reads either stream alike.

    Large trees are stored too: a tree is mostly binary object ids (an experiment's runs/ tree
    of 10,000 entries deflates to 76% in 13 ms, on every commit), and ``git gc`` turns the
    trees of successive commits into small deltas anyway."""
    if kind == "tree" and len(data) > 2 * _SAMPLE:
        return zlib.compress(data, 0)
    if len(data) > 8 * _SAMPLE:
        middle = len(data) // 2
        sample = data[:_SAMPLE] + data[middle : middle + _SAMPLE]
        if len(zlib.compress(sample, 1)) > 0.95 * len(sample):
            return zlib.compress(data, 0)
    return zlib.compress(data, 1)


def _build_pack(objects: Mapping[str, tuple[str, bytes]]) -> tuple[bytes, bytes, str]:
    """A version-2 pack of whole (undeltified) objects, its version-2 index and its name."""
    pack = bytearray(b"PACK" + struct.pack(">II", 2, len(objects)))
    offsets: dict[bytes, int] = {}
    crcs: dict[bytes, int] = {}
    for sha, (kind, data) in objects.items():
        size = len(data)
        byte = (_PACK_TYPES[kind] << 4) | (size & 0x0F)
        size >>= 4
        header = bytearray()
        while size:
            header.append(byte | 0x80)
            byte = size & 0x7F
            size >>= 7
        header.append(byte)
        entry = bytes(header) + _deflate(data, kind)
        key = bytes.fromhex(sha)
        offsets[key] = len(pack)
        crcs[key] = zlib.crc32(entry)
        pack += entry
    pack_sha = sha1(pack).digest()
    pack += pack_sha
    names = sorted(offsets)
    fanout = [0] * 256
    for key in names:
        fanout[key[0]] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    large = [offsets[key] for key in names if offsets[key] >= 0x80000000]
    small: list[int] = []
    for key in names:
        offset = offsets[key]
        small.append(offset if offset < 0x80000000 else 0x80000000 | large.index(offset))
    index = bytearray(b"\xfftOc" + struct.pack(">I", 2))
    index += struct.pack(">256I", *fanout)
    index += b"".join(names)
    index += struct.pack(f">{len(names)}I", *(crcs[key] for key in names))
    index += struct.pack(f">{len(names)}I", *small)
    index += struct.pack(f">{len(large)}Q", *large)
    index += pack_sha
    index += sha1(index).digest()
    return bytes(pack), bytes(index), pack_sha.hex()


def _nest(prepared: Mapping[str, tuple[bytes, bytes] | None]) -> dict[str, object]:
    root: dict[str, object] = {}
    for path, value in prepared.items():
        node = root
        parts = path.split("/")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return root


def _git_env() -> dict[str, str]:
    return dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")


def _failure(args: list[str], stderr: bytes, returncode: int) -> GitError:
    message = stderr.decode("utf-8", "replace").strip().splitlines()
    first = next((line for line in message if line.strip()), f"exit status {returncode}")
    return GitError(f"git {args[0]} failed: {first.removeprefix('fatal: ')}")


_NO_GIT = "git is not installed or not on PATH; mltrack needs git >= 2.25"


def _run_git(
    cwd: Path,
    args: list[str],
    *,
    input: bytes | None = None,
    check: bool = True,
    quiet: bool = False,
) -> bytes:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, input=input, capture_output=True, env=_git_env(), check=False
        )
    except FileNotFoundError:
        raise GitError(_NO_GIT) from None
    if proc.returncode != 0:
        if check:
            raise _failure(args, proc.stderr, proc.returncode)
        return b"" if quiet else proc.stdout
    return proc.stdout


class PendingGit:
    """A git command started now and collected later, with no thread in between.

    Started from the caller's thread, git runs on another core while Python goes
    on; ``output()`` waits for it. stdout goes to a temporary file, not a pipe,
    so a long listing never stalls git until someone reads it.
    """

    def __init__(self, cwd: Path, args: list[str]) -> None:
        self._args = args
        self._stdout = tempfile.TemporaryFile()  # noqa: SIM115 - closed by output()
        try:
            self._proc = subprocess.Popen(
                ["git", *args],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=self._stdout,
                stderr=subprocess.PIPE,
                env=_git_env(),
            )
        except FileNotFoundError:
            self._stdout.close()
            raise GitError(_NO_GIT) from None
        # A run that never ends never asks for its answer: stop git and free the file then.
        self._release = weakref.finalize(self, PendingGit._stop, self._proc, self._stdout)
        self._release.atexit = False  # runs still ending at exit collect their answers then

    def output(self) -> bytes:
        """git's stdout once it has exited (GitError if it failed)."""
        _, stderr = self._proc.communicate()
        self._stdout.seek(0)
        out = self._stdout.read()
        self._release()
        if self._proc.returncode != 0:
            raise _failure(self._args, stderr, self._proc.returncode)
        return out

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes], stdout: IO[bytes]) -> None:
        if proc.poll() is None:
            proc.kill()  # every command started this way only reads
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        stdout.close()


class Pending(Generic[T]):
    """The parsed answer of a ``PendingGit`` (or a value known without asking git)."""

    def __init__(
        self, call: PendingGit | None, parse: Callable[[bytes], T], known: T | None = None
    ) -> None:
        self._call, self._parse, self._known = call, parse, known

    def result(self) -> T:
        if self._call is None:
            return cast(T, self._known)
        return self._parse(self._call.output())
