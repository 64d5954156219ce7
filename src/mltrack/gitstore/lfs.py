"""git-lfs, as ``git add`` would use it: pointer blobs in git, contents in ``.git/lfs/objects``.

A file the repository's attributes send to the ``lfs`` filter (``git lfs track``, or the
``.gitattributes`` lines mltrack writes for large artifacts) is committed as a git-lfs
pointer (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md) and its content is
stored under ``<common git dir>/lfs/objects/<oid[0:2]>/<oid[2:4]>/<oid>``, where
``git lfs push``, ``git lfs fsck`` and the clean filter of ``git status`` find it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import re
from collections.abc import Mapping
from pathlib import Path

from mltrack.exceptions import InvalidState
from mltrack.fsutil import create_file
from mltrack.gitstore.process import run_git

__all__ = [
    "LargeFiles",
    "LfsObjectMissing",
    "content_sha256",
    "missing_message",
    "parse_pointer",
    "pointer",
    "pointer_file",
]

POINTER_HEADER = b"version https://git-lfs.github.com/spec/v1\n"
_POINTER = re.compile(
    rb"^version https://git-lfs\.github\.com/spec/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n"
)
_MAX_POINTER = 1024  # git-lfs never reads a larger file as a pointer
_CHUNK = 1 << 20


class LfsObjectMissing(InvalidState):
    """A git-lfs pointer whose content this clone has not downloaded."""


def pointer(oid: str, size: int) -> bytes:
    return POINTER_HEADER + f"oid sha256:{oid}\nsize {size}\n".encode()


def parse_pointer(data: bytes) -> tuple[str, int] | None:
    """(oid, size) of a git-lfs pointer; None for any other content."""
    if len(data) > _MAX_POINTER or not data.startswith(POINTER_HEADER):
        return None
    match = _POINTER.match(data)
    return (match.group(1).decode(), int(match.group(2))) if match else None


def content_sha256(blob: bytes) -> str:
    """The sha256 of the file a blob stands for (a git-lfs pointer's oid is just that)."""
    found = parse_pointer(blob)
    return found[0] if found is not None else hashlib.sha256(blob).hexdigest()


def pointer_file(path: Path) -> tuple[str, int] | None:
    """(oid, size) when the file at ``path`` is a git-lfs pointer (its content not pulled)."""
    try:
        if path.stat().st_size > _MAX_POINTER:
            return None
        return parse_pointer(path.read_bytes())
    except OSError:
        return None


class LargeFiles:
    """The git-lfs side of one repository: which files go to LFS, and its object store."""

    def __init__(self, root: Path, common_dir: Path) -> None:
        self._root = root
        self._info_attributes = common_dir / "info" / "attributes"
        self.objects_dir = common_dir / "lfs" / "objects"
        self._tmp_dir = common_dir / "lfs" / "tmp"
        self._configured: bool | None = None
        self._warned = False
        self._oids: dict[tuple[str, int, int, int, int], tuple[str, int]] = {}

    def object_path(self, oid: str) -> Path:
        return self.objects_dir / oid[:2] / oid[2:4] / oid

    def install(self) -> None:
        """``git lfs install --local``: this clone's filters and hooks (``git push`` pushes
        the objects). A one-line error when git-lfs is missing."""
        out = run_git(self._root, ["lfs", "version"], check=False, quiet=True)
        if not out.startswith(b"git-lfs/"):
            raise InvalidState(
                "git-lfs is not installed: install it (`apt-get install git-lfs`, "
                "`brew install git-lfs`, https://git-lfs.com) and run the command again"
            )
        run_git(self._root, ["lfs", "install", "--local"])
        self._configured = None

    def configured(self) -> bool:
        """Whether this clone runs git-lfs's clean filter (``git lfs install`` was run)."""
        if self._configured is None:
            out = run_git(
                self._root, ["config", "--get", "filter.lfs.clean"], check=False, quiet=True
            )
            self._configured = bool(out.strip())
        return self._configured

    def select(self, changes: Mapping[str, bytes | Path | None]) -> set[str]:
        """The files among ``changes`` (working-tree files and directories) that git would
        send to the ``lfs`` filter. Costs a few ``stat`` calls unless some attributes file on
        the way mentions ``lfs``; then one ``git check-attr`` answers for all of them."""
        files: list[str] = []
        mentions = _mentions_lfs(self._info_attributes)
        seen: set[str] = set()
        for path, value in changes.items():
            if not isinstance(value, Path):
                continue
            parts = path.split("/")
            for depth in range(len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in seen:
                    seen.add(directory)
                    attributes = self._root / directory / ".gitattributes"
                    mentions = mentions or _mentions_lfs(attributes)
            if value.is_dir():
                for folder, _dirs, names in os.walk(value):
                    relative = Path(folder).relative_to(self._root).as_posix()
                    if ".gitattributes" in names:
                        mentions = mentions or _mentions_lfs(Path(folder) / ".gitattributes")
                    files.extend(f"{relative}/{name}" for name in names)
            elif value.is_file():
                files.append(path)
        if not mentions or not files:
            return set()
        out = run_git(
            self._root,
            ["check-attr", "-z", "--stdin", "filter"],
            input=b"\0".join(f.encode("utf-8", "surrogateescape") for f in files) + b"\0",
        )
        fields = out.split(b"\0")
        chosen = {
            fields[i].decode("utf-8", "surrogateescape")
            for i in range(0, len(fields) - 2, 3)
            if fields[i + 2] == b"lfs"
        }
        chosen = {f for f in chosen if (self._root / f).stat().st_size > 0}  # as git-lfs
        if chosen and not self.configured():
            if not self._warned:
                self._warned = True
                logging.getLogger("mltrack").warning(
                    "%s is marked filter=lfs but git-lfs is not set up in this clone: "
                    "committing it as a plain git file. Run `git lfs install` to store such "
                    "files with git-lfs.",
                    sorted(chosen)[0],
                )
            return set()
        return chosen

    def store(self, path: Path) -> bytes:
        """Put the file's content in the LFS object store; returns its pointer."""
        st = path.stat()
        stamp = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        known = self._oids.get(stamp)
        if known is not None and self.object_path(known[0]).is_file():
            return pointer(*known)
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp_dir / f"mltrack-{os.getpid()}-{random.getrandbits(48):012x}"
        digest = hashlib.sha256()
        size = 0
        try:
            with open(path, "rb") as source, create_file(tmp) as target:
                for chunk in iter(lambda: source.read(_CHUNK), b""):
                    digest.update(chunk)
                    target.write(chunk)
                    size += len(chunk)
            oid = digest.hexdigest()
            destination = self.object_path(oid)
            if not destination.is_file():
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, destination)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._oids[stamp] = (oid, size)
        return pointer(oid, size)

    def smudge(self, data: bytes, where: str) -> bytes:
        """The content a blob stands for: the blob itself, or the LFS object it points to."""
        found = parse_pointer(data)
        if found is None:
            return data
        try:
            return self.object_path(found[0]).read_bytes()
        except FileNotFoundError:
            raise LfsObjectMissing(missing_message([where])) from None


def missing_message(paths: list[str]) -> str:
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    return (
        f"{paths[0]}{more} is stored with git-lfs and its content is not in this clone: "
        "run `git lfs pull` (or `git lfs fetch --all` for files not on your branch) and retry"
    )


def _mentions_lfs(path: Path) -> bool:
    try:
        return b"lfs" in path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return False
