"""The registry of one repository: MlflowClient's registry methods over tags and model.yaml."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mltrack import safepath, search
from mltrack.authorship import current_author
from mltrack.exceptions import (
    GitError,
    IntegrityError,
    InvalidParameterValue,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from mltrack.gitstore import MLTRACK_DIR, TagInfo
from mltrack.models.uri import ModelReference, ResolvedModel, parse_models_uri
from mltrack.registry import review
from mltrack.registry.names import (
    TAG_PREFIX,
    canonical_stage,
    encode_name,
    model_tag_prefix,
    parse_version_tag,
    validate_alias,
    validate_model_name,
    version_number,
    version_tag,
)
from mltrack.registry.records import (
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
    TaggedVersion,
    latest_per_stage,
)
from mltrack.store import schema, validation, yamlio
from mltrack.store.files import atomic_write
from mltrack.store.repository import Repository, now_ms

__all__ = ["Registry"]

# Parsed version tags by tag object id: a tag object never changes, so this is never stale,
# and every Registry of the process (one per client) shares it.
_PARSED_TAGS: dict[str, TaggedVersion] = {}
_PARSED_TAGS_MAX = 100_000
_FILE_MODES = ("100644", "100755", "120000")  # blobs: regular, executable, symlink (as text)


def _parse(info: TagInfo) -> TaggedVersion | None:
    """The version a tag records, or None for a tag mltrack did not make."""
    parsed = parse_version_tag(info.name)
    if parsed is None:
        return None
    cached = _PARSED_TAGS.get(info.sha) if info.sha else None
    if cached is not None and (cached.name, cached.version) == parsed:
        return cached
    try:
        version = TaggedVersion.from_tag(info, *parsed)
    except (IntegrityError, ValueError, KeyError):
        return None
    if info.sha:
        if len(_PARSED_TAGS) >= _PARSED_TAGS_MAX:
            _PARSED_TAGS.clear()
        _PARSED_TAGS[info.sha] = version
    return version


def _search(
    records: list[Any],
    entity: str,
    filter_string: str | None,
    order_by: list[str] | None,
    max_results: int,
    page_token: str | None,
) -> Any:
    """One page of ``records`` matching MLflow's filter, in MLflow's order."""
    from mltrack.tracking.client import paginate

    matcher = search.parse_filter(filter_string, entity)
    order = search.parse_order_by(order_by, entity)
    found = search.sort_records([r for r in records if matcher.matches(r)], order, entity)
    return paginate(found, max_results, page_token)


class Registry:
    """The registered models of one repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.git = repo.git

    @classmethod
    def current(cls) -> Registry:
        from mltrack.tracking.fluent import client

        return cls(client().repository)

    # -- storage -------------------------------------------------------------------

    def _doc_rel(self, name: str) -> str:
        return f"{MLTRACK_DIR}/models/{encode_name(name)}/model.yaml"

    def _read_doc(self, name: str, commit: str | None = None) -> dict[str, Any] | None:
        rel = self._doc_rel(name)
        if commit is None:
            path = self.repo.root / rel
            if not path.is_file():
                return None
            raw = path.read_bytes()
        else:
            found = self.git.read_blob(commit, rel)
            if found is None:
                return None
            raw = found
        return Repository.parse_yaml(raw, "model", rel)

    def _doc(self, name: str) -> dict[str, Any]:
        doc = self._read_doc(validate_model_name(name))
        if doc is None or doc.get("deleted"):
            raise ResourceDoesNotExist(
                f"Registered model {name!r} not found. List models with `mltrack models list`."
            )
        return doc

    def _save(
        self,
        name: str,
        doc: dict[str, Any],
        subject: str,
        *,
        body: str = "",
        trailers: dict[str, str] | None = None,
        branch: str | None = None,
    ) -> str | None:
        doc["last_updated_timestamp"] = now_ms()
        rel = self._doc_rel(name)
        schema.validate_for_write("model", doc, rel)
        data = yamlio.dump(doc)
        footer = {"Mltrack-Model": name, **(trailers or {})}
        message = (
            subject
            + ("\n\n" + body.strip() if body.strip() else "")
            + "\n\n"
            + "\n".join(f"{k}: {v}" for k, v in footer.items())
        )
        if branch is not None:
            head = self.git.head().commit
            if head is None:
                raise GitError(
                    "The repository has no commits yet; commit before proposing a change on a branch."
                )
            self._check_branch_name(branch)
            return self.git.commit(
                {rel: data},
                message + "\n",
                ref=f"refs/heads/{branch}",
                create_from=head,
                author=current_author(),
            )
        self.repo.ensure_initialized()
        atomic_write(self.repo.root / rel, data)
        return self.repo.commit([rel], subject, body=body, trailers=footer)

    def _check_branch_name(self, branch: str) -> None:
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

    def _tagged(self, prefix: str = f"{TAG_PREFIX}/") -> dict[str, dict[int, TaggedVersion]]:
        """The version tags under ``prefix`` by model and number (one ``git for-each-ref``)."""
        found: dict[str, dict[int, TaggedVersion]] = {}
        for info in self.git.list_tags(prefix):
            parsed = _parse(info)
            if parsed is not None:
                found.setdefault(parsed.name, {})[parsed.version] = parsed
        return found

    def _versions_of(self, name: str) -> dict[int, TaggedVersion]:
        return self._tagged(model_tag_prefix(name)).get(name, {})

    def _version_numbers(self, name: str) -> list[int]:
        """The numbers of a model's version tags, from ref names alone (no tag is read)."""
        prefix = f"refs/tags/{model_tag_prefix(name)}"
        return [
            parsed[1]
            for ref in self.git.ref_names(prefix)
            if (parsed := parse_version_tag(ref.removeprefix("refs/tags/"))) is not None
        ]

    def _tagged_version(self, name: str, version: Any) -> TaggedVersion:
        number = version_number(version)
        info = self.git.read_tag(version_tag(name, number))
        tagged = _parse(info) if info is not None else None
        if tagged is None:
            raise ResourceDoesNotExist(
                f"Model {name!r} has no version {number}"
                + (
                    " (its tag is missing in this clone: run `git fetch --tags`)."
                    if self._read_doc(name)
                    else "."
                )
            )
        return tagged

    # -- entities ------------------------------------------------------------------

    def _model_version(self, tagged: TaggedVersion, doc: dict[str, Any]) -> ModelVersion:
        meta = (doc.get("versions") or {}).get(str(tagged.version), {})
        aliases = sorted(a for a, v in (doc.get("aliases") or {}).items() if v == tagged.version)
        return ModelVersion(
            name=tagged.name,
            version=tagged.version,
            creation_timestamp=tagged.created_ms,
            last_updated_timestamp=meta.get("last_updated_timestamp", tagged.created_ms),
            user_id=tagged.author,
            current_stage=meta.get("stage", "None"),
            description=meta.get("description") or "",
            source=tagged.source,
            run_id=tagged.run_id,
            tags=dict(meta.get("tags") or {}),
            aliases=aliases,
            model_id=tagged.model_id,
            commit=tagged.commit,
            tag=tagged.tag,
        )

    def _live_versions(
        self, name: str, doc: dict[str, Any], tags: dict[int, TaggedVersion] | None = None
    ) -> list[ModelVersion]:
        """The versions not deleted; ``tags``: the model's version tags, when already listed."""
        meta = doc.get("versions") or {}
        return [
            self._model_version(tagged, doc)
            for number, tagged in sorted(
                (self._versions_of(name) if tags is None else tags).items()
            )
            if not meta.get(str(number), {}).get("deleted")
        ]

    def _registered_model(
        self, doc: dict[str, Any], tags: dict[int, TaggedVersion] | None = None
    ) -> RegisteredModel:
        versions = self._live_versions(doc["name"], doc, tags)
        return RegisteredModel(
            name=doc["name"],
            creation_timestamp=doc["creation_timestamp"],
            last_updated_timestamp=doc.get("last_updated_timestamp", doc["creation_timestamp"]),
            description=doc.get("description") or "",
            latest_versions=latest_per_stage(versions, None),
            tags=dict(doc.get("tags") or {}),
            aliases=dict(doc.get("aliases") or {}),
        )

    def _all_docs(self) -> list[dict[str, Any]]:
        models_dir = self.repo.dir / "models"
        docs = []
        for path in sorted(models_dir.glob("*/model.yaml")) if models_dir.is_dir() else []:
            doc = Repository.parse_yaml(path.read_bytes(), "model", self.repo.rel(path))
            if not doc.get("deleted"):
                docs.append(doc)
        return docs

    # -- registered models -------------------------------------------------------------

    def create_registered_model(
        self, name: str, tags: dict[str, Any] | None = None, description: str | None = None
    ) -> RegisteredModel:
        name = validate_model_name(name)
        existing = self._read_doc(name)
        if existing is not None and not existing.get("deleted"):
            raise ResourceAlreadyExists(f"Registered Model (name={name}) already exists.")
        now = now_ms()
        doc: dict[str, Any] = {
            "name": name,
            "creation_timestamp": now,
            "last_updated_timestamp": now,
            "description": description or "",
            "tags": {
                validation.key(k, "tag key"): validation.tag_value(k, v, 100_000)
                for k, v in (tags or {}).items()
            },
            "aliases": {},
            "versions": dict((existing or {}).get("versions") or {}),
        }
        self._save(name, doc, f"Create registered model {name!r}")
        return self._registered_model(doc)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._registered_model(self._doc(name))

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> list[RegisteredModel]:
        every = self._tagged()  # one listing for all models
        models = [self._registered_model(d, every.get(d["name"], {})) for d in self._all_docs()]
        return _search(
            models,
            search.ENTITY_REGISTERED_MODELS,
            filter_string,
            order_by,
            max_results,
            page_token,
        )

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        doc = self._doc(name)
        new_name = validate_model_name(new_name)
        other = self._read_doc(new_name)
        if other is not None and not other.get("deleted"):
            raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.")
        if self._versions_of(new_name):
            raise ResourceAlreadyExists(
                f"Versions of {new_name!r} already exist as tags; choose another name."
            )
        moved = []
        for number, tagged in sorted(self._versions_of(name).items()):
            renamed = TaggedVersion(
                **{**tagged.__dict__, "name": new_name, "tag": version_tag(new_name, number)}
            )
            self.git.create_tag(
                renamed.tag,
                tagged.commit,
                renamed.message() + f"renamed_from: {json.dumps(name)}\n",
                author=current_author(),
            )
            moved.append(tagged.tag)
        new_doc = dict(doc, name=new_name, renamed_from=[*doc.get("renamed_from", []), name])
        old_rel = self._doc_rel(name)
        rel = self._doc_rel(new_name)
        schema.validate_for_write("model", new_doc, rel)
        atomic_write(self.repo.root / rel, yamlio.dump(new_doc))
        (self.repo.root / old_rel).unlink()
        self.repo.commit(
            [old_rel, rel],
            f"Rename registered model {name!r} to {new_name!r}",
            trailers={"Mltrack-Model": new_name},
        )
        for tag in moved:
            self.git.delete_ref(f"refs/tags/{tag}")
        return self._registered_model(new_doc)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        doc = self._doc(name)
        doc["description"] = description or ""
        self._save(name, doc, f"Describe registered model {name!r}")
        return self._registered_model(doc)

    def delete_registered_model(self, name: str) -> None:
        """A recorded event: the model and its versions are marked deleted; the tags stay."""
        doc = self._doc(name)
        doc["deleted"] = True
        doc["aliases"] = {}
        versions = doc.setdefault("versions", {})
        for number in self._versions_of(name):
            versions.setdefault(str(number), {})["deleted"] = True
        self._save(name, doc, f"Delete registered model {name!r}")

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        doc = self._doc(name)
        key = validation.key(key, "tag key")
        doc.setdefault("tags", {})[key] = validation.tag_value(key, value, 100_000)
        self._save(name, doc, f"Tag registered model {name!r}: {key}")

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        doc = self._doc(name)
        if key not in doc.get("tags", {}):
            raise ResourceDoesNotExist(f"Registered model {name!r} has no tag {key!r}.")
        del doc["tags"][key]
        self._save(name, doc, f"Untag registered model {name!r}: {key}")

    # -- versions -------------------------------------------------------------------------

    def _source_location(
        self, source: str, run_id: str | None, model_id: str | None
    ) -> tuple[str, str, str, str | None]:
        """(run_id, experiment_id, artifact_path, model_id) of the model a source URI names."""
        from mltrack.entities import ViewType

        runs = self.repo.runs
        if source.startswith("runs:/"):
            body = source[len("runs:/") :].strip("/")
            found_run, _, relative = body.partition("/")
            relative = validation.artifact_path(relative)
            record = runs.get(validation.run_id(found_run))
            output = next((o for o in record.outputs if o["artifact_path"] == relative), None)
            return (
                record.run_id,
                record.experiment_id,
                relative,
                (output or {}).get("model_id") or model_id,
            )
        if source.startswith("models:/"):
            reference = parse_models_uri(source)
            if reference.model_id is not None:
                for record in runs.records(None, ViewType.ALL):
                    for output in record.outputs:
                        if output["model_id"] == reference.model_id:
                            return (
                                record.run_id,
                                record.experiment_id,
                                output["artifact_path"],
                                reference.model_id,
                            )
                raise ResourceDoesNotExist(
                    f"No logged model {reference.model_id} in this repository."
                )
            tagged = self._tagged_version(reference.name or "", self._reference_version(reference))
            return tagged.run_id, tagged.experiment_id, tagged.artifact_path, tagged.model_id
        raise InvalidParameterValue(
            f"Cannot register {source!r}: register a logged model (runs:/<run_id>/<path> or models:/m-<id>)."
        )

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        **_: Any,
    ) -> ModelVersion:
        """Register the model at ``source`` as the next version: an annotated tag on the commit holding it."""
        name = validate_model_name(name)
        doc = self._read_doc(name)
        created = doc is None or bool(doc.get("deleted"))
        if created:
            self.create_registered_model(name)
            doc = self._doc(name)
        assert doc is not None
        found_run, experiment_id, relative, found_model_id = self._source_location(
            source, run_id, model_id
        )
        self.repo.runs.commit_run(found_run, force=True)
        commit = self.git.head().commit
        model_dir = (
            f"{MLTRACK_DIR}/experiments/{experiment_id}/runs/{found_run}/artifacts/{relative}"
        )
        if commit is None or not self.git.list_files(commit, model_dir):
            raise ResourceDoesNotExist(f"No model files at {model_dir} in the current commit.")
        files = {
            entry.path[len(model_dir) + 1 :]: hashlib.sha256(self.git.blob(entry.sha)).hexdigest()
            for entry in self.git.list_files(commit, model_dir)
        }
        if "MLmodel" not in files:
            raise ResourceDoesNotExist(f"{model_dir} is not a model directory (no MLmodel file).")
        for _attempt in range(100):
            number = max(self._version_numbers(name), default=0) + 1
            tagged = TaggedVersion(
                name=name,
                version=number,
                commit=commit,
                tag=version_tag(name, number),
                run_id=found_run,
                experiment_id=experiment_id,
                artifact_path=relative,
                model_id=found_model_id,
                source=f"models:/{found_model_id}"
                if found_model_id
                else f"runs:/{found_run}/{relative}",
                files=files,
                created_ms=now_ms(),
                author="",
                head=self.git.head().commit,
            )
            try:
                self.git.create_tag(tagged.tag, commit, tagged.message(), author=current_author())
                break
            except GitError:
                continue  # another process took this number: try the next
        else:
            raise GitError(f"Could not allocate a version number for {name!r}.")
        extra: dict[str, Any] = {}
        if description:
            extra["description"] = description
        if tags:
            extra["tags"] = {
                validation.key(k, "tag key"): validation.tag_value(k, v, 100_000)
                for k, v in tags.items()
            }
        if extra:
            doc.setdefault("versions", {}).setdefault(str(number), {}).update(extra)
            self._save(
                name,
                doc,
                f"Describe {name!r} version {number}",
                trailers={"Mltrack-Version": str(number)},
            )
        return self.get_model_version(name, number)

    def get_model_version(self, name: str, version: Any) -> ModelVersion:
        doc = self._doc(name)
        tagged = self._tagged_version(name, version)
        if (doc.get("versions") or {}).get(str(tagged.version), {}).get("deleted"):
            raise ResourceDoesNotExist(f"Model {name!r} version {tagged.version} was deleted.")
        return self._model_version(tagged, doc)

    def _update_version(
        self, name: str, version: Any, subject: str, branch: str | None = None, **changes: Any
    ) -> ModelVersion:
        self.get_model_version(name, version)
        doc = self._doc(name)
        number = version_number(version)
        entry = doc.setdefault("versions", {}).setdefault(str(number), {})
        entry.update(changes)
        entry["last_updated_timestamp"] = now_ms()
        self._save(name, doc, subject, trailers={"Mltrack-Version": str(number)}, branch=branch)
        return self._model_version(self._tagged_version(name, number), doc)

    def update_model_version(
        self, name: str, version: Any, description: str | None = None
    ) -> ModelVersion:
        return self._update_version(
            name,
            version,
            f"Describe {name!r} version {version_number(version)}",
            description=description or "",
        )

    def delete_model_version(self, name: str, version: Any) -> None:
        """A recorded event in model.yaml; the tag (and the files it holds) stay."""
        number = version_number(version)
        self.get_model_version(name, number)
        doc = self._doc(name)
        doc.setdefault("versions", {}).setdefault(str(number), {})["deleted"] = True
        doc["aliases"] = {a: v for a, v in (doc.get("aliases") or {}).items() if v != number}
        self._save(
            name,
            doc,
            f"Delete {name!r} version {number}",
            trailers={"Mltrack-Version": str(number)},
        )

    def set_model_version_tag(self, name: str, version: Any, key: str, value: Any) -> None:
        current = self.get_model_version(name, version)
        key = validation.key(key, "tag key")
        tags = dict(current.tags, **{key: validation.tag_value(key, value, 100_000)})
        self._update_version(
            name, version, f"Tag {name!r} version {current.version}: {key}", tags=tags
        )

    def delete_model_version_tag(self, name: str, version: Any, key: str) -> None:
        current = self.get_model_version(name, version)
        if key not in current.tags:
            raise ResourceDoesNotExist(
                f"Model {name!r} version {current.version} has no tag {key!r}."
            )
        tags = {k: v for k, v in current.tags.items() if k != key}
        self._update_version(
            name, version, f"Untag {name!r} version {current.version}: {key}", tags=tags
        )

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> list[ModelVersion]:
        every = self._tagged()  # one listing for all models
        versions = [
            version
            for doc in self._all_docs()
            for version in self._live_versions(doc["name"], doc, every.get(doc["name"], {}))
        ]
        return _search(
            versions, search.ENTITY_MODEL_VERSIONS, filter_string, order_by, max_results, page_token
        )

    def get_model_version_download_uri(self, name: str, version: Any) -> str:
        """A ``file://`` URI of the version's files as its tag holds them (see ``snapshot``)."""
        version_dir = self._materialize(self._tagged_version(name, version))
        return version_dir.as_uri()

    def snapshot(self, key: str) -> Path:
        """The extracted files of a registered version, by the tree id that names their directory.

        ``get_model_version_download_uri`` extracts them (once) and returns their
        location; a server hands out the key so clients can download them, even
        after the run's files left the branch.
        """
        if not isinstance(key, str) or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", key):
            raise InvalidParameterValue(f"Invalid model snapshot id {key!r}.")
        directory = self.repo.private_dir / "models" / key
        if not directory.is_dir():
            raise ResourceDoesNotExist(
                f"No extracted model files {key}; ask for the version's download URI first."
            )
        return directory

    def snapshot_models(self, key: str) -> set[str]:
        """Names of the registered models with a version whose files are snapshot ``key``.

        A team server checks a reader's permission on these before it serves the files.
        """
        return {
            name
            for name, versions in self._tagged().items()
            for tagged in versions.values()
            if (entry := self.git.tree_entry(tagged.commit, tagged.model_dir)) is not None
            and entry.sha == key
        }

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name`` that was not deleted, oldest first."""
        return self._live_versions(name, self._doc(name))

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        doc = self._doc(name)
        return latest_per_stage(self._live_versions(name, doc), stages)

    # -- stages and aliases (the reviewable part) -----------------------------------------

    def transition_model_version_stage(
        self,
        name: str,
        version: Any,
        stage: str,
        archive_existing_versions: bool = False,
        branch: str | None = None,
    ) -> ModelVersion:
        stage = canonical_stage(stage)
        if archive_existing_versions and stage not in ("Staging", "Production"):
            raise InvalidParameterValue(
                f"archive_existing_versions applies only to Staging and Production, not {stage}."
            )
        doc = self._branch_base(name, branch)
        number = version_number(version)
        target = self._tagged_version(name, number)
        live = {v.version: v for v in self._live_versions(name, doc)}
        if number not in live:
            raise ResourceDoesNotExist(f"Model {name!r} has no version {number}.")
        replaced = max(
            (v for v in live.values() if v.current_stage == stage and v.version != number),
            key=lambda v: v.version,
            default=None,
        )
        versions = doc.setdefault("versions", {})
        now = now_ms()
        versions.setdefault(str(number), {}).update(stage=stage, last_updated_timestamp=now)
        archived = []
        if archive_existing_versions:
            for other in live.values():
                if other.version != number and other.current_stage == stage:
                    versions.setdefault(str(other.version), {}).update(
                        stage="Archived", last_updated_timestamp=now
                    )
                    archived.append(other.version)
        subject = f"Promote {name!r} version {number} to {stage}"
        if replaced is not None:
            subject += f" (replacing version {replaced.version})"
        body = review.comparison_text(self, replaced, live[number]) if replaced else ""
        if archived:
            body += f"\nArchived: {', '.join(f'version {v}' for v in archived)}"
        self._save(
            name,
            doc,
            subject,
            body=body,
            trailers={"Mltrack-Version": str(number), "Mltrack-Stage": stage},
            branch=branch,
        )
        return self._model_version(target, doc)

    def set_registered_model_alias(
        self, name: str, alias: str, version: Any, branch: str | None = None
    ) -> None:
        alias = validate_alias(alias)
        doc = self._branch_base(name, branch)
        number = version_number(version)
        live = {v.version: v for v in self._live_versions(name, doc)}
        if number not in live:
            raise ResourceDoesNotExist(f"Model {name!r} has no version {number}.")
        previous = (doc.get("aliases") or {}).get(alias)
        doc.setdefault("aliases", {})[alias] = number
        subject = f"Point alias {alias!r} of {name!r} at version {number}"
        if previous is not None and previous != number:
            subject += f" (was version {previous})"
        body = (
            review.comparison_text(self, live.get(previous), live[number])
            if previous in live and previous != number
            else ""
        )
        self._save(
            name,
            doc,
            subject,
            body=body,
            trailers={"Mltrack-Version": str(number), "Mltrack-Alias": alias},
            branch=branch,
        )

    def delete_registered_model_alias(
        self, name: str, alias: str, branch: str | None = None
    ) -> None:
        doc = self._branch_base(name, branch)
        if alias not in (doc.get("aliases") or {}):
            raise ResourceDoesNotExist(f"Registered model alias {alias} not found.")
        del doc["aliases"][alias]
        self._save(
            name,
            doc,
            f"Remove alias {alias!r} of {name!r}",
            trailers={"Mltrack-Alias": alias},
            branch=branch,
        )

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        doc = self._doc(name)
        number = (doc.get("aliases") or {}).get(alias)
        if number is None:
            raise ResourceDoesNotExist(
                f"Registered model alias {alias} not found for model {name!r}."
            )
        return self.get_model_version(name, number)

    def _branch_base(self, name: str, branch: str | None) -> dict[str, Any]:
        """model.yaml as the change starts from: the working tree, or HEAD for a proposal branch."""
        if branch is None:
            return self._doc(name)
        head = self.git.head().commit
        doc = self._read_doc(name, head) if head else None
        if doc is None or doc.get("deleted"):
            raise ResourceDoesNotExist(
                f"Registered model {name!r} is not committed on the current branch."
            )
        return doc

    # -- resolving, comparing, verifying, history ------------------------------------------------

    def _reference_version(self, reference: ModelReference) -> int:
        name = reference.name or ""
        doc = self._doc(name)
        if reference.version is not None:
            return reference.version
        if reference.alias is not None:
            number = (doc.get("aliases") or {}).get(reference.alias)
            if number is None:
                raise ResourceDoesNotExist(
                    f"Registered model {name!r} has no alias {reference.alias!r}."
                )
            return int(number)
        live = self._live_versions(name, doc)
        if reference.latest:
            if not live:
                raise ResourceDoesNotExist(f"Registered model {name!r} has no versions.")
            return live[-1].version
        stage = canonical_stage(reference.stage or "")
        in_stage = [v for v in live if v.current_stage == stage]
        if not in_stage:
            raise ResourceDoesNotExist(
                f"Registered model {name!r} has no version in stage {stage}."
            )
        return in_stage[-1].version

    def resolve(self, reference: ModelReference) -> ResolvedModel:
        number = self._reference_version(reference)
        tagged = self._tagged_version(reference.name or "", number)
        meta = (self._doc(tagged.name).get("versions") or {}).get(str(number), {})
        if meta.get("deleted"):
            raise ResourceDoesNotExist(f"Model {tagged.name!r} version {number} was deleted.")
        directory = self._materialize(tagged)
        files = {k: v for k, v in tagged.files.items() if k != "MLmodel"}
        return ResolvedModel(
            directory, f"{tagged.name!r} version {number}", tagged.files.get("MLmodel"), files
        )

    def _materialize(self, tagged: TaggedVersion) -> Path:
        """The version's files, extracted once from its tagged commit into ``.git/mltrack/models/``."""
        entry = self.git.tree_entry(tagged.commit, tagged.model_dir)
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
                    destination.write_bytes(self.git.blob(sha))
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
        for file in self.git.list_files(tagged.commit, tagged.model_dir):
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

    # -- reading for review (mltrack.registry.review) -------------------------------------

    def compare(self, name: str, version_a: Any, version_b: Any) -> dict[str, Any]:
        """Params, metrics, signature and data lineage of two versions, side by side."""
        return review.compare(self, name, version_a, version_b)

    def verify(self) -> list[str]:
        """Every version's files (tag snapshot and working tree) checked against their hashes."""
        return review.verify(self)

    def history(self, name: str) -> list[RegistryEvent]:
        """Registrations (from tags) and every model.yaml change (from commits), in commit order."""
        return review.history(self, name)
