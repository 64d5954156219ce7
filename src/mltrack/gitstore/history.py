"""Reading history: revisions, paths at a revision, ``git log`` with trailers; annotated tags."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mltrack.exceptions import GitError
from mltrack.gitstore.identity import Identities
from mltrack.gitstore.objects import (
    DIR_MODE,
    CommitInfo,
    Identity,
    TagInfo,
    TreeEntry,
    encode_tag,
    parse_tag,
    parse_trailers,
    strip_signature,
)
from mltrack.gitstore.odb import ObjectDatabase
from mltrack.gitstore.process import run_git
from mltrack.gitstore.refs import Refs
from mltrack.gitstore.signing import signed_tag

__all__ = ["History", "Tags"]

_TAGS_READ_ONE_BY_ONE = 32  # more unread tags than this: one for-each-ref reads them all


class History:
    """Commits and paths at any revision of one repository."""

    def __init__(self, root: Path, odb: ObjectDatabase, refs: Refs) -> None:
        self._root = root
        self._odb = odb
        self._refs = refs

    def rev_parse(self, rev: str) -> str:
        """The commit a revision names (branch, tag, sha, HEAD~2 …)."""
        out = run_git(
            self._root,
            ["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
            check=False,
            quiet=True,
        )
        sha = out.decode().strip()
        if not sha:
            raise GitError(f"unknown revision {rev!r}: it names no commit in {self._root}")
        return sha

    def tree_entry(self, commit: str, path: str) -> TreeEntry | None:
        entry = self._odb.entry_at(self._odb.commit_tree(commit), path)
        if entry is None:
            return None
        return TreeEntry(path, entry[0].decode(), entry[1].hex())

    def read_blob(self, commit: str, path: str) -> bytes | None:
        """Content of ``path`` at ``commit``; None if absent."""
        entry = self._odb.entry_at(self._odb.commit_tree(commit), path)
        if entry is None or entry[0] == DIR_MODE:
            return None
        return self._odb.read_object(entry[1].hex())[1]

    def list_dir(self, commit: str, path: str) -> list[TreeEntry]:
        entry = self._odb.entry_at(self._odb.commit_tree(commit), path)
        if entry is None or entry[0] != DIR_MODE:
            return []
        return [
            TreeEntry(f"{path}/{name}", mode.decode(), sha.hex())
            for name, (mode, sha) in sorted(self._odb.tree(entry[1]).items())
        ]

    def list_files(self, commit: str, path: str) -> list[TreeEntry]:
        """Every file under ``path`` at ``commit`` (one ``git ls-tree -r``)."""
        out = run_git(self._root, ["ls-tree", "-r", "-z", "--full-tree", commit, "--", path])
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
        return self._odb.read_object(sha)[1]

    def log(
        self,
        rev: str = "HEAD",
        paths: Iterable[str] = (),
        *,
        max_count: int | None = None,
        grep: str | None = None,
    ) -> list[CommitInfo]:
        """Commits reachable from ``rev`` touching ``paths``, newest first (topological order)."""
        if self._refs.head().commit is None and rev == "HEAD":
            return []
        args = ["log", "--topo-order", "-z", "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%ct%x1f%B"]
        if max_count is not None:
            args.append(f"--max-count={max_count}")
        if grep:
            args += ["--fixed-strings", f"--grep={grep}"]
        args += [rev, "--", *paths]
        out = run_git(self._root, args).decode("utf-8", "replace")
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

    def path_times(self, prefix: str, rev: str = "HEAD") -> dict[str, tuple[int, int]]:
        """path → (first, last) commit time in ms of every file under ``prefix`` (one ``git log``)."""
        if self._refs.head().commit is None and rev == "HEAD":
            return {}
        out = run_git(
            self._root, ["log", "--format=%x01%ct", "--name-only", "-z", rev, "--", prefix]
        ).decode("utf-8", "replace")
        times: dict[str, tuple[int, int]] = {}
        for record in out.split("\x01")[1:]:
            stamp, _, names = record.partition("\n")
            when = int(stamp.strip("\0\n")) * 1000
            for name in names.strip("\0\n").split("\0"):
                if name:
                    first, last = times.get(name, (when, when))
                    times[name] = (min(first, when), max(last, when))
        return times

    def added_by(self, paths: Iterable[str], rev: str = "HEAD") -> dict[str, CommitInfo]:
        """path → the oldest commit reachable from ``rev`` that added it (one ``git log``)."""
        out = run_git(
            self._root,
            [
                "log",
                "--topo-order",
                "--diff-filter=A",
                "--name-only",
                "-z",
                "--format=%x01%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%ct%x1f%s",
                rev,
                "--",
                *paths,
            ],
        ).decode("utf-8", "replace")
        found: dict[str, CommitInfo] = {}
        for record in out.split("\x01")[1:]:
            header, _, names = record.partition("\n")
            sha, parents, name, email, at, ct, subject = header.strip("\0").split("\x1f", 6)
            info = CommitInfo(
                sha=sha,
                parents=tuple(parents.split()),
                author_name=name,
                author_email=email,
                author_time=int(at),
                committer_time=int(ct),
                subject=subject,
                body="",
                trailers={},
            )
            for path in names.strip("\0\n").split("\0"):
                if path:
                    found[path] = info  # newest first: the last one seen is the oldest
        return found

    def rev_list(self, rev: str = "HEAD") -> list[str]:
        """Every commit reachable from ``rev``, newest first, in topological order."""
        return run_git(self._root, ["rev-list", "--topo-order", rev]).decode().split()


class Tags:
    """Annotated tags (``refs/tags/...``); tag objects read once, by id."""

    def __init__(self, root: Path, odb: ObjectDatabase, refs: Refs, identities: Identities) -> None:
        self._root = root
        self._odb = odb
        self._refs = refs
        self._identities = identities
        self._tag_objects: dict[str, TagInfo] = {}

    def create(
        self, name: str, target: str, message: str, *, author: Identity | None = None
    ) -> str:
        """Create the annotated tag ``refs/tags/<name>`` (tagger: ``author`` or this
        repository's identity); fails if it exists."""
        tagger = (author or self._identities.get()).signature()
        # Either setting makes `git tag -a` sign an annotated tag; a version tag is one.
        if self._identities.config_flag("tag.gpgsign") or self._identities.config_flag(
            "tag.forcesignannotated"
        ):
            signed_tag(self._root, name, target, tagger, message)
            sha = self._refs.read(f"refs/tags/{name}")
            if sha is None:
                raise GitError(f"git tag did not create refs/tags/{name}")
            return sha
        sha = self._odb.write_object("tag", encode_tag(target, name, tagger, message))
        if not self._refs.update(f"refs/tags/{name}", sha, None, f"tag {name}"):
            raise GitError(f"tag {name} already exists")
        return sha

    def read(self, name: str) -> TagInfo | None:
        """The annotated tag ``refs/tags/<name>``, read without starting git; None if absent."""
        sha = self._refs.read(f"refs/tags/{name}")
        return self.tag_object(name, sha) if sha is not None else None

    def tag_object(self, name: str, sha: str) -> TagInfo | None:
        """Tag object ``sha`` as ``name``; None for a lightweight tag (not a tag object)."""
        cached = self._tag_objects.get(sha)  # objects never change: keyed by id, never stale
        if cached is not None and cached.name == name:
            return cached
        kind, body = self._odb.read_object(sha)
        if kind != "tag":
            return None
        info = parse_tag(name, sha, body)
        self._tag_objects[sha] = info
        return info

    def under(self, prefix: str) -> list[TagInfo]:
        """Annotated tags under ``refs/tags/<prefix>``, with their messages.

        One ``for-each-ref`` names them; tag objects already read are not read again, so listing
        thousands of tags repeatedly costs little more than listing their names.
        """
        pattern = f"refs/tags/{prefix}"
        out = run_git(self._root, ["for-each-ref", "--format=%(objectname) %(refname)", pattern])
        refs = [line.partition(" ")[::2] for line in out.decode("utf-8", "replace").splitlines()]
        if sum(sha not in self._tag_objects for sha, _ in refs) > _TAGS_READ_ONE_BY_ONE:
            self._read_tags_at_once(pattern)
        tags = []
        for sha, ref in refs:
            info = self.tag_object(ref.removeprefix("refs/tags/"), sha)
            if info is not None:
                tags.append(info)
        return tags

    def _read_tags_at_once(self, pattern: str) -> None:
        """Read every tag object under ``pattern`` with one ``for-each-ref`` into the cache."""
        fmt = "%(objecttype)%1f%(objectname)%1f%(refname)%1f%(*objectname)%1f%(taggername)%1f%(taggeremail)%1f%(taggerdate:unix)%1f%(contents)%1e"
        out = run_git(self._root, ["for-each-ref", f"--format={fmt}", pattern]).decode(
            "utf-8", "replace"
        )
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
                    message=strip_signature(message),
                    sha=sha,
                )
