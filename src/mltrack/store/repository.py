"""The ``.mltrack/`` store of one git working tree: settings, experiments, commits.

Runs live in :mod:`mltrack.store.runs`; this module owns the layout, the
repository settings, experiments and how changes become commits.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shlex
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrack.authorship import current_author
from mltrack.entities import LifecycleStage
from mltrack.exceptions import (
    CorruptStore,
    GitError,
    InvalidParameterValue,
    InvalidState,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from mltrack.gitstore import MLTRACK_DIR, GitStore
from mltrack.store import schema, validation, yamlio
from mltrack.store.files import atomic_write, stamp
from mltrack.store.large_artifacts import (
    WARN_BYTES,
    large_artifacts,
    mark_for_lfs,
    warn_oversized,
)
from mltrack.store.records import ExperimentRecord

if TYPE_CHECKING:
    from mltrack.store.revisions import RevisionReader
    from mltrack.store.runs import RunStore

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "DEFAULT_EXPERIMENT_NAME",
    "FORMAT_VERSION",
    "CodeState",
    "Repository",
    "Settings",
]

FORMAT_VERSION = 1
DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
ARROW_DRIVER = "mltrack-arrow"
MODEL_MERGE_DRIVER = "mltrack-model"
MODEL_ATTRIBUTES = (
    "# model.yaml merges key by key (two branches' different aliases, stages or tags merge;\n"
    "# the same alias set twice conflicts) through mltrack's merge driver.\n"
    f"models/*/model.yaml merge={MODEL_MERGE_DRIVER}\n"
)
EXPERIMENT_ATTRIBUTES = (
    "# experiment.yaml too (the same experiment created in two clones keeps the earlier\n"
    "# creation_time).\n"
    f"experiments/*/experiment.yaml merge={MODEL_MERGE_DRIVER}\n"
)
GITATTRIBUTES = (
    "# Written by mltrack: metric histories are binary Arrow files; `git diff` shows them\n"
    "# as text through mltrack's textconv driver (configured in .git/config by mltrack).\n"
    f"*.arrow -text -merge diff={ARROW_DRIVER}\n" + MODEL_ATTRIBUTES + EXPERIMENT_ATTRIBUTES
)
CODE_TRAILER = "Mltrack-Code"


@dataclass(frozen=True)
class Settings:
    auto_commit: bool = True
    flush_interval_seconds: float = 5.0
    lfs_threshold: int | None = None  # artifacts of this many bytes or more go to git-lfs

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        threshold = (data.get("artifacts") or {}).get("lfs_threshold")
        return cls(
            auto_commit=bool(data.get("auto_commit", True)),
            flush_interval_seconds=float(data.get("flush_interval_seconds", 5.0)),
            lfs_threshold=int(threshold) if threshold is not None else None,
        )


@dataclass(frozen=True)
class CodeState:
    """The code a run starts from: the user's commit (not mltrack's) and the branch."""

    commit: str | None
    branch: str | None
    detached: bool


def textconv_command(python: str) -> str:
    """The shell command git runs on a metrics.arrow file (its path appended).

    This interpreter first; if it is gone (a deleted virtualenv), the ``mltrack`` on
    PATH; else one line saying how to get text, so ``git log -p`` never fails.
    """
    hint = "(metrics.arrow: install mltrack or put it on PATH to see these metrics as text)"
    steps = [
        f'{shlex.quote(python)} -m mltrack textconv "$1" 2>/dev/null',
        'mltrack textconv "$1" 2>/dev/null',
        f"echo {shlex.quote(hint)}",
    ]
    return f"mltrack_textconv() {{ {' || '.join(steps)}; }}; mltrack_textconv"


class Repository:
    """One working tree's ``.mltrack/`` directory and its git history."""

    def __init__(self, git: GitStore) -> None:
        self.git = git
        self.root = git.root
        self._root_prefix = str(git.root).rstrip("/") + "/"
        self.dir = git.root / MLTRACK_DIR
        self.experiments_dir = self.dir / "experiments"
        self.private_dir = git.private_dir
        self.lock_dir = git.private_dir / "locks"
        self._settings: tuple[Any, Settings] | None = None
        self._experiments: dict[str, tuple[Any, ExperimentRecord]] = {}
        self._lock = threading.RLock()
        self._runs: RunStore | None = None
        self._revisions: RevisionReader | None = None
        self._driver_checked = False
        self._code_commits: dict[str, tuple[str | None]] = {}
        self._warned: set[str] = set()  # large artifacts already warned about

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Repository:
        return cls(GitStore.discover(path))

    @property
    def runs(self) -> RunStore:
        if self._runs is None:
            from mltrack.store.runs import RunStore

            self._runs = RunStore(self)
        return self._runs

    @property
    def revisions(self) -> RevisionReader:
        if self._revisions is None:
            from mltrack.store.revisions import RevisionReader

            self._revisions = RevisionReader(self)
        return self._revisions

    def close(self) -> None:
        if self._runs is not None:
            self._runs.close()
        self.git.close()

    # ------------------------------------------------------------------ paths

    def rel(self, path: Path | str) -> str:
        """``path`` relative to the working tree, with forward slashes (a git path)."""
        text, root = str(path), self._root_prefix
        if text.startswith(root) and os.sep == "/":  # 10,000 runs read: skip pathlib's parsing
            return text[len(root) :]
        return Path(path).relative_to(self.root).as_posix()

    def experiment_dir(self, experiment_id: str) -> Path:
        return self.experiments_dir / experiment_id

    # ------------------------------------------------------------------ settings / init

    @property
    def settings_path(self) -> Path:
        return self.dir / "mltrack.yaml"

    def is_initialized(self) -> bool:
        return self.settings_path.is_file()

    def settings(self) -> Settings:
        current = stamp(self.settings_path)
        if current is None:
            return Settings()
        if self._settings is None or self._settings[0] != current:
            data = self._read_yaml(self.settings_path, "mltrack")
            if data.get("format_version") != FORMAT_VERSION:
                raise CorruptStore(
                    self.rel(self.settings_path),
                    f"format_version {data.get('format_version')!r} is not supported by this "
                    f"mltrack (it reads version {FORMAT_VERSION})",
                )
            self._settings = (current, Settings.from_dict(data))
        return self._settings[1]

    def ensure_initialized(self) -> bool:
        """Write ``mltrack.yaml`` and ``.gitattributes`` if missing; True if anything was written."""
        self.ensure_textconv_driver()
        written = False
        if not self.settings_path.is_file():
            document = {
                "format_version": FORMAT_VERSION,
                "auto_commit": True,
                "flush_interval_seconds": 5,
            }
            self._write_yaml(self.settings_path, "mltrack", document)
            written = True
        attributes = self.dir / ".gitattributes"
        if not attributes.is_file():
            atomic_write(attributes, GITATTRIBUTES.encode())
            written = True
        return written

    def _declare_model_merge_driver(self) -> None:
        """Add the model.yaml and experiment.yaml merge lines to a ``.gitattributes`` written
        before they existed."""
        attributes = self.dir / ".gitattributes"
        text = attributes.read_text(encoding="utf-8") if attributes.is_file() else ""
        missing = [
            lines
            for lines, path in (
                (MODEL_ATTRIBUTES, "models/*/model.yaml"),
                (EXPERIMENT_ATTRIBUTES, "experiments/*/experiment.yaml"),
            )
            if f"{path} merge={MODEL_MERGE_DRIVER}" not in text
        ]
        if missing:
            separator = "" if not text or text.endswith("\n") else "\n"
            atomic_write(attributes, (text + separator + "".join(missing)).encode())

    def init(self, lfs_threshold: int | None = None, split_index: bool = False) -> str | None:
        """``mltrack init``: create and commit the store (harmless when it exists).

        ``lfs_threshold``: store artifacts of that many bytes or more with git-lfs (sets up
        git-lfs in this clone and ``artifacts.lfs_threshold`` in mltrack.yaml).
        ``split_index``: turn on git's split index in this clone (``core.splitIndex``), so a
        run's commit stops rewriting the whole index as runs accumulate.
        Returns the new commit, or None when the store was already committed as is.
        Refuses when the branch's remote already holds a store this branch lacks:
        a second ``Initialise`` commit would start a second, unrelated history.
        """
        self._refuse_second_root()
        self.ensure_initialized()
        if lfs_threshold is not None:
            self.git.large_files.install()
            document = self._read_yaml(self.settings_path, "mltrack")
            document["artifacts"] = {
                **(document.get("artifacts") or {}),
                "lfs_threshold": lfs_threshold,
            }
            self._write_yaml(self.settings_path, "mltrack", document)
        if split_index:
            self.git.index.use_split_index()
        self._declare_model_merge_driver()
        self.ensure_default_experiment()
        before = self.git.head().commit
        commit = self.commit(
            [
                self.rel(self.settings_path),
                self.rel(self.dir / ".gitattributes"),
                self.rel(self.experiment_dir(DEFAULT_EXPERIMENT_ID)),
            ],
            "Initialise mltrack store",
            body="Creates .mltrack/ (format version 1) and the Default experiment.",
        )
        return None if commit == before else commit

    def prepare_large_artifacts(self, run_dir: Path) -> None:
        """Before a run's commit: its artifacts at or above ``artifacts.lfs_threshold`` are
        marked for git-lfs; without a threshold, each one over 50 MB that the repository's
        attributes do not send to git-lfs is warned about (once per process)."""
        threshold = self.settings().lfs_threshold
        found = large_artifacts(run_dir, threshold or WARN_BYTES + 1)
        if threshold is not None:
            if found:
                mark_for_lfs(run_dir, [relative for relative, _ in found])
            return
        fresh = [(rel, size) for rel, size in found if f"{run_dir.name}/{rel}" not in self._warned]
        if not fresh:
            return
        prefix = self.rel(run_dir)
        in_lfs = self.git.large_files.select({f"{prefix}/{rel}": run_dir / rel for rel, _ in fresh})
        for rel, size in fresh:
            self._warned.add(f"{run_dir.name}/{rel}")
            if f"{prefix}/{rel}" not in in_lfs:
                warn_oversized(run_dir.name, rel, size)

    def _refuse_second_root(self) -> None:
        head = self.git.head().commit
        settings = self.rel(self.settings_path)
        if head is not None and self.git.history.read_blob(head, settings) is not None:
            return  # this branch has the store already: init is harmless
        upstream = self.git.remotes.upstream()
        if upstream is None:
            return
        # Offline: judge by what was fetched before (`mltrack sync` joins two roots later).
        with contextlib.suppress(GitError):
            self.git.remotes.fetch_branch(upstream)
        tip = self.git.read_ref(upstream.tracking_ref)
        if tip is None or self.git.history.read_blob(tip, settings) is None:
            return
        command = (
            f"git pull {upstream.remote} {upstream.branch}"
            if head is None
            else f"git pull --rebase {upstream.remote} {upstream.branch}"
        )
        raise InvalidState(
            f"{upstream} already has an mltrack store; this branch lacks it. Run `{command}` "
            "instead of `mltrack init` (a second init would start an unrelated history)."
        )

    def ensure_textconv_driver(self, *, recheck: bool = False) -> None:
        """Make ``git diff`` print metrics.arrow as text in this clone (local config).

        Checked once per process; ``recheck`` checks again, e.g. after a child
        process on another interpreter (a project's virtualenv) pointed the
        driver at itself.
        """
        if self._driver_checked and not recheck:
            return
        self._driver_checked = True
        try:
            self.git.worktree.ensure_textconv_driver(ARROW_DRIVER, textconv_command(sys.executable))
            self.git.worktree.ensure_merge_driver(
                MODEL_MERGE_DRIVER,
                "mltrack model.yaml (merge by key)",
                [sys.executable, "-m", "mltrack", "merge-driver"],
            )
        except GitError as error:  # a convenience of this clone's config (full disk, read-only)
            logging.getLogger("mltrack").warning("could not set up git's drivers: %s", error)

    # ------------------------------------------------------------------ YAML files

    def _read_yaml(self, path: Path | str, kind: str) -> dict[str, Any]:
        where = self.rel(path)
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            raise ResourceDoesNotExist(f"{where} does not exist") from None
        return self.parse_yaml(raw, kind, where)

    @staticmethod
    def parse_yaml(raw: bytes, kind: str, where: str) -> dict[str, Any]:
        try:
            data = yamlio.load(raw)
        except Exception as error:  # yaml raises many types; all mean "unparseable"
            raise CorruptStore(where, f"not valid YAML ({_yaml_problem(error)})") from None
        schema.validate_for_read(kind, data, where)
        return dict(data)

    def _write_yaml(
        self, path: Path, kind: str, document: dict[str, Any], durable: bool = True
    ) -> None:
        schema.validate_for_write(kind, document, self.rel(path))
        atomic_write(path, yamlio.dump(document), durable=durable)

    # ------------------------------------------------------------------ experiments

    def _experiment_yaml(self, experiment_id: str) -> Path:
        return self.experiment_dir(experiment_id) / "experiment.yaml"

    def read_experiment(self, experiment_id: str) -> ExperimentRecord | None:
        path = self._experiment_yaml(experiment_id)
        current = stamp(path)
        if current is None:
            return None
        cached = self._experiments.get(experiment_id)
        if cached is not None and cached[0] == current:
            return cached[1]
        record = ExperimentRecord.from_dict(self._read_yaml(path, "experiment"))
        if record.experiment_id != experiment_id:
            raise CorruptStore(
                self.rel(path),
                f"field 'experiment_id': {record.experiment_id!r} does not match its directory {experiment_id!r}",
            )
        self._experiments[experiment_id] = (current, record)
        return record

    def get_experiment(self, experiment_id: str | int) -> ExperimentRecord:
        experiment_id = str(experiment_id)
        if not experiment_id.isdigit():
            raise InvalidParameterValue(f"Invalid experiment id {experiment_id!r}: ids are digits.")
        if (
            experiment_id == DEFAULT_EXPERIMENT_ID
            and not self._experiment_yaml(experiment_id).is_file()
        ):
            self.ensure_initialized()  # the Default experiment exists in every store, as in MLflow
            self.ensure_default_experiment()
        record = self.read_experiment(experiment_id)
        if record is None:
            raise ResourceDoesNotExist(
                f"No experiment with id {experiment_id}. List experiments with `mltrack experiments list`."
            )
        return record

    def list_experiments(self) -> list[ExperimentRecord]:
        self.ensure_default_experiment()
        found = []
        try:
            names = sorted(os.listdir(self.experiments_dir))
        except FileNotFoundError:
            names = []
        for name in names:
            if name.isdigit():
                record = self.read_experiment(name)
                if record is not None:
                    found.append(record)
        return found

    def find_experiment(self, name: str) -> ExperimentRecord | None:
        for record in self.list_experiments():
            if record.name == name:
                return record
        return None

    def ensure_default_experiment(self) -> None:
        """The ``Default`` experiment (id 0) exists in every store, as in MLflow."""
        if self._experiment_yaml(DEFAULT_EXPERIMENT_ID).is_file():
            return
        if not self.dir.is_dir():
            return  # nothing is created in a repository mltrack has not written to yet
        record = ExperimentRecord(
            DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, LifecycleStage.ACTIVE
        )
        self._write_yaml(
            self._experiment_yaml(DEFAULT_EXPERIMENT_ID), "experiment", record.to_dict()
        )

    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> ExperimentRecord:
        """Create and (with auto-commit) commit a new experiment.

        The id is derived from the name, so two clones that create the same
        experiment offline write the same file but for its ``creation_time``, which
        mltrack's merge driver resolves to the earlier of the two.
        """
        name = validation.experiment_name(name)
        clean_tags = {
            validation.key(k, "tag key"): validation.experiment_tag_value(k, v)
            for k, v in (tags or {}).items()
        }
        with self._lock:
            self.ensure_initialized()
            self.ensure_default_experiment()
            existing = self.find_experiment(name)
            if existing is not None:
                state = (
                    " in deleted state (restore it with `mltrack experiments restore`)"
                    if existing.lifecycle_stage == LifecycleStage.DELETED
                    else ""
                )
                raise ResourceAlreadyExists(f"Experiment '{name}' already exists{state}.")
            for attempt in range(1000):
                experiment_id = derived_experiment_id(name, attempt)
                if self.read_experiment(experiment_id) is None:
                    break
            record = ExperimentRecord(
                experiment_id, name, LifecycleStage.ACTIVE, clean_tags, creation_time=now_ms()
            )
            self._write_yaml(self._experiment_yaml(experiment_id), "experiment", record.to_dict())
            self._experiments.pop(experiment_id, None)
        self.commit_if_auto(
            [self.rel(self._experiment_yaml(experiment_id))],
            f"Create experiment {name}",
            trailers={"Mltrack-Experiment": experiment_id},
        )
        return record

    def update_experiment(
        self, experiment_id: str, subject: str, **changes: Any
    ) -> ExperimentRecord:
        """Apply ``changes`` (name, lifecycle_stage, deleted_time, tags) and commit them."""
        with self._lock:
            record = self.get_experiment(experiment_id)
            if "name" in changes:
                new_name = validation.experiment_name(changes["name"])
                other = self.find_experiment(new_name)
                if other is not None and other.experiment_id != experiment_id:
                    raise ResourceAlreadyExists(f"Experiment '{new_name}' already exists.")
            data = record.to_dict()
            data.update(changes)
            updated = ExperimentRecord.from_dict(data)
            path = self._experiment_yaml(experiment_id)
            self._write_yaml(path, "experiment", updated.to_dict())
            self._experiments.pop(experiment_id, None)
        self.commit_if_auto(
            [self.rel(path)], subject, trailers={"Mltrack-Experiment": experiment_id}
        )
        return updated

    # ------------------------------------------------------------------ commits

    def code_state(self) -> CodeState:
        """The user's code commit at HEAD, skipping mltrack's own commits (which change no code)."""
        head = self.git.head()
        commit = head.commit
        if commit is not None:
            code = self._code_commits.get(commit)
            if code is None:
                code = (self._code_commit_of(commit),)
                self._code_commits[commit] = code
            commit = code[0]
        return CodeState(commit, head.branch, head.detached)

    def _code_commit_of(self, commit: str) -> str | None:
        from mltrack.gitstore import parse_trailers

        _, data = self.git.objects.read_object(commit)
        trailers = parse_trailers(data.partition(b"\n\n")[2].decode("utf-8", "replace"))
        if any(key.startswith("mltrack-") for key in trailers):
            # mltrack's commits carry the code commit they sit on; none means there was none
            codes = trailers.get(CODE_TRAILER.lower())
            return codes[0] if codes else None
        return commit

    def commit(
        self,
        paths: list[str],
        subject: str,
        *,
        body: str = "",
        trailers: Mapping[str, str | list[str]] | None = None,
    ) -> str | None:
        """Commit the working-tree state of ``paths`` (files or directories under .mltrack/).

        A trailer given a list is written once per value, in order (a commit of several runs).
        """
        self.ensure_initialized()
        # The store's own files go into the first commit that needs them; later edits
        # to them (a changed setting) are the user's to commit, not a run's.
        head = self.git.head().commit
        store_files = [
            self.settings_path,
            self.dir / ".gitattributes",
            self._experiment_yaml(DEFAULT_EXPERIMENT_ID),
        ]
        missing = [
            self.rel(path)
            for path in store_files
            if path.is_file()
            and (head is None or self.git.history.tree_entry(head, self.rel(path)) is None)
        ]
        changes: dict[str, bytes | Path | None] = {}
        for rel in [*missing, *paths]:
            path = self.root / rel
            changes[rel] = path if path.exists() else None
        code = self.code_state().commit
        lines = [subject.strip()]
        if body.strip():
            lines += ["", body.strip()]
        footer = [
            (key, value)
            for key, values in (trailers or {}).items()
            for value in ([values] if isinstance(values, str) else values)
        ]
        if code:
            footer.append((CODE_TRAILER, code))
        if footer:
            lines += ["", *(f"{key}: {value}" for key, value in footer)]
        sha = self.git.commit(changes, "\n".join(lines) + "\n", author=current_author())
        if sha is not None:
            self._code_commits[sha] = (code,)  # no need to read our own commit back
        return sha

    def commit_if_auto(self, paths: list[str], subject: str, **kwargs: Any) -> str | None:
        if not self.settings().auto_commit:
            return None
        return self.commit(paths, subject, **kwargs)


def _yaml_problem(error: Exception) -> str:
    """Where and what: "line 3, column 5: did not find expected ',' or ']'"."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def derived_experiment_id(name: str, attempt: int = 0) -> str:
    """A decimal id from the name: the same in every clone, unlike a counter."""
    seed = name if attempt == 0 else f"{name}\0{attempt}"
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    value = int.from_bytes(digest[:8], "big") % 10**18
    return str(value if value != 0 else 1)


def now_ms() -> int:
    return int(time.time() * 1000)
