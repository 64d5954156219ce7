"""What a branch changes in the registry, for review: versions registered, stage and alias moves.

``mltrack diff REV_A REV_B`` shows these beside the runs (``tracking.compare``): a promotion
branch changes no run, only model.yaml. Each stage or alias move carries the run of the
version it replaces compared with the run of the version it now names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mltrack.exceptions import CorruptStore
from mltrack.gitstore import MLTRACK_DIR
from mltrack.registry.review import doc_changes
from mltrack.store.model_document import ModelDocument, Pin
from mltrack.store.model_store import ModelStore
from mltrack.store.model_tags import TaggedVersion
from mltrack.store.records import RunRecord
from mltrack.store.repository import Repository
from mltrack.tracking.compare import RunComparison, compare_runs

__all__ = ["RegistryChange", "registry_changes"]

_MODELS = f"{MLTRACK_DIR}/models"


@dataclass(frozen=True)
class RegistryChange:
    """One change of one registered model between two revisions."""

    model: str
    change: str  # registered, created, stage, alias, alias-removed, deleted, description, tag, unreadable
    version: int | None
    detail: str
    replaced: int | None = None  # the version that held the stage or alias before
    run_id: str | None = None  # the run of ``version``
    model_hash: str | None = None  # the hash of ``version``'s files
    comparison: RunComparison | None = None  # ``replaced``'s run against ``version``'s

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "change": self.change,
            "version": self.version,
            "detail": self.detail,
            "replaced": self.replaced,
            "run_id": self.run_id,
            "model_hash": self.model_hash,
            "metrics": [row.to_dict() for row in self.comparison.metrics]
            if self.comparison
            else [],
            "params": [row.to_dict() for row in self.comparison.params if row.changed]
            if self.comparison
            else [],
        }


def registry_changes(repo: Repository, rev_a: str, rev_b: str | None) -> list[RegistryChange]:
    """The registry changes of revision ``rev_b`` (None: the working tree) against ``rev_a``."""
    store = ModelStore(repo)
    git = repo.git
    commit_a = git.rev_parse(rev_a)
    commit_b = git.rev_parse(rev_b) if rev_b is not None else git.head().commit
    changes: list[RegistryChange] = []
    before, unreadable_a = _documents(store, commit_a)
    if rev_b is None:
        after, unreadable_b = _worktree_documents(store)
    else:
        after, unreadable_b = _documents(store, commit_b)
    for name, problem in sorted({**unreadable_a, **unreadable_b}.items()):
        changes.append(RegistryChange(name, "unreadable", None, problem))
    tags = store.tagged()
    added = set(git.history.rev_list(f"{commit_a}..{commit_b}")) if commit_b else set()
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        versions = tags.get(name, {})
        for registered_number, registered in sorted(versions.items()):
            if registered.commit in added:
                run = _run(store, registered)
                changes.append(
                    RegistryChange(
                        name,
                        "registered",
                        registered_number,
                        f"from run {registered.run_id[:8]} ({registered.artifact_path})",
                        run_id=registered.run_id,
                        model_hash=registered.model_hash,
                        comparison=compare_runs(None, run) if run else None,
                    )
                )
        old_dict = old.to_dict() if old else {}
        new_dict = new.to_dict() if new else {}
        for kind, number, detail in doc_changes(old_dict, new_dict):
            replaced = _replaced(old, new, kind, number)
            tagged = _tagged(versions, new, number)
            comparison = None
            if kind in ("stage", "alias") and tagged is not None:
                previous = _tagged(versions, old, replaced) if replaced is not None else None
                run_new = _run(store, tagged)
                run_old = _run(store, previous) if previous is not None else None
                comparison = compare_runs(run_old, run_new)
            changes.append(
                RegistryChange(
                    name,
                    kind,
                    number,
                    detail,
                    replaced=replaced,
                    run_id=tagged.run_id if tagged else None,
                    model_hash=tagged.model_hash if tagged else None,
                    comparison=comparison,
                )
            )
    return changes


def _documents(
    store: ModelStore, commit: str | None
) -> tuple[dict[str, ModelDocument], dict[str, str]]:
    if commit is None:
        return {}, {}
    found: dict[str, ModelDocument] = {}
    problems: dict[str, str] = {}
    for entry in store.git.history.list_files(commit, _MODELS):
        if entry.path.endswith("/model.yaml"):
            try:
                document = store.parse(store.git.objects.blob(entry.sha), entry.path)
            except CorruptStore as problem:
                problems[entry.path] = str(problem)
                continue
            found[document.name] = document
    return found, problems


def _worktree_documents(store: ModelStore) -> tuple[dict[str, ModelDocument], dict[str, str]]:
    found: dict[str, ModelDocument] = {}
    problems: dict[str, str] = {}
    models_dir = store.repo.dir / "models"
    for path in sorted(models_dir.glob("*/model.yaml")) if models_dir.is_dir() else []:
        rel = store.repo.rel(path)
        try:
            document = store.parse(path.read_bytes(), rel)
        except CorruptStore as problem:
            problems[rel] = str(problem)
            continue
        found[document.name] = document
    return found, problems


def _replaced(
    old: ModelDocument | None, new: ModelDocument | None, kind: str, number: int | None
) -> int | None:
    """The version that held the stage (or alias) ``number`` now holds, at the base revision."""
    if old is None or new is None or number is None:
        return None
    if kind == "alias":
        for alias, target in new.aliases.items():
            if target == number and old.aliases.get(alias, number) != number:
                return old.aliases[alias]
        return None
    if kind == "stage":
        stage = new.version(number).current_stage
        if stage in ("None", "Archived"):
            return None
        holders = [
            n
            for n, entry in old.versions.items()
            if entry.current_stage == stage and n != number and not entry.deleted
        ]
        return max(holders, default=None)
    return None


def _tagged(
    versions: dict[int, TaggedVersion], document: ModelDocument | None, number: int | None
) -> TaggedVersion | None:
    """The tag the record of ``number`` means: by its pin (a renumbered version), else by number."""
    if number is None:
        return None
    pin: Pin | None = None
    if document is not None:
        pin = document.version(number).pin or next(
            (
                document.alias_pins.get(alias)
                for alias, target in document.aliases.items()
                if target == number and alias in document.alias_pins
            ),
            None,
        )
    if pin is not None:
        for tagged in versions.values():
            if tagged.pin == pin:
                return tagged
    return versions.get(number)


def _run(store: ModelStore, tagged: TaggedVersion) -> RunRecord | None:
    raw = store.source_run_yaml(tagged)
    if raw is None:
        return None
    try:
        return RunRecord.from_dict(Repository.parse_yaml(raw, "run", tagged.run_yaml))
    except CorruptStore:
        return None
