"""git's merge driver for model.yaml and experiment.yaml: merge by key, conflict only where
intents clash.

git merges text by lines, and two branches that each add an alias, a stage or a
tag to one model edit neighbouring lines of model.yaml, which git calls a conflict
although nothing clashes. This driver (``mltrack init`` declares it in
``.mltrack/.gitattributes``; any mltrack command configures it in ``.git/config``)
merges the three versions of the document key by key instead:

- a key changed on one side only takes that side's value; the same change on both
  sides is taken once;
- a key changed differently on both sides (the same alias or stage set to two
  versions) is a conflict, written with git's own markers around just the lines
  that differ, so ``git status``, ``git diff`` and editors show it as usual;
- an alias is one value (its version and pin together): two branches pointing it
  at different versions conflict on that alias alone.

- clocks are not intents: an experiment's ``creation_time`` or a model's
  ``creation_timestamp`` set differently on both sides (the same experiment or model
  created in two clones, whose files are otherwise identical) takes the earlier time,
  since both sides mean the same thing; a ``last_updated_timestamp`` (of the model or
  of one version entry) takes the later, and a side that dropped a clock (an older
  mltrack that wrote none) leaves the other side's.

A file that does not parse (already holding markers, say) is left to a plain
conflict of the whole file.
"""

from __future__ import annotations

import difflib
import json
import os
from typing import Any

from mltrack.store import yamlio

__all__ = [
    "RENUMBERED_ENV",
    "merge_documents",
    "merge_texts",
    "renumbered_env",
    "renumbered_from_env",
]

_MISSING = object()
# Maps whose every value is one intent (an alias: its version and pin), merged whole.
_ATOMIC_PARENTS = ("aliases",)
# Top-level clocks where two sides' different values mean one event: the earlier wins.
_EARLIEST_OF = ("creation_time", "creation_timestamp")
_LATEST_OF = "last_updated_timestamp"  # of the model, or of one version entry: the later wins


def merge_documents(
    base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Both sides' documents merged: (with our value where they clash, with theirs, clashes)."""
    clashes: list[str] = []
    mine = _merge(base, ours, theirs, (), clashes, prefer_ours=True)
    yours = _merge(base, ours, theirs, (), [], prefer_ours=False)
    return mine, yours, clashes


def _merge(
    base: Any,
    ours: Any,
    theirs: Any,
    path: tuple[str, ...],
    clashes: list[str],
    *,
    prefer_ours: bool,
) -> Any:
    if ours == theirs:
        return ours
    if base == ours:
        return theirs
    if base == theirs:
        return ours
    clock = _clock_merge(path)
    if clock is not None:
        times = [v for v in (ours, theirs) if isinstance(v, int) and not isinstance(v, bool)]
        if len(times) == len([v for v in (ours, theirs) if v is not _MISSING]) and times:
            return clock(times)
    mergeable = (
        isinstance(ours, dict)
        and isinstance(theirs, dict)
        and (isinstance(base, dict) or base is _MISSING)
        and not (len(path) == 2 and path[0] in _ATOMIC_PARENTS)
    )
    if not mergeable:
        clashes.append(".".join(path) or "(the whole file)")
        return ours if prefer_ours else theirs
    base_map = base if isinstance(base, dict) else {}
    merged: dict[str, Any] = {}
    for key in sorted({*ours, *theirs, *base_map}, key=str):
        value = _merge(
            base_map.get(key, _MISSING),
            ours.get(key, _MISSING),
            theirs.get(key, _MISSING),
            (*path, str(key)),
            clashes,
            prefer_ours=prefer_ours,
        )
        if value is not _MISSING:
            merged[key] = value
    return merged


def _clock_merge(path: tuple[str, ...]) -> Any:
    """``min`` or ``max`` for a clock key that two sides may set differently, else None."""
    if len(path) == 1 and path[0] in _EARLIEST_OF:
        return min
    if path[-1:] == (_LATEST_OF,) and (
        len(path) == 1 or (len(path) == 3 and path[0] == "versions")
    ):
        return max
    return None


RENUMBERED_ENV = "MLTRACK_SYNC_RENUMBERED"


def renumbered_from_env() -> dict[tuple[str, str, str], int]:
    """(model, run id, model hash) → number of every version in the clone a sync runs in."""
    try:
        rows = json.loads(os.environ.get(RENUMBERED_ENV) or "[]")
        return {(str(n), str(run), str(model)): int(new) for n, run, model, new in rows}
    except (ValueError, TypeError):
        return {}


def renumbered_env(numbers: dict[tuple[str, str, str], int]) -> dict[str, str]:
    """The environment that tells this driver, run by git during a sync, the clone's numbers."""
    return {RENUMBERED_ENV: json.dumps([[*key, number] for key, number in numbers.items()])}


def _follow_pins(document: dict[str, Any], numbers: dict[tuple[str, str, str], int]) -> None:
    """Move records to the number their pinned version has in this clone (in place).

    During a sync's rebase, a replayed commit may still name a renumbered version by
    its old number, which the remote uses for another model: following the pin turns
    that number collision into the different records it really is.
    """
    name = str(document.get("name"))

    def target(record: Any) -> int | None:
        if isinstance(record, dict):
            key = (name, str(record.get("run_id")), str(record.get("model_hash")))
            return numbers.get(key)
        return None

    def follow_replaced(record: Any) -> None:
        replaced = record.get("replaces") if isinstance(record, dict) else None
        number = target(replaced)
        if number is not None and isinstance(replaced, dict):
            replaced["version"] = number

    versions = document.get("versions")
    if isinstance(versions, dict):
        for entry in versions.values():
            follow_replaced(entry)
        moving = [(k, n) for k, e in versions.items() if (n := target(e)) and str(n) != str(k)]
        entries = {key: versions.pop(key) for key, _ in moving}
        for key, new in moving:
            versions[str(new)] = entries[key]
    aliases = document.get("aliases")
    if isinstance(aliases, dict):
        for record in aliases.values():
            follow_replaced(record)
            number = target(record)
            if number is not None:
                record["version"] = number


def merge_texts(
    base: bytes,
    ours: bytes,
    theirs: bytes,
    labels: tuple[str, str] = ("ours", "theirs"),
    renumbered: dict[tuple[str, str, str], int] | None = None,
) -> tuple[bytes, bool]:
    """The merged document (model.yaml, experiment.yaml) and whether it holds conflicts (with
    git's markers)."""
    try:
        documents = [yamlio.load(raw) if raw.strip() else {} for raw in (base, ours, theirs)]
    except Exception:  # yaml raises many types; all mean "cannot merge by key"
        documents = []
    if not documents or not all(isinstance(d, dict) for d in documents):
        return _markers(ours.decode("utf-8", "replace"), theirs.decode("utf-8", "replace"), labels)
    if renumbered:
        for document in documents:
            _follow_pins(document, renumbered)
    mine, yours, clashes = merge_documents(*documents)
    if not clashes:
        return yamlio.dump(mine), False
    return _markers(yamlio.dump(mine).decode(), yamlio.dump(yours).decode(), labels)


def _markers(mine: str, yours: str, labels: tuple[str, str]) -> tuple[bytes, bool]:
    """``mine`` with git's conflict markers around the lines where ``yours`` differs."""
    a, b = mine.splitlines(keepends=True), yours.splitlines(keepends=True)
    out: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.extend(a[i1:i2])
            continue
        out.append(f"<<<<<<< {labels[0]}\n")
        out.extend(_ended(a[i1:i2]))
        out.append("=======\n")
        out.extend(_ended(b[j1:j2]))
        out.append(f">>>>>>> {labels[1]}\n")
    return "".join(out).encode(), True


def _ended(lines: list[str]) -> list[str]:
    return [line if line.endswith("\n") else line + "\n" for line in lines]
