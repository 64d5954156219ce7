"""Where the registry keeps its state: model.yaml documents, version tags, extracted files.

- :class:`ModelStore` reads and saves ``.mltrack/models/<encoded name>/model.yaml``
  (a commit on the current branch, or on a new branch for a proposal), lists and
  reads version tags, allocates the next version number (an annotated tag made
  only if no other process took it), and extracts a version's files from its
  tagged commit into ``.git/mltrack/models/<tree id>/``.
- It also resolves a ``models:/<name>/...`` reference to a tagged version, so
  loading a registered model needs only this store, not the registry service.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mltrack import safepath
from mltrack.authorship import current_author
from mltrack.entities import ViewType
from mltrack.exceptions import (
    CorruptStore,
    GitError,
    IntegrityError,
    InvalidParameterValue,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    SigningError,
)
from mltrack.gitstore import MLTRACK_DIR
from mltrack.gitstore.lfs import content_sha256
from mltrack.store import schema, validation, yamlio
from mltrack.store.files import atomic_write
from mltrack.store.model_document import ModelDocument, Pin, Replaced
from mltrack.store.model_names import (
    TAG_PREFIX,
    canonical_stage,
    encode_name,
    model_tag_prefix,
    parse_version_tag,
    validate_model_name,
    version_number,
    version_tag,
)
from mltrack.store.model_tags import TaggedVersion, parse_tag
from mltrack.store.repository import Repository, now_ms
from mltrack.uris import (
    MODELS_SCHEME,
    RUNS_SCHEME,
    ModelReference,
    logged_model_uri,
    parse_models_uri,
    parse_runs_uri,
    runs_uri,
)

__all__ = ["ModelSource", "ModelStore", "PinProblem", "Registration", "conflict_marker"]

_MAX_ALLOCATION_ATTEMPTS = 100
_FILE_MODES = ("100644", "100755", "120000")  # blobs: regular, executable, symlink (as text)


@dataclass(frozen=True)
class ModelSource:
    """Where the files of a model to register live: a run's artifact directory."""

    run_id: str
    experiment_id: str
    artifact_path: str
    model_id: str | None

    @property
    def uri(self) -> str:
        """The URI a version registered from here records as its source."""
        if self.model_id:
            return logged_model_uri(self.model_id)
        return runs_uri(self.run_id, self.artifact_path)


@dataclass(frozen=True)
class Registration:
    """A registered version; ``tagged`` is None while it waits for its run to end."""

    name: str
    version: int
    source: ModelSource | None  # None: a source outside this repository (tagged at once)
    tagged: TaggedVersion | None


@dataclass(frozen=True)
class _PendingVersion:
    """A registration made during a run of this process, done right after the run's commit."""

    store: ModelStore
    name: str
    source: ModelSource
    then: Callable[[TaggedVersion], object] | None

    def __call__(self) -> None:
        tagged = self.store._tag(self.name, self.source)
        if self.then is not None:
            self.then(tagged)


_CONFLICT_MARKER = re.compile(rb"^(<{7} |={7}$|>{7} |\|{7} )", re.M)


def conflict_marker(raw: bytes) -> tuple[int, str] | None:
    """(line number, line) of the first merge conflict marker git leaves in a file, if any."""
    match = _CONFLICT_MARKER.search(raw)
    if match is None:
        return None
    line_start = raw.rfind(b"\n", 0, match.start()) + 1
    line_end = raw.find(b"\n", match.start())
    line = raw[line_start : len(raw) if line_end < 0 else line_end]
    return raw.count(b"\n", 0, match.start()) + 1, line.decode("utf-8", "replace").rstrip()


@dataclass(frozen=True)
class PinProblem:
    """A model.yaml record whose pinned model is not the version its number names here."""

    field: str  # versions.3, aliases.champion
    version: int
    pin: Pin
    found: TaggedVersion | None  # what the number names in this clone
    moved_to: int | None  # the number the pinned model has in this clone, if any

    def __str__(self) -> str:
        pinned = f"run {self.pin.run_id[:8]}, model {self.pin.model_hash[:12]}"
        if self.moved_to is not None:
            return (
                f"field {self.field!r}: pins {pinned}, which is version {self.moved_to} in this "
                f"clone, not {self.version} (renumbered by a sync: `mltrack sync` rewrites it)"
            )
        if self.found is None:
            return (
                f"field {self.field!r}: pins {pinned} as version {self.version}, whose tag is "
                "missing in this clone (fetch tags: `mltrack models verify --fetch`)"
            )
        return (
            f"field {self.field!r}: pins {pinned}, but version {self.version} here is run "
            f"{self.found.run_id[:8]}, model {self.found.model_hash[:12]} (a version number "
            "collision: `mltrack sync` renumbers the unpublished one)"
        )


class ModelStore:
    """The registry's files and tags in one repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.git = repo.git
        self._times: tuple[str | None, dict[str, tuple[int, int]]] | None = None

    # -- model.yaml ----------------------------------------------------------------------

    @staticmethod
    def document_path(name: str) -> str:
        return f"{MLTRACK_DIR}/models/{encode_name(name)}/model.yaml"

    def read(self, name: str, commit: str | None = None) -> ModelDocument | None:
        """model.yaml of ``name`` in the working tree (or at ``commit``); None if absent."""
        rel = self.document_path(name)
        if commit is None:
            path = self.repo.root / rel
            if not path.is_file():
                return None
            raw = path.read_bytes()
        else:
            found = self.git.history.read_blob(commit, rel)
            if found is None:
                return None
            raw = found
        return ModelDocument.from_dict(Repository.parse_yaml(raw, "model", rel))

    def parse(self, raw: bytes, rel: str) -> ModelDocument:
        return ModelDocument.from_dict(Repository.parse_yaml(raw, "model", rel))

    def get(self, name: str) -> ModelDocument:
        """The live model ``name``; a clear error when it does not exist or was deleted.

        A registration this process holds back until its run ends is done first: a script
        that registers inside a run and then reads the model (as MLflow's examples do)
        finds the version, at the cost of the run's commit coming before its end.
        """
        for pending in self.repo.runs.take_after_commit(
            lambda action: isinstance(action, _PendingVersion) and action.name == name
        ):
            pending()
        document = self.read(validate_model_name(name))
        if document is None or document.deleted:
            raise ResourceDoesNotExist(
                f"Registered Model with name={name} not found. "
                "List models with `mltrack models list`."
            )
        return document

    def base(self, name: str, branch: str | None) -> ModelDocument:
        """model.yaml as a change starts from: the working tree, or HEAD for a proposal branch."""
        if branch is None:
            return self.get(name)
        head = self.git.head().commit
        document = self.read(name, head) if head else None
        if document is None or document.deleted:
            raise ResourceDoesNotExist(
                f"Registered model {name!r} is not committed on the current branch."
            )
        return document

    def all(self) -> list[ModelDocument]:
        """Every model not deleted, by encoded name."""
        models_dir = self.repo.dir / "models"
        found = []
        for path in sorted(models_dir.glob("*/model.yaml")) if models_dir.is_dir() else []:
            document = self.parse(path.read_bytes(), self.repo.rel(path))
            if not document.deleted:
                found.append(document)
        return found

    def save(
        self,
        document: ModelDocument,
        subject: str,
        *,
        body: str = "",
        trailers: dict[str, str] | None = None,
        branch: str | None = None,
    ) -> ModelDocument:
        """Write ``document`` and commit it; on ``branch``, without touching the working tree."""
        saved = document
        rel = self.document_path(saved.name)
        data = self._serialize(saved, rel)
        footer = {"Mltrack-Model": saved.name, **(trailers or {})}
        if branch is not None:
            head = self.git.head().commit
            if head is None:
                raise GitError(
                    "The repository has no commits yet; commit before proposing a change on a branch."
                )
            self._check_new_branch(branch)
            message = (
                subject
                + ("\n\n" + body.strip() if body.strip() else "")
                + "\n\n"
                + "\n".join(f"{k}: {v}" for k, v in footer.items())
            )
            self.git.commit(
                {rel: data},
                message + "\n",
                ref=f"refs/heads/{branch}",
                create_from=head,
                author=current_author(),
            )
            return saved
        self.repo.ensure_initialized()
        atomic_write(self.repo.root / rel, data)
        self.repo.commit([rel], subject, body=body, trailers=footer)
        return saved

    def clocks(self, document: ModelDocument) -> tuple[int, int]:
        """When the model was created and last changed (ms), as model.yaml records them.

        A file written without them (mltrack kept no clock there for a while) takes them from
        ``git log`` of its model.yaml: a file not committed yet counts from its
        modification time, and a rename keeps the creation time of the old name.
        """
        if document.created_ms is not None and document.updated_ms is not None:
            return document.created_ms, max(document.updated_ms, document.created_ms)
        created, updated = self.git_clocks(document)
        if document.created_ms is not None:
            created = document.created_ms
        if document.updated_ms is not None:
            updated = document.updated_ms
        return created, max(updated, created)

    def git_clocks(self, document: ModelDocument) -> tuple[int, int]:
        """When model.yaml was first and last committed (ms, whole seconds), from ``git log``."""
        rel = self.document_path(document.name)
        head = self.git.head().commit
        if self._times is None or self._times[0] != head:
            self._times = (head, self.git.history.path_times(f"{MLTRACK_DIR}/models"))
        committed = self._times[1].get(rel)
        path = self.repo.root / rel
        modified = int(path.stat().st_mtime * 1000) if path.is_file() else now_ms()
        created, updated = committed if committed is not None else (modified, modified)
        for old_name in document.renamed_from:  # a rename keeps the model's creation time
            before = self._times[1].get(self.document_path(old_name))
            if before is not None:
                created = min(created, before[0])
        return created, max(updated, created)

    @staticmethod
    def now() -> int:
        """The registry's clock (ms): what model.yaml and version tags record."""
        return now_ms()

    def touched(self, document: ModelDocument, when: int) -> ModelDocument:
        """``document`` changed at ``when``, as MLflow counts a change of the model.

        A file written without clocks records first what git history says (the model's
        creation, and each entry's last change), so that no time it reported moves.
        """
        if document.updated_ms is None:
            created, updated = self.git_clocks(document)
            versions = {
                number: entry
                if entry.updated_ms is not None
                else replace(entry, updated_ms=updated)
                for number, entry in document.versions.items()
            }
            document = replace(
                document,
                created_ms=created if document.created_ms is None else document.created_ms,
                versions=versions,
            )
        return replace(document, updated_ms=when)

    def pinned(
        self, document: ModelDocument, tags: dict[int, TaggedVersion]
    ) -> tuple[ModelDocument, list[PinProblem]]:
        """``document`` as this clone's tags number its versions, and the pins that do not resolve.

        A record whose pin matches the tag of its number stays; one whose pinned model
        has another number here (a version renumbered by ``mltrack sync``) moves to it;
        one whose pinned model is absent is dropped, so a collision never makes
        ``Production`` mean another clone's model. Records without a pin (files
        written before pins) are taken at their number.
        """
        by_pin = {tagged.pin: number for number, tagged in tags.items()}
        problems: list[PinProblem] = []

        def place(field: str, number: int, pin: Pin | None) -> int | None:
            if pin is None:
                return number
            tagged = tags.get(number)
            if tagged is not None and tagged.pin == pin:
                return number
            moved = by_pin.get(pin)
            problems.append(PinProblem(field, number, pin, tagged, moved))
            return moved

        def follow(field: str, replaced: Replaced | None) -> Replaced | None:
            if replaced is None:
                return None
            number = place(field, replaced.version, replaced.pin)
            return None if number is None else replace(replaced, version=number)

        versions = {}
        for number, entry in sorted(document.versions.items()):
            target = place(f"versions.{number}", number, entry.pin)
            if target is not None and (target == number or target not in document.versions):
                versions[target] = replace(
                    entry, replaces=follow(f"versions.{number}.replaces", entry.replaces)
                )
        aliases, alias_pins, alias_replaces = {}, {}, {}
        for alias, number in sorted(document.aliases.items()):
            pin = document.alias_pins.get(alias)
            target = place(f"aliases.{alias}", number, pin)
            if target is not None:
                aliases[alias] = target
                if pin is not None:
                    alias_pins[alias] = pin
                replaced = follow(f"aliases.{alias}.replaces", document.alias_replaces.get(alias))
                if replaced is not None:
                    alias_replaces[alias] = replaced
        if not problems:
            return document, []
        return replace(
            document,
            versions=versions,
            aliases=aliases,
            alias_pins=alias_pins,
            alias_replaces=alias_replaces,
        ), problems

    def check(self) -> list[tuple[str, str]]:
        """(file, problem) for every model.yaml: conflict markers, schema, name, version references.

        A version a record names must have its tag here, and its pin must match that
        tag (``pinned``); an alias must not name a deleted version.
        """
        models_dir = self.repo.dir / "models"
        if not models_dir.is_dir():
            return []
        every = self.tagged()
        problems: list[tuple[str, str]] = []
        for directory in sorted(p for p in models_dir.iterdir() if p.is_dir()):
            path = directory / "model.yaml"
            rel = self.repo.rel(path)
            if not path.is_file():
                problems.append((rel, "missing"))
                continue
            raw = path.read_bytes()
            marker = conflict_marker(raw)
            if marker is not None:
                problems.append(
                    (
                        rel,
                        f"unresolved merge conflict (line {marker[0]}: {marker[1]!r}): edit the "
                        "file to keep the right version, then `git add` and commit it",
                    )
                )
                continue
            try:
                document = self.parse(raw, rel)
            except CorruptStore as error:
                problems.append((error.path, error.problem))
                continue
            if encode_name(document.name) != directory.name:
                problems.append(
                    (
                        rel,
                        f"field 'name': {document.name!r} belongs in "
                        f"models/{encode_name(document.name)}/, not models/{directory.name}/",
                    )
                )
            if document.deleted:
                continue
            tags = every.get(document.name, {})
            _, pin_problems = self.pinned(document, tags)
            problems.extend((rel, str(problem)) for problem in pin_problems)
            reported = {problem.field for problem in pin_problems}
            for field, number, _pin in document.pins():
                if field in reported:
                    continue
                if number not in tags:
                    problems.append(
                        (
                            rel,
                            f"field {field!r}: version {number} has no tag "
                            f"{version_tag(document.name, number)} in this clone (fetch tags: "
                            "`mltrack models verify --fetch`)",
                        )
                    )
                elif (
                    field.startswith("aliases.")
                    and not field.endswith(".replaces")  # history: it may be deleted since
                    and document.is_deleted(number)
                ):
                    problems.append((rel, f"field {field!r}: version {number} was deleted"))
        return problems

    def rename(self, document: ModelDocument, new_name: str) -> ModelDocument:
        """Move model.yaml and re-make every version tag under ``new_name`` (one commit).

        As MLflow, a rename changes the update time of the model and of every version.
        """
        old_name = document.name
        moved = []
        when = self.now()
        for tagged in sorted(self.versions_of(old_name).values(), key=lambda t: t.version):
            pinned = document.version(tagged.version).pin
            if pinned is None or pinned == tagged.pin:  # not a record of another clone's number
                document = document.with_version(tagged.version, pin=tagged.pin, updated_ms=when)
            renamed = tagged.renamed(new_name)
            self.git.create_tag(
                renamed.tag,
                tagged.commit,
                renamed.message() + f"renamed_from: {json.dumps(old_name)}\n",
                author=current_author(),
            )
            moved.append(tagged.tag)
        renamed_document = replace(
            self.touched(document, when),
            name=new_name,
            renamed_from=(*document.renamed_from, old_name),
        )
        old_rel, rel = self.document_path(old_name), self.document_path(new_name)
        atomic_write(self.repo.root / rel, self._serialize(renamed_document, rel))
        (self.repo.root / old_rel).unlink()
        self.repo.commit(
            [old_rel, rel],
            f"Rename registered model {old_name!r} to {new_name!r}",
            trailers={"Mltrack-Model": new_name},
        )
        for tag in moved:
            self.git.delete_ref(f"refs/tags/{tag}")
        return renamed_document

    @staticmethod
    def _serialize(document: ModelDocument, rel: str) -> bytes:
        data = document.to_dict()
        schema.validate_for_write("model", data, rel)
        return yamlio.dump(data)

    def _check_new_branch(self, branch: str) -> None:
        if (
            not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", branch)
            or ".." in branch
            or branch.endswith((".lock", "/"))
        ):
            raise InvalidParameterValue(f"Invalid branch name {branch!r}.")
        if self.git.read_ref(f"refs/heads/{branch}") is not None:
            raise ResourceAlreadyExists(
                f"Branch {branch!r} already exists; choose a new name for the proposal."
            )

    # -- version tags --------------------------------------------------------------------

    def tagged(self, prefix: str = f"{TAG_PREFIX}/") -> dict[str, dict[int, TaggedVersion]]:
        """The version tags under ``prefix`` by model and number (one ``git for-each-ref``)."""
        found: dict[str, dict[int, TaggedVersion]] = {}
        for info in self.git.tags.under(prefix):
            parsed = parse_tag(info)
            if parsed is not None:
                found.setdefault(parsed.name, {})[parsed.version] = parsed
        return found

    def snapshot_models(self, key: str) -> set[str]:
        """Names of the registered models with a version whose files are snapshot ``key``.

        A team server checks a reader's permission on these before it serves the files.
        """
        return {
            name
            for name, versions in self.tagged().items()
            for tagged in versions.values()
            if not tagged.external
            and (entry := self.git.history.tree_entry(tagged.commit, tagged.model_dir)) is not None
            and entry.sha == key
        }

    def versions_of(self, name: str) -> dict[int, TaggedVersion]:
        return self.tagged(model_tag_prefix(name)).get(name, {})

    def version_numbers(self, name: str) -> list[int]:
        """The numbers of a model's version tags, from ref names alone (no tag is read)."""
        prefix = f"refs/tags/{model_tag_prefix(name)}"
        return [
            parsed[1]
            for ref in self.git.ref_names(prefix)
            if (parsed := parse_version_tag(ref.removeprefix("refs/tags/"))) is not None
        ]

    def tagged_version(self, name: str, version: object) -> TaggedVersion:
        number = version_number(version)
        info = self.git.tags.read(version_tag(name, number))
        tagged = parse_tag(info) if info is not None else None
        if tagged is None:
            raise ResourceDoesNotExist(self._no_version(name, number))
        return tagged

    def _no_version(self, name: str, number: int) -> str:
        """Why version ``number`` cannot be read: a tag this clone lacks, or no such version."""
        document = self.read(name)
        if document is not None and (
            number in document.versions or number in document.aliases.values()
        ):
            # model.yaml speaks of the version, so it was tagged in another clone.
            return (
                f"Model {name!r} has version {number}, but its tag is missing in this clone: "
                "run `git fetch --tags`."
            )
        numbers = self.version_numbers(name)
        if not numbers:
            return f"Model {name!r} has no version {number}; it has no versions yet."
        return f"Model {name!r} has no version {number}; the latest is {max(numbers)}."

    def source_run_yaml(self, tagged: TaggedVersion) -> bytes | None:
        """The source run's run.yaml as the version's tagged commit holds it."""
        return (
            None if tagged.external else self.git.history.read_blob(tagged.commit, tagged.run_yaml)
        )

    def tagged_file(self, tagged: TaggedVersion, relative: str) -> bytes | None:
        """One file of the version's model directory, as its tagged commit holds it."""
        if tagged.external:
            return None
        return self.git.history.read_blob(tagged.commit, f"{tagged.model_dir}/{relative}")

    # -- registering -----------------------------------------------------------------------

    def _local_source(self, source: str, model_id: str | None) -> ModelSource | None:
        """Where ``source`` lives in this repository, with files to snapshot; None for a source
        outside it (a run or logged model it does not have, any other URI or path) and for a
        logged model of this repository that has no files. A path in one of this repository's
        runs that is no logged model and holds no files stays an error (a typo)."""
        if source.startswith(RUNS_SCHEME):
            try:
                found = self.locate(source, model_id)
            except (ResourceDoesNotExist, InvalidParameterValue):
                return None  # a run this repository does not have
            if self._is_logged_model(found) and not self._has_files(found):
                return None  # a logged model whose files were never uploaded
            return found
        elif source.startswith(MODELS_SCHEME):
            reference = parse_models_uri(source)
            if reference.model_id is None:
                return self.locate(source, model_id)
        else:
            return None
        try:
            found = self.locate(source, model_id)
        except ResourceDoesNotExist:
            return None  # a logged model this repository does not have
        if found.model_id is not None and not self._has_files(found):
            return None
        return found

    def _is_logged_model(self, found: ModelSource) -> bool:
        """Whether the run lists a logged model at this path (not just any directory)."""
        outputs = self.repo.runs.get(found.run_id).outputs
        return any(output["artifact_path"] == found.artifact_path for output in outputs)

    def _has_files(self, found: ModelSource) -> bool:
        """Whether the model directory holds files (in the working tree: nothing is committed
        just to find out, so a run still running makes no extra commit)."""
        directory = self.repo.runs.locate(found.run_id) / "artifacts" / found.artifact_path
        return directory.is_dir() and any(path.is_file() for path in directory.rglob("*"))

    def locate(self, source: str, model_id: str | None = None) -> ModelSource:
        """The run directory holding the model a ``runs:/`` or ``models:/`` URI names."""
        runs = self.repo.runs
        if source.startswith(RUNS_SCHEME):
            parsed = parse_runs_uri(source)
            relative = validation.artifact_path(parsed.path)
            record = runs.get(runs.resolve_id(parsed.run_id))
            output = next((o for o in record.outputs if o["artifact_path"] == relative), None)
            return ModelSource(
                record.run_id,
                record.experiment_id,
                relative,
                (output or {}).get("model_id") or model_id,
            )
        if source.startswith(MODELS_SCHEME):
            reference = parse_models_uri(source)
            if reference.model_id is not None:
                for record in runs.records(None, ViewType.ALL):
                    for output in record.outputs:
                        if (
                            output["model_id"] == reference.model_id
                            and output.get("lifecycle_stage") != "deleted"
                        ):
                            return ModelSource(
                                record.run_id,
                                record.experiment_id,
                                output["artifact_path"],
                                reference.model_id,
                            )
                raise ResourceDoesNotExist(
                    f"No logged model {reference.model_id} in this repository."
                )
            tagged = self.tagged_version(reference.name or "", self.reference_version(reference))
            return ModelSource(
                tagged.run_id, tagged.experiment_id, tagged.artifact_path, tagged.model_id
            )
        raise InvalidParameterValue(
            f"Cannot register {source!r}: register a logged model (runs:/<run_id>/<path> or models:/m-<id>)."
        )

    def register(
        self,
        name: str,
        source: str,
        model_id: str | None = None,
        run_id: str | None = None,
        then: Callable[[TaggedVersion], object] | None = None,
    ) -> Registration:
        """Tag the model at ``source`` as the next version of ``name`` (creating the model).

        Everything is checked before anything is written, so a failed registration
        changes nothing. The run is committed first, so the tag points at a commit
        that holds its files; the tag records their sha256. A run this process is
        still running is registered right after its final commit (one commit per
        run, never one that says RUNNING): the version is pending until then.
        ``then`` runs once the version is tagged.

        A source outside this repository (see ``_local_source``) is tagged on the
        current commit with no files (``external``), as MLflow's
        ``create_model_version`` accepts it; a ``runs:/`` URI of a run this repository
        lacks is accepted only with its ``run_id`` given explicitly, so a mistyped run
        id (``mltrack models register``, ``register_model``) stays an error.
        """
        name = validate_model_name(name)
        found = self._local_source(source, model_id)
        if found is None:
            if source.startswith(RUNS_SCHEME) and not run_id:
                self.locate(source, model_id)  # raises: no such run here
            if run_id:
                validation.source_run_id(run_id)
            tagged = self._register_external(name, source, model_id, run_id)
            if then is not None:
                then(tagged)
            return Registration(name, tagged.version, None, tagged)
        relative = f"artifacts/{found.artifact_path}/MLmodel"
        if not (self.repo.runs.locate(found.run_id) / relative).is_file():
            raise ResourceDoesNotExist(
                f"Run {found.run_id} has no model at '{found.artifact_path}' (no MLmodel file). "
                f"List its artifacts with `mltrack artifacts list {found.run_id[:8]}`."
            )
        if not self.repo.runs.running_here(found.run_id):
            tagged = self._tag(name, found)
            if then is not None:
                then(tagged)
            return Registration(name, tagged.version, found, tagged)
        runs = self.repo.runs
        waiting = [
            action
            for action in runs.pending_after_commit()
            if isinstance(action, _PendingVersion) and action.name == name
        ]
        number = max(self.version_numbers(name), default=0) + 1 + len(waiting)
        runs.after_commit(found.run_id, _PendingVersion(self, name, found, then))
        return Registration(name, number, found, None)

    def _tag(self, name: str, found: ModelSource) -> TaggedVersion:
        """Commit the source run, create the model if needed, tag the next version number."""
        self.repo.runs.commit_run(found.run_id, force=True)
        commit = self.git.head().commit
        model_dir = f"{MLTRACK_DIR}/experiments/{found.experiment_id}/runs/{found.run_id}/artifacts/{found.artifact_path}"
        entries = self.git.history.list_files(commit, model_dir) if commit is not None else []
        if commit is None or not entries:
            raise ResourceDoesNotExist(f"No model files at {model_dir} in the current commit.")
        files = {
            entry.path[len(model_dir) + 1 :]: content_sha256(self.git.objects.blob(entry.sha))
            for entry in entries
        }
        if "MLmodel" not in files:
            raise ResourceDoesNotExist(f"{model_dir} is not a model directory (no MLmodel file).")
        self._create_if_missing(name)
        commit = self.git.head().commit or commit
        return self._tag_next(
            TaggedVersion(
                name=name,
                version=0,
                commit=commit,
                tag="",
                run_id=found.run_id,
                experiment_id=found.experiment_id,
                artifact_path=found.artifact_path,
                model_id=found.model_id,
                source=found.uri,
                files=files,
                created_ms=self.now(),
                author="",
                head=self.git.head().commit,
            )
        )

    def _register_external(
        self, name: str, source: str, model_id: str | None, run_id: str | None
    ) -> TaggedVersion:
        commit = self.git.head().commit
        if commit is None:
            raise InvalidParameterValue(
                f"Cannot register {source!r}: the repository has no commit to tag yet."
            )
        self._create_if_missing(name)
        commit = self.git.head().commit or commit
        return self._tag_next(
            TaggedVersion(
                name=name,
                version=0,
                commit=commit,
                tag="",
                run_id=run_id or "",
                experiment_id="",
                artifact_path="",
                model_id=model_id,
                source=source,
                files={},
                created_ms=self.now(),
                author="",
                head=commit,
                external=True,
            )
        )

    def _tag_next(self, draft: TaggedVersion) -> TaggedVersion:
        """``draft`` tagged as the model's next free version number."""
        for _attempt in range(_MAX_ALLOCATION_ATTEMPTS):
            number = max(self.version_numbers(draft.name), default=0) + 1
            tagged = replace(draft, version=number, tag=version_tag(draft.name, number))
            try:
                self.git.create_tag(
                    tagged.tag, tagged.commit, tagged.message(), author=current_author()
                )
                return tagged
            except SigningError:
                raise  # the key is at fault, not the number
            except GitError:
                continue  # another process took this number: try the next
        raise GitError(f"Could not allocate a version number for {draft.name!r}.")

    def _create_if_missing(self, name: str) -> None:
        existing = self.read(name)
        if existing is None or existing.deleted:
            self.create(name, None, {}, existing)

    def create(
        self,
        name: str,
        description: str | None,
        tags: dict[str, str],
        previous: ModelDocument | None = None,
    ) -> ModelDocument:
        """A new model.yaml for ``name``, committed; a deleted model's version entries are kept."""
        document = ModelDocument.new(
            name, description, tags, previous.versions if previous else None, created_ms=self.now()
        )
        return self.save(document, f"Create registered model {name!r}")

    # -- resolving and extracting ----------------------------------------------------------

    def reference_version(self, reference: ModelReference) -> int:
        """The version number a ``models:/<name>/...`` reference selects."""
        name = reference.name or ""
        if reference.version is not None:
            self.get(name)
            return reference.version
        tags = self.versions_of(name)
        document, problems = self.pinned(self.get(name), tags)
        if reference.alias is not None and reference.alias not in document.aliases:
            for problem in problems:
                if problem.field == f"aliases.{reference.alias}":
                    raise IntegrityError(f"Registered model {name!r}: {problem}.")
        if reference.alias is not None:
            number = document.aliases.get(reference.alias)
            if number is None:
                raise ResourceDoesNotExist(
                    f"Registered model {name!r} has no alias {reference.alias!r}."
                )
            return number
        live = [n for n in sorted(tags) if not document.is_deleted(n)]
        if reference.latest:
            if not live:
                raise ResourceDoesNotExist(f"Registered model {name!r} has no versions.")
            return live[-1]
        stage = canonical_stage(reference.stage or "")
        in_stage = [n for n in live if document.version(n).current_stage == stage]
        if not in_stage:
            raise ResourceDoesNotExist(
                f"Registered model {name!r} has no version in stage {stage}."
            )
        return in_stage[-1]

    def resolve(self, reference: ModelReference) -> tuple[TaggedVersion, Path]:
        """The tagged version a reference names and its extracted files (deleted ones refused)."""
        number = self.reference_version(reference)
        tagged = self.tagged_version(reference.name or "", number)
        if self.get(tagged.name).is_deleted(number):
            raise ResourceDoesNotExist(f"Model {tagged.name!r} version {number} was deleted.")
        return tagged, self.materialize(tagged)

    def materialize(self, tagged: TaggedVersion) -> Path:
        """The version's files, extracted once from its tagged commit into ``.git/mltrack/models/``."""
        if tagged.external:
            raise ResourceDoesNotExist(
                f"Model {tagged.name!r} version {tagged.version} was registered from "
                f"{tagged.source!r}, outside this repository, and has no files here: load its "
                "files from that source."
            )
        entry = self.git.history.tree_entry(tagged.commit, tagged.model_dir)
        if entry is None:
            raise IntegrityError(f"Tag {tagged.tag} points to a commit without {tagged.model_dir}.")
        target = self.repo.private_dir / "models" / entry.sha
        if target.is_dir():
            return target
        files = self._extractable_files(tagged)
        target.parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
        try:
            for relative, sha in files:
                destination = safepath.inside(build, relative, "file in the tagged tree")
                destination.parent.mkdir(parents=True, exist_ok=True)
                try:
                    destination.write_bytes(
                        self.git.large_files.smudge(
                            self.git.objects.blob(sha), f"{tagged.model_dir}/{relative}"
                        )
                    )
                except (IsADirectoryError, NotADirectoryError):
                    raise IntegrityError(
                        f"Tag {tagged.tag}: {relative!r} is both a file and a directory in the "
                        "tagged tree; refusing to extract it."
                    ) from None
            try:
                build.rename(target)
            except OSError:  # another process extracted it first
                shutil.rmtree(build, ignore_errors=True)
        finally:
            if build.exists():
                shutil.rmtree(build, ignore_errors=True)
        return target

    def _extractable_files(self, tagged: TaggedVersion) -> list[tuple[str, str]]:
        """(path under the model directory, blob id) of every file, all checked before any write.

        The tree may come from anyone (``git fetch``): a ``..`` or ``.git``
        component, or an entry that is not a file, refuses the whole version.
        """
        prefix = f"{tagged.model_dir}/"
        files = []
        try:
            safepath.tree_path(tagged.model_dir, "model directory")
        except InvalidParameterValue as error:
            raise IntegrityError(f"Tag {tagged.tag}: {error.message}") from None
        for file in self.git.history.list_files(tagged.commit, tagged.model_dir):
            try:
                if not file.path.startswith(prefix) or file.mode not in _FILE_MODES:
                    raise InvalidParameterValue(f"{file.path!r} is not a file (mode {file.mode})")
                files.append((safepath.tree_path(file.path.removeprefix(prefix)), file.sha))
            except InvalidParameterValue as error:
                raise IntegrityError(
                    f"Tag {tagged.tag} holds a file mltrack will not extract: {error.message} "
                    "The tag did not come from mltrack; delete it (`git tag -d`)."
                ) from None
        return files

    def snapshot(self, key: str) -> Path:
        """The extracted files of a registered version, by the tree id that names their directory."""
        if not isinstance(key, str) or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", key):
            raise InvalidParameterValue(f"Invalid model snapshot id {key!r}.")
        directory = self.repo.private_dir / "models" / key
        if not directory.is_dir():
            raise ResourceDoesNotExist(
                f"No extracted model files {key}; ask for the version's download URI first."
            )
        return directory
