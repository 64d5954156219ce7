"""Where a run comes from: the current repository, source tags, code version, run names.

The *current* tracking URI is process state, like MLflow's: ``mltrack.set_tracking_uri``
sets it, else ``MLTRACK_TRACKING_URI``/``MLFLOW_TRACKING_URI`` name it, else the git
repository around the working directory is used. Clients capture it when they are
made; the fluent API follows it.
"""

from __future__ import annotations

import getpass
import os
import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mltrack.exceptions import InvalidParameterValue, NotAGitRepository
from mltrack.gitstore import Pending
from mltrack.store.repository import Repository

__all__ = [
    "CodeProbe",
    "current_repository",
    "current_tracking_uri",
    "current_user",
    "generate_run_name",
    "is_server_uri",
    "open_repository",
    "set_current_tracking_uri",
    "source_name",
    "source_tags",
]

_repositories: dict[Path, Repository] = {}
_by_location: dict[tuple[str | None, str], Repository] = {}
_guard = threading.Lock()
_current_uri: str | None = None

_REMOTE_SCHEMES = (
    "http://",
    "https://",
    "databricks",
    "sqlite:",
    "postgresql:",
    "mysql:",
    "mssql:",
)


def is_server_uri(uri: str | None) -> bool:
    """Whether a tracking URI names a tracking server (``http://``, ``https://``)."""
    return bool(uri) and str(uri).lower().startswith(("http://", "https://"))


def tracking_path(uri: str | None) -> str | None:
    """The local path a tracking URI names; refuses database and server URIs clearly."""
    if uri is None or uri == "":
        return None
    text = str(uri)
    if text.startswith(_REMOTE_SCHEMES):
        raise InvalidParameterValue(
            f"Tracking URI {text!r} is not a local path. mltrack stores runs in a git repository: "
            "set the tracking URI to the repository's path (or leave it unset to use the "
            "repository around the current directory), or to a tracking server's "
            "http(s):// URL (`mltrack server`)."
        )
    if text.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(text).path)
    if text.startswith("file:"):
        return text[len("file:") :]
    return text


def set_current_tracking_uri(uri: str | None) -> None:
    """Make ``uri`` the current tracking URI (None: back to the environment and directory)."""
    global _current_uri
    if uri is not None and not is_server_uri(uri):
        tracking_path(uri)  # refuses database URIs with a clear message
    _current_uri = uri


def current_tracking_uri() -> str | None:
    """The tracking URI set in this process, else the environment's; None for the directory's."""
    if _current_uri:
        return _current_uri
    for name in ("MLTRACK_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        value = os.environ.get(name)
        if value:
            return value
    return None


def current_repository() -> Repository:
    """The repository the current tracking URI (or the working directory) names."""
    return open_repository(current_tracking_uri())


def open_repository(uri: str | None, *, directory: str | None = None) -> Repository:
    """The repository a tracking URI names, else the one around ``directory`` (the working one).

    A tracking URI must name the root of a git working tree, as MLflow's names its
    store: a path that does not exist, or one inside a repository, would otherwise
    log into whatever repository surrounds it. ``directory`` (``mltrack -C``, the
    working directory) is looked up the way git does, from a subdirectory too.
    One object per working tree.
    """
    if is_server_uri(uri):
        from mltrack.tracking.rest import not_offered

        raise not_offered("This call", str(uri))
    location = (uri, directory or os.getcwd())
    cached = _by_location.get(location)
    if cached is not None:
        return cached
    with _guard:
        path = tracking_path(uri)
        if path is not None:
            repo = _open_tracking_root(uri or path, path)
        else:
            repo = Repository.open(_existing_directory(location[1]))
        existing = _repositories.get(repo.root)
        if existing is not None:
            repo.git.close()
            repo = existing
        else:
            _repositories[repo.root] = repo
        _by_location[location] = repo
        return repo


def _existing_directory(path: str) -> str:
    if not os.path.exists(path):
        raise InvalidParameterValue(
            f"Repository path {path!r} does not exist: create it and run `git init` there, "
            "or point at an existing git repository."
        )
    return path


def _open_tracking_root(uri: str, path: str) -> Repository:
    target = Path(path).expanduser().resolve()
    if not target.exists():
        raise InvalidParameterValue(
            f"Tracking URI {uri!r}: {target} does not exist. mltrack stores runs in a git "
            f"repository: create it (`mkdir -p {target} && cd {target} && git init && "
            "mltrack init`), or set the tracking URI to an existing repository's path "
            "(or leave it unset to use the repository around the working directory)."
        )
    try:
        repo = Repository.open(target)
    except NotAGitRepository:
        raise NotAGitRepository(
            f"Tracking URI {uri!r}: {target} is not inside a git repository. mltrack stores "
            f"runs in git: run `git init && mltrack init` in {target}, or set the tracking "
            "URI to an existing repository's path."
        ) from None
    if repo.root.resolve() != target:
        root = repo.root
        repo.git.close()
        raise InvalidParameterValue(
            f"Tracking URI {uri!r}: {target} is inside the git repository {root}, not its "
            f"root; runs would be stored in {root}/.mltrack. Set the tracking URI to {root}, "
            f"or make {target} a repository of its own (`git init && mltrack init` there)."
        )
    return repo


def close_all() -> None:
    """Flush and close every repository this process opened (tests, long-lived hosts)."""
    with _guard:
        repos = list(_repositories.values())
        _repositories.clear()
        _by_location.clear()
    for repo in repos:
        repo.close()


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def source_name() -> str:
    script = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if script in ("", "-c", "-m"):
        return script or "<console>"
    return str(Path(script).resolve()) if os.path.exists(script) else script


def entry_point(repo: Repository) -> str | None:
    name = source_name()
    try:
        return Path(name).resolve().relative_to(repo.root).as_posix()
    except (ValueError, OSError):
        return name or None


def source_tags(repo: Repository | None, commit: str | None, branch: str | None) -> dict[str, str]:
    """MLflow's automatic run tags (``mlflow.user``, ``mlflow.source.*``)."""
    tags = {
        "mlflow.user": current_user(),
        "mlflow.source.name": source_name(),
        "mlflow.source.type": os.environ.get("MLTRACK_SOURCE_TYPE", "LOCAL"),
    }
    if commit:
        tags["mlflow.source.git.commit"] = commit
    if branch:
        tags["mlflow.source.git.branch"] = branch
    return tags


@dataclass(frozen=True)
class _Observation:
    """The answer of one dirty check, and what it depended on."""

    code_commit: str | None
    files: tuple[str, ...]
    index: tuple[int, int, int] | None
    started_ns: int  # no file changed before this moment can have escaped the check
    dirty: bool


class CodeProbe:
    """Whether the working tree is dirty, asked of git when a run starts and read when it ends.

    ``git status`` (and the commit identity the run's commit will need) run as
    background processes while the run trains; no Python thread competes with
    the training loop. A sweep starts many runs on the same code: when no
    tracked file changed since the last check started (same code commit, the
    index changed only by mltrack itself), its answer is reused instead of
    running ``git status`` again. Repositories with very many tracked files
    always ask git.
    """

    MAX_WATCHED_FILES = 5000
    # File times come from the kernel's coarse clock, which may lag the real one by a tick.
    CLOCK_SLACK_NS = 50_000_000
    _last: ClassVar[dict[Path, _Observation]] = {}
    _guard = threading.Lock()

    def __init__(self, repo: Repository, code_commit: str | None = None) -> None:
        self._repo = repo
        self._code_commit = code_commit
        self._result: bool | None = None
        self._dirty: Pending[bool] | None = None
        self._files: Pending[list[str]] | None = None
        reused = self._reuse()
        if reused is not None:
            self._result = reused.dirty
            return
        git = repo.git
        try:
            git.prefetch_identity()
            self._index = git.index.stamp()
            self._started_ns = time.time_ns() - self.CLOCK_SLACK_NS
            self._files = git.worktree.start_tracked_files()
            self._dirty = git.worktree.start_dirty_check()
        except Exception:  # a probe that cannot start leaves "unknown", never fails the run
            self._dirty = self._files = None

    def _reuse(self) -> _Observation | None:
        git = self._repo.git
        with self._guard:
            last = self._last.get(self._repo.root)
        if last is None or last.code_commit != self._code_commit:
            return None
        if git.index.changed_by_others(last.index) or git.worktree.changed_since(
            last.files, last.started_ns
        ):
            return None
        return last

    def result(self) -> bool | None:
        """True/False once git has answered; None when it could not tell."""
        dirty, files, self._dirty, self._files = self._dirty, self._files, None, None
        if dirty is None or files is None:
            return self._result
        try:
            self._result = dirty.result()
            tracked = files.result()
        except Exception:  # a failed probe leaves "unknown", never fails the run
            self._result = None
            return None
        if len(tracked) <= self.MAX_WATCHED_FILES:
            with self._guard:
                self._last[self._repo.root] = _Observation(
                    self._code_commit, tuple(tracked), self._index, self._started_ns, self._result
                )
        return self._result


_ADJECTIVES = [
    "agile",
    "amazing",
    "ambitious",
    "auspicious",
    "bald",
    "beautiful",
    "bemused",
    "bedecked",
    "big",
    "bittersweet",
    "blushing",
    "bold",
    "bouncy",
    "brawny",
    "bright",
    "burly",
    "bustling",
    "calm",
    "capable",
    "carefree",
    "caring",
    "casual",
    "charming",
    "classy",
    "clean",
    "clever",
    "colorful",
    "crawling",
    "dapper",
    "debonair",
    "delicate",
    "dazzling",
    "defiant",
    "enchanting",
    "fearless",
    "flawless",
    "fortunate",
    "funny",
    "gaudy",
    "gentle",
    "gifted",
    "glamorous",
    "grandiose",
    "gregarious",
    "handsome",
    "hilarious",
    "honorable",
    "illustrious",
    "incongruous",
    "indecisive",
    "industrious",
    "intelligent",
    "inquisitive",
    "invincible",
    "judicious",
    "kindly",
    "languid",
    "learned",
    "legendary",
    "likeable",
    "loud",
    "luminous",
    "lyrical",
    "magnificent",
    "marvelous",
    "masked",
    "melodic",
    "merciful",
    "mercurial",
    "monumental",
    "mysterious",
    "nebulous",
    "nimble",
    "omniscient",
    "orderly",
    "overjoyed",
    "peaceful",
    "placid",
    "polite",
    "popular",
    "powerful",
    "puzzled",
    "rambunctious",
    "rebellious",
    "redolent",
    "resilient",
    "righteous",
    "rogue",
    "rumbling",
    "salty",
    "sassy",
    "secretive",
    "selective",
    "sedate",
    "serious",
    "shivering",
    "silent",
    "skillful",
    "smiling",
    "spiffy",
    "stately",
    "suave",
    "sincere",
    "skittish",
    "stylish",
    "sneaky",
    "tasteful",
    "thundering",
    "traveling",
    "trusting",
    "unique",
    "upbeat",
    "valuable",
    "victorious",
    "vaunted",
    "welcoming",
    "whimsical",
    "wise",
    "worried",
    "youthful",
    "zealous",
]
_NOUNS = [
    "ant",
    "ape",
    "asp",
    "auk",
    "bass",
    "bat",
    "bear",
    "bee",
    "bird",
    "boar",
    "bug",
    "calf",
    "carp",
    "cat",
    "chimp",
    "cod",
    "colt",
    "conch",
    "cow",
    "crab",
    "crane",
    "croc",
    "crow",
    "cub",
    "deer",
    "doe",
    "dog",
    "dolphin",
    "donkey",
    "dove",
    "duck",
    "eel",
    "elk",
    "fawn",
    "finch",
    "fish",
    "flea",
    "fly",
    "foal",
    "fowl",
    "fox",
    "frog",
    "gnat",
    "gnu",
    "goat",
    "goose",
    "grouse",
    "grub",
    "gull",
    "hare",
    "hawk",
    "hen",
    "hog",
    "horse",
    "hound",
    "jay",
    "kit",
    "kite",
    "koi",
    "lamb",
    "lark",
    "loon",
    "lynx",
    "mare",
    "midge",
    "mink",
    "mole",
    "moose",
    "moth",
    "mouse",
    "mule",
    "newt",
    "owl",
    "ox",
    "panda",
    "penguin",
    "perch",
    "pig",
    "pug",
    "quail",
    "ram",
    "rat",
    "ray",
    "robin",
    "roo",
    "rook",
    "seal",
    "shad",
    "shark",
    "sheep",
    "shoat",
    "shrew",
    "shrike",
    "shrimp",
    "skink",
    "skunk",
    "sloth",
    "slug",
    "smelt",
    "snail",
    "snake",
    "snipe",
    "sow",
    "sponge",
    "squid",
    "squirrel",
    "stag",
    "steed",
    "stoat",
    "stork",
    "swan",
    "tern",
    "toad",
    "trout",
    "turtle",
    "vole",
    "wasp",
    "whale",
    "wolf",
    "worm",
    "wren",
    "yak",
    "zebra",
]


def generate_run_name() -> str:
    """A memorable run name such as ``melodic-finch-877``, as MLflow does."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(0, 999)}"
