"""Reading the registry for review: compare two versions, verify files, rebuild history."""

from __future__ import annotations

from typing import Any

from mltrack.exceptions import ResourceDoesNotExist
from mltrack.gitstore.lfs import content_sha256
from mltrack.hashing import sha256_bytes
from mltrack.registry.records import ModelVersion, RegistryEvent
from mltrack.store import yamlio
from mltrack.store.model_names import validate_model_name
from mltrack.store.model_store import ModelStore
from mltrack.store.model_tags import TaggedVersion
from mltrack.store.records import RunRecord
from mltrack.store.repository import Repository
from mltrack.tracking.compare import compare_runs

__all__ = [
    "absent_versions",
    "compare",
    "comparison_text",
    "doc_changes",
    "history",
    "identity_trailers",
    "unverifiable",
    "verify",
]


def source_run(store: ModelStore, version: ModelVersion) -> RunRecord | None:
    """The run that logged a version, as the version's tagged commit holds it."""
    tagged = store.tagged_version(version.name, version.version)
    raw = store.source_run_yaml(tagged)
    if raw is None:
        return None
    return RunRecord.from_dict(Repository.parse_yaml(raw, "run", tagged.run_yaml))


def compare(store: ModelStore, a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    """Params, metrics, signature and data lineage of two versions, side by side."""
    run_a, run_b = source_run(store, a), source_run(store, b)
    comparison = compare_runs(run_a, run_b, f"{a.name}: version {a.version} vs version {b.version}")
    signatures = [signature(store, v) for v in (a, b)]
    datasets = [
        sorted(f"{d['name']} ({d['digest']})" for d in (run.inputs if run else []))
        for run in (run_a, run_b)
    ]
    return {"a": a, "b": b, "runs": comparison, "signatures": signatures, "datasets": datasets}


def signature(store: ModelStore, version: ModelVersion) -> dict[str, Any] | None:
    raw = store.tagged_file(store.tagged_version(version.name, version.version), "MLmodel")
    if raw is None:
        return None
    signature = (yamlio.load(raw) or {}).get("signature")
    return signature if isinstance(signature, dict) else None


def comparison_text(store: ModelStore, old: ModelVersion | None, new: ModelVersion) -> str:
    if old is None:
        return ""
    run_old, run_new = source_run(store, old), source_run(store, new)
    comparison = compare_runs(run_old, run_new)
    lines = [f"Compared with version {old.version} (run {old.run_id[:8]} → {new.run_id[:8]}):"]
    for row in comparison.metrics:
        delta = f" ({row.delta:+.4g})" if row.delta is not None and row.changed else ""
        lines.append(f"  metrics.{row.key}: {_fmt(row.a)} -> {_fmt(row.b)}{delta}")
    for row in comparison.params:
        if row.changed:
            lines.append(f"  params.{row.key}: {_fmt(row.a)} -> {_fmt(row.b)}")
    return "\n".join(lines)


def identity_trailers(version: TaggedVersion) -> dict[str, str]:
    """What a promotion or alias commit records of the version it points at."""
    # Not Mltrack-Run: that trailer marks a run's own commit in `mltrack log`.
    return {"Mltrack-Version-Run": version.run_id, "Mltrack-Model-Hash": version.model_hash}


def absent_versions(store: ModelStore) -> list[str]:
    """Versions this clone should check but has no tag for (a CI clone made without tags).

    What should be here: every version a model.yaml record names (by its pin, or by
    number when unpinned); and, in a clone without a single version tag (a CI checkout
    made without tags), at least one version of every registered model.
    """
    every = store.tagged()
    absent = []
    for document in store.all():
        tags = every.get(document.name, {})
        if not every:
            absent.append(f"{document.name!r} (no version tags at all)")
            continue
        pinned = {tagged.pin for tagged in tags.values()}
        for field, number, pin in document.pins():
            if (pin is None or pin not in pinned) and number not in tags:
                absent.append(f"{document.name!r} version {number} ({field})")
    return absent


def verify(store: ModelStore) -> list[str]:
    """Check every version's files (tag snapshot and the current working tree) against its
    recorded hashes, and every model.yaml pin against the tag it names."""
    every = store.tagged()
    problems = [
        f"{store.document_path(document.name)}: {problem}"
        for document in store.all()
        for problem in store.pinned(document, every.get(document.name, {}))[1]
        if problem.found is not None
    ]
    for name, versions in sorted(every.items()):
        for number, tagged in sorted(versions.items()):
            if tagged.external:
                continue  # no files to check: see unverifiable()
            label = f"{name!r} version {number}"
            snapshot = {
                entry.path[len(tagged.model_dir) + 1 :]: entry
                for entry in store.git.history.list_files(tagged.commit, tagged.model_dir)
            }
            for path, expected in tagged.files.items():
                entry = snapshot.get(path)
                if entry is None:
                    problems.append(
                        f"{label}: {path} is missing from tagged commit {tagged.commit[:12]}"
                    )
                elif content_sha256(store.git.objects.blob(entry.sha)) != expected:
                    problems.append(
                        f"{label}: {path} in tagged commit {tagged.commit[:12]} does not match its sha256"
                    )
            live_dir = store.repo.root / tagged.model_dir
            if live_dir.is_dir():
                for path, expected in tagged.files.items():
                    file = live_dir / path
                    if not file.is_file():
                        problems.append(
                            f"{label}: {tagged.model_dir}/{path} was removed from the working tree"
                        )
                    elif sha256_bytes(file.read_bytes()) != expected:
                        problems.append(
                            f"{label}: {tagged.model_dir}/{path} was modified after registration"
                        )
    return problems


def unverifiable(store: ModelStore) -> list[str]:
    """The versions registered from outside this repository: no recorded files to check."""
    return [
        f"{name!r} version {number}: registered from {tagged.source!r}, outside this "
        "repository; no files to verify"
        for name, versions in sorted(store.tagged().items())
        for number, tagged in sorted(versions.items())
        if tagged.external
    ]


def history(store: ModelStore, name: str) -> list[RegistryEvent]:
    """Registrations (from tags) and every model.yaml change (from commits), in commit order."""
    name = validate_model_name(name)
    rel = store.document_path(name)
    registered = store.versions_of(name)
    has_head = store.git.head().commit is not None
    commits = list(reversed(store.git.history.log("HEAD", [rel]))) if has_head else []
    if not commits and not registered:
        raise ResourceDoesNotExist(f"Registered model {name!r} has no history in this repository.")
    # Position of every commit on the current branch, oldest first: events are
    # ordered by where they happened in history, never by their clocks.
    position = (
        {sha: i for i, sha in enumerate(reversed(store.git.history.rev_list("HEAD")))}
        if has_head
        else {}
    )
    events: list[tuple[tuple[int, int, int], RegistryEvent]] = []
    previous: dict[str, Any] = {}
    for info in commits:
        raw = store.git.history.read_blob(info.sha, rel)
        doc = store.parse(raw, rel).to_dict() if raw is not None else {}
        author = f"{info.author_name} <{info.author_email}>"
        for kind, version, detail in doc_changes(previous, doc):
            event = RegistryEvent(info.sha, author, info.author_time, kind, version, detail)
            events.append(((position.get(info.sha, -1), 0, version or 0), event))
        previous = doc
    for number, tagged in registered.items():
        detail = f"from run {tagged.run_id[:8]} ({tagged.artifact_path}), files in commit {tagged.commit[:10]}"
        event = RegistryEvent(
            tagged.commit,
            tagged.author,
            tagged.created_ms // 1000,
            "registered",
            number,
            detail,
        )
        place = position.get(tagged.head or tagged.commit, position.get(tagged.commit, -1))
        events.append(((place, 1, number), event))
    return [event for _, event in sorted(events, key=lambda item: item[0])]


def doc_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, int | None, str]]:
    changes: list[tuple[str, int | None, str]] = []
    if not old and new:
        changes.append(("created", None, f"registered model {new.get('name')!r} created"))
    if new.get("deleted") and not old.get("deleted"):
        changes.append(("deleted", None, "registered model deleted"))
    if (old.get("description") or "") != (new.get("description") or "") and old:
        changes.append(("description", None, "description changed"))
    old_versions, new_versions = old.get("versions") or {}, new.get("versions") or {}
    for key in sorted(set(new_versions) | set(old_versions), key=int):
        before, after = old_versions.get(key, {}), new_versions.get(key, {})
        number = int(key)
        if before.get("stage", "None") != after.get("stage", "None"):
            changes.append(
                ("stage", number, f"{before.get('stage', 'None')} -> {after.get('stage', 'None')}")
            )
        if after.get("deleted") and not before.get("deleted"):
            changes.append(("deleted", number, f"version {number} deleted"))
        if (before.get("description") or "") != (after.get("description") or ""):
            changes.append(("description", number, "description changed"))
        if (before.get("tags") or {}) != (after.get("tags") or {}):
            changes.append(("tag", number, "tags changed"))
    old_aliases, new_aliases = _alias_versions(old), _alias_versions(new)
    for alias in sorted(set(old_aliases) | set(new_aliases)):
        if alias not in new_aliases:
            changes.append(
                (
                    "alias-removed",
                    old_aliases[alias],
                    f"@{alias} removed (was version {old_aliases[alias]})",
                )
            )
        elif old_aliases.get(alias) != new_aliases[alias]:
            was = f" (was version {old_aliases[alias]})" if alias in old_aliases else ""
            changes.append(
                ("alias", new_aliases[alias], f"@{alias} -> version {new_aliases[alias]}{was}")
            )
    return changes


def _alias_versions(doc: dict[str, Any]) -> dict[str, int]:
    """alias → version number, from pinned (``{version: …}``) and bare entries alike."""
    return {
        alias: value["version"] if isinstance(value, dict) else value
        for alias, value in (doc.get("aliases") or {}).items()
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.6g}" if isinstance(value, float) else str(value)
