"""Where a project's code comes from: a directory, a git working tree, or a bare repository.

A project URI is a local path or a ``file://`` URL, optionally followed by
``#subdirectory`` (MLflow's form for a project inside a repository). Remote git
URLs are refused: mltrack works offline, so clone first.

:func:`checkout` yields the directory the entry point runs in and what to
record about it: the commit, the branch, whether tracked files differ from that
commit and the diff. With a ``version`` (or for a bare repository), the commit
is checked out in a temporary worktree that is removed afterwards; the user's
own working tree is never touched.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from mltrack.exceptions import GitError, InvalidParameterValue, NotAGitRepository
from mltrack.gitstore import GitStore
from mltrack.store.repository import Repository

__all__ = ["Checkout", "ProjectSource", "checkout", "open_source"]

_REMOTE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://|[\w.-]+@[\w.-]+:)")


@dataclass(frozen=True)
class ProjectSource:
    """A resolved project URI."""

    uri: str
    path: Path  # the directory given (for a bare repository: the repository)
    git: GitStore | None
    subdirectory: str  # the project's path inside the repository ("" at its root)
    bare: bool = False

    @property
    def source_name(self) -> str:
        """The canonical URI recorded as ``mlflow.source.name`` (rerunnable as is)."""
        if self.git is None:
            return str(self.path)
        uri = self.git.root.as_uri()
        return f"{uri}#{self.subdirectory}" if self.subdirectory else uri

    @property
    def display_name(self) -> str:
        """A name for a project without one: its directory's name (not a temporary one)."""
        if self.subdirectory:
            return posixpath.basename(self.subdirectory)
        name = (self.git.root if self.git is not None else self.path).name
        return name.removesuffix(".git") if self.bare else name


@dataclass(frozen=True)
class Checkout:
    """The code a run uses, and what is recorded about it."""

    directory: Path
    commit: str | None
    branch: str | None
    dirty: bool | None
    diff: str
    repo_url: str | None


def open_source(uri: str, cwd: Path) -> ProjectSource:
    """Resolve ``uri`` (a path or file:// URL, optionally ``#subdir``) relative to ``cwd``."""
    text, _, fragment = uri.partition("#")
    if text.startswith("file:"):
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidParameterValue(
                f"Project URI {uri!r} names host {parsed.netloc!r}; a file:// URL must be local "
                "(file:///path/to/project)."
            )
        local = unquote(parsed.path)
    elif _REMOTE.match(text):
        raise InvalidParameterValue(
            f"Project URI {uri!r} is a remote repository; mltrack runs projects from this "
            f"machine (it works offline). Clone it first: git clone {text} && mltrack run <clone>"
        )
    else:
        local = text
    if not local:
        raise InvalidParameterValue("Project URI is empty: give a directory or a file:// URL.")
    path = (cwd / Path(local).expanduser()).resolve()
    subdirectory = _subdirectory(fragment, uri)
    if not path.exists():
        raise InvalidParameterValue(f"Project {uri!r}: {path} does not exist.")
    if not path.is_dir():
        raise InvalidParameterValue(
            f"Project {uri!r}: {path} is a file; give the project's directory."
        )
    bare = GitStore.open_bare(path)
    if bare is not None:
        return ProjectSource(uri, path, bare, subdirectory, bare=True)
    directory = path / subdirectory if subdirectory else path
    if not directory.is_dir():
        raise InvalidParameterValue(f"Project {uri!r}: {directory} is not a directory.")
    try:
        git = GitStore.discover(directory)
    except NotAGitRepository:
        return ProjectSource(uri, directory, None, "")
    inside = directory.relative_to(git.root).as_posix()
    return ProjectSource(uri, directory, git, "" if inside == "." else inside)


def _subdirectory(fragment: str, uri: str) -> str:
    if not fragment:
        return ""
    normalised = posixpath.normpath(fragment.strip("/") or ".")
    if normalised == ".." or normalised.startswith("../"):
        raise InvalidParameterValue(
            f"Project URI {uri!r}: the subdirectory after '#' must stay inside the repository."
        )
    return "" if normalised == "." else normalised


@contextlib.contextmanager
def checkout(source: ProjectSource, version: str | None) -> Iterator[Checkout]:
    """The project's code at ``version`` (a temporary worktree) or as it is now."""
    git = source.git
    if version is not None or source.bare:
        if git is None:
            raise InvalidParameterValue(
                f"--version needs a git repository, but {source.path} is not in one; "
                "run the directory as it is (without --version)."
            )
        commit = _resolve_version(git, version, source)
        branch = _branch_of(git, version)
        with git.worktree.temporary_worktree(commit) as worktree:
            directory = worktree / source.subdirectory if source.subdirectory else worktree
            if not directory.is_dir():
                raise InvalidParameterValue(
                    f"{source.subdirectory!r} does not exist at commit {commit[:12]} of "
                    f"{git.root}; is --version right?"
                )
            yield Checkout(directory, commit, branch, False, "", _repo_url(git))
        return
    if git is None or not _tracked(git, source.subdirectory):
        yield Checkout(source.path, None, None, None, "", None)
        return
    state = Repository(git).code_state()
    diff = git.worktree.diff_head()
    yield Checkout(source.path, state.commit, state.branch, bool(diff), diff, _repo_url(git))


def _resolve_version(git: GitStore, version: str | None, source: ProjectSource) -> str:
    if version is None:
        commit = git.head().commit
        if commit is None:
            raise InvalidParameterValue(f"The repository {git.root} has no commits yet.")
        return commit
    try:
        return git.rev_parse(version)
    except GitError:
        raise InvalidParameterValue(
            f"--version {version!r} names no commit, branch or tag of {git.root}; list them with "
            "`git log --oneline` or `git branch`."
        ) from None


def _branch_of(git: GitStore, version: str | None) -> str | None:
    if version is None:
        return git.head().branch
    return version if git.branch_exists(version) else None


def _tracked(git: GitStore, subdirectory: str) -> bool:
    """Whether the project directory is part of HEAD (an untracked one has no commit to name)."""
    head = git.head().commit
    if head is None:
        return False
    return not subdirectory or git.history.tree_entry(head, subdirectory) is not None


def _repo_url(git: GitStore) -> str:
    return git.worktree.remote_url() or git.root.as_uri()
