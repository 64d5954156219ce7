"""The registry of one repository: MlflowClient's registry methods over tags and model.yaml.

:class:`Registry` is the MLflow-facing service: it checks input, turns
:class:`~mltrack.store.model_document.ModelDocument` and version tags into
MLflow's entities, and words every change as a commit a reviewer can read.
Storage (model.yaml, tag allocation, extraction) is
:class:`~mltrack.store.model_store.ModelStore`'s; reading for review is
:mod:`mltrack.registry.review`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mltrack import search
from mltrack.exceptions import (
    InvalidParameterValue,
    InvalidState,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from mltrack.paging import PagedList, paginate
from mltrack.registry import review
from mltrack.registry.records import (
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
    latest_per_stage,
)
from mltrack.store import validation
from mltrack.store.model_document import ModelDocument, Replaced
from mltrack.store.model_names import (
    canonical_stage,
    validate_alias,
    validate_model_name,
    version_number,
)
from mltrack.store.model_store import ModelStore
from mltrack.store.model_tags import TaggedVersion
from mltrack.store.repository import Repository
from mltrack.uris import RUNS_SCHEME, ModelReference, parse_runs_uri

__all__ = ["Registry"]

_MAX_TAG_VALUE = 100_000


def _clean_tags(tags: dict[str, Any] | None) -> dict[str, str]:
    return {
        validation.key(k, "tag key"): validation.tag_value(k, v, _MAX_TAG_VALUE)
        for k, v in (tags or {}).items()
    }


def _search(
    records: Sequence[Any],
    entity: str,
    filter_string: str | None,
    order_by: list[str] | None,
    max_results: int | None,
    page_token: str | None,
) -> PagedList:
    """One page of ``records`` matching MLflow's filter, in MLflow's order."""
    matcher = search.parse_filter(filter_string, entity)
    order = search.parse_order_by(order_by, entity)
    found = search.sort_records([r for r in records if matcher.matches(r)], order, entity)
    return paginate(found, max_results, page_token)


class Registry:
    """The registered models of one repository (MlflowClient's registry methods)."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.store = ModelStore(repo)

    # -- entities ------------------------------------------------------------------

    def _model_version(self, tagged: TaggedVersion, document: ModelDocument) -> ModelVersion:
        """``document``: as :meth:`ModelStore.pinned` numbers it for this clone's tags."""
        entry = document.version(tagged.version)
        updated = tagged.created_ms
        if entry.updated_ms is not None:
            updated = max(updated, entry.updated_ms)
        elif document.updated_ms is None and tagged.version in document.versions:
            # a file written without clocks: the entry changed when model.yaml last did
            updated = max(updated, self.store.clocks(document)[1])
        return ModelVersion(
            name=tagged.name,
            version=tagged.version,
            creation_timestamp=tagged.created_ms,
            last_updated_timestamp=updated,
            user_id=tagged.author,
            current_stage=entry.current_stage,
            description=entry.description or "",
            source=tagged.source,
            run_id=tagged.run_id,
            tags=dict(entry.tags or {}),
            aliases=document.aliases_of(tagged.version),
            model_id=tagged.model_id,
            commit=tagged.commit,
            tag=tagged.tag,
        )

    def _live_versions(
        self, document: ModelDocument, tags: dict[int, TaggedVersion] | None = None
    ) -> list[ModelVersion]:
        """The versions not deleted; ``tags``: the model's version tags, when already listed."""
        tagged = self.store.versions_of(document.name) if tags is None else tags
        document, _ = self.store.pinned(document, tagged)
        return [
            self._model_version(version, document)
            for number, version in sorted(tagged.items())
            if not document.is_deleted(number)
        ]

    def _registered_model(
        self, document: ModelDocument, tags: dict[int, TaggedVersion] | None = None
    ) -> RegisteredModel:
        tagged = self.store.versions_of(document.name) if tags is None else tags
        created, updated = self.store.clocks(document)
        # registering a version changes the model (as MLflow), without a commit of model.yaml
        updated = max([updated, *(version.created_ms for version in tagged.values())])
        return RegisteredModel(
            name=document.name,
            creation_timestamp=created,
            last_updated_timestamp=updated,
            description=document.description or "",
            latest_versions=latest_per_stage(self._live_versions(document, tagged), None),
            tags=dict(document.tags),
            aliases=dict(self.store.pinned(document, tagged)[0].aliases),
        )

    # -- registered models -------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        **_: Any,
    ) -> RegisteredModel:
        name = validate_model_name(name)
        existing = self.store.read(name)
        if existing is not None and not existing.deleted:
            raise ResourceAlreadyExists(f"Registered Model (name={name}) already exists.")
        return self._registered_model(
            self.store.create(name, description, _clean_tags(tags), existing)
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._registered_model(self.store.get(name))

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        every = self.store.tagged()  # one listing for all models
        models = [self._registered_model(d, every.get(d.name, {})) for d in self.store.all()]
        return _search(
            models,
            search.ENTITY_REGISTERED_MODELS,
            filter_string,
            order_by,
            max_results,
            page_token,
        )

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        document = self.store.get(name)
        new_name = validate_model_name(new_name)
        other = self.store.read(new_name)
        if other is not None and not other.deleted:
            raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.")
        if self.store.versions_of(new_name):
            raise ResourceAlreadyExists(
                f"Versions of {new_name!r} already exist as tags; choose another name."
            )
        return self._registered_model(self.store.rename(document, new_name))

    def update_registered_model(
        self, name: str, description: str | None = None, **_: Any
    ) -> RegisteredModel:
        document = self.store.get(name)
        changed = replace(
            self.store.touched(document, self.store.now()), description=description or ""
        )
        return self._registered_model(
            self.store.save(changed, f"Describe registered model {name!r}")
        )

    def delete_registered_model(self, name: str) -> None:
        """A recorded event: the model and its versions are marked deleted; the tags stay."""
        document = self.store.get(name)
        for number in self.store.versions_of(name):
            document = document.with_version(number, deleted=True)
        deleted = replace(
            self.store.touched(document.without_aliases(set(document.aliases)), self.store.now()),
            deleted=True,
        )
        self.store.save(deleted, f"Delete registered model {name!r}")

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        document = self.store.get(name)
        key = validation.key(key, "tag key")
        tags = {**document.tags, key: validation.tag_value(key, value, _MAX_TAG_VALUE)}
        self.store.save(
            replace(document, tags=tags),
            f"Tag registered model {name!r}: {key}",
        )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        document = self.store.get(name)
        if key not in document.tags:
            raise ResourceDoesNotExist(f"Registered model {name!r} has no tag {key!r}.")
        tags = {k: v for k, v in document.tags.items() if k != key}
        self.store.save(
            replace(document, tags=tags),
            f"Untag registered model {name!r}: {key}",
        )

    # -- versions -------------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
        model_id: str | None = None,
        **_: Any,
    ) -> ModelVersion:
        """Register the model at ``source`` as the next version: an annotated tag on the commit
        holding it, or (a source outside this repository) on the current commit, with no files.

        From a run this process is still running, the version is PENDING_REGISTRATION
        (MLflow's status) until the run ends: it is tagged right after the run's commit.
        As MLflow 3.17.2, a ``runs:/`` source must name the ``run_id`` given with it.
        """
        clean_tags = _clean_tags(tags)
        if run_id and source.startswith(RUNS_SCHEME) and parse_runs_uri(source).run_id != run_id:
            raise InvalidParameterValue(
                f"Invalid model version source: '{source}'. The run_id request parameter must "
                "identify the resource that contains the source."
            )
        changes: dict[str, Any] = {}
        if description:
            changes["description"] = description
        if clean_tags:
            changes["tags"] = clean_tags

        def describe(tagged: TaggedVersion) -> None:
            document = self.store.get(tagged.name).with_version(
                tagged.version, pin=tagged.pin, **changes
            )
            self.store.save(
                document,
                f"Describe {tagged.name!r} version {tagged.version}",
                trailers={"Mltrack-Version": str(tagged.version)},
            )

        registration = self.store.register(
            name, source, model_id, run_id, describe if changes else None
        )
        if registration.tagged is None and registration.source is not None:
            created = self.store.now()
            return ModelVersion(
                name=registration.name,
                version=registration.version,
                creation_timestamp=created,
                last_updated_timestamp=created,
                user_id="",
                current_stage="None",
                description=description or "",
                source=registration.source.uri,
                run_id=registration.source.run_id,
                status="PENDING_REGISTRATION",
                status_message=f"Registered when run {registration.source.run_id} ends.",
                tags=clean_tags,
                model_id=registration.source.model_id,
            )
        return self.get_model_version(registration.name, registration.version)

    def get_model_version(self, name: str, version: Any) -> ModelVersion:
        document = self.store.get(name)
        tagged = self.store.tagged_version(name, version)
        if document.is_deleted(tagged.version):
            raise ResourceDoesNotExist(f"Model {name!r} version {tagged.version} was deleted.")
        return self._model_version(tagged, document)

    def _update_version(
        self, name: str, version: Any, subject: str, **changes: Any
    ) -> ModelVersion:
        self.get_model_version(name, version)
        number = version_number(version)
        tagged = self.store.tagged_version(name, number)
        document = self.store.get(name).with_version(number, pin=tagged.pin, **changes)
        saved = self.store.save(document, subject, trailers={"Mltrack-Version": str(number)})
        return self._model_version(tagged, self.store.pinned(saved, {number: tagged})[0])

    def update_model_version(
        self, name: str, version: Any, description: str | None = None
    ) -> ModelVersion:
        return self._update_version(
            name,
            version,
            f"Describe {name!r} version {version_number(version)}",
            description=description or "",
            updated_ms=self.store.now(),
        )

    def delete_model_version(self, name: str, version: Any) -> None:
        """A recorded event in model.yaml; the tag (and the files it holds) stay."""
        number = version_number(version)
        self.get_model_version(name, number)
        tagged = self.store.tagged_version(name, number)
        when = self.store.now()
        document = self.store.touched(self.store.get(name), when).with_version(
            number, deleted=True, pin=tagged.pin, updated_ms=when
        )
        self.store.save(
            document.without_aliases(set(document.aliases_of(number))),
            f"Delete {name!r} version {number}",
            trailers={"Mltrack-Version": str(number)},
        )

    def set_model_version_tag(
        self,
        name: str,
        version: Any = None,
        key: str = "",
        value: Any = "",
        stage: str | None = None,
    ) -> None:
        current = self.get_model_version(name, version)
        key = validation.key(key, "tag key")
        tags = {**current.tags, key: validation.tag_value(key, value, _MAX_TAG_VALUE)}
        self._update_version(
            name, version, f"Tag {name!r} version {current.version}: {key}", tags=tags
        )

    def delete_model_version_tag(
        self, name: str, version: Any = None, key: str = "", stage: str | None = None
    ) -> None:
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
        max_results: int | None = 10000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        every = self.store.tagged()  # one listing for all models
        versions = [
            version
            for document in self.store.all()
            for version in self._live_versions(document, every.get(document.name, {}))
        ]
        return _search(
            versions, search.ENTITY_MODEL_VERSIONS, filter_string, order_by, max_results, page_token
        )

    def get_model_version_download_uri(self, name: str, version: Any) -> str:
        """A ``file://`` URI of the version's files as its tag holds them (``ModelStore.snapshot``)."""
        return self.store.materialize(self.store.tagged_version(name, version)).as_uri()

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name`` that was not deleted, oldest first."""
        return self._live_versions(self.store.get(name))

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        return latest_per_stage(self._live_versions(self.store.get(name)), stages)

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
        document = self.store.base(name, branch)
        number = version_number(version)
        target = self.store.tagged_version(name, number)
        live = {v.version: v for v in self._live_versions(document)}
        if number not in live:
            raise ResourceDoesNotExist(f"Model {name!r} has no version {number}.")
        # Only Staging and Production are held by one version in practice: archiving or
        # un-staging a version replaces nothing.
        replaced = max(
            (
                v
                for v in live.values()
                if v.current_stage == stage
                and v.version != number
                and stage in ("Staging", "Production")
            ),
            key=lambda v: v.version,
            default=None,
        )
        replaces = (
            Replaced(replaced.version, self.store.tagged_version(name, replaced.version).pin)
            if replaced is not None
            else None
        )
        when = self.store.now()  # a transition changes the model and the versions it moves
        document = self.store.touched(document, when).with_version(
            number, stage=stage, pin=target.pin, replaces=replaces, updated_ms=when
        )
        archived = []
        if archive_existing_versions:
            for other in live.values():
                if other.version != number and other.current_stage == stage:
                    pin = self.store.tagged_version(name, other.version).pin
                    document = document.with_version(
                        other.version, stage="Archived", pin=pin, updated_ms=when
                    )
                    archived.append(other.version)
        subject = f"Promote {name!r} version {number} to {stage}"
        if replaced is not None:
            subject += f" (replacing version {replaced.version})"
        body = review.comparison_text(self.store, replaced, live[number]) if replaced else ""
        if archived:
            body += f"\nArchived: {', '.join(f'version {v}' for v in archived)}"
        trailers = {
            "Mltrack-Version": str(number),
            "Mltrack-Stage": stage,
            **review.identity_trailers(target),
        }
        if replaced is not None:
            trailers["Mltrack-Replaces"] = str(replaced.version)
        saved = self.store.save(document, subject, body=body, trailers=trailers, branch=branch)
        return self._model_version(target, self.store.pinned(saved, {number: target})[0])

    def set_registered_model_alias(
        self, name: str, alias: str, version: Any, branch: str | None = None
    ) -> None:
        alias = validate_alias(alias)
        document = self.store.base(name, branch)
        number = version_number(version)
        live = {v.version: v for v in self._live_versions(document)}
        if number not in live:
            raise ResourceDoesNotExist(f"Model {name!r} has no version {number}.")
        target = self.store.tagged_version(name, number)
        previous = document.aliases.get(alias)
        subject = f"Point alias {alias!r} of {name!r} at version {number}"
        if previous is not None and previous != number:
            subject += f" (was version {previous})"
        body = (
            review.comparison_text(self.store, live.get(previous), live[number])
            if previous in live and previous != number
            else ""
        )
        trailers = {
            "Mltrack-Version": str(number),
            "Mltrack-Alias": alias,
            **review.identity_trailers(target),
        }
        if previous is not None and previous != number:
            trailers["Mltrack-Replaces"] = str(previous)
        replaces = (
            Replaced(previous, document.alias_pins.get(alias))
            if previous is not None and previous != number
            else document.alias_replaces.get(alias)
            if previous == number
            else None
        )
        self.store.save(
            document.with_alias(alias, number, target.pin, replaces),
            subject,
            body=body,
            trailers=trailers,
            branch=branch,
        )

    def delete_registered_model_alias(
        self, name: str, alias: str, branch: str | None = None
    ) -> None:
        document = self.store.base(name, branch)
        if alias not in document.aliases:
            raise ResourceDoesNotExist(f"Registered model alias {alias} not found.")
        self.store.save(
            document.without_aliases({alias}),
            f"Remove alias {alias!r} of {name!r}",
            trailers={"Mltrack-Alias": alias},
            branch=branch,
        )

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        if alias not in self.store.get(name).aliases:
            raise ResourceDoesNotExist(
                f"Registered model alias {alias} not found for model {name!r}."
            )
        number = self.store.reference_version(ModelReference(name=name, alias=alias))
        return self.get_model_version(name, number)

    # -- reading for review (mltrack.registry.review) -------------------------------------

    def compare(self, name: str, version_a: Any, version_b: Any) -> dict[str, Any]:
        """Params, metrics, signature and data lineage of two versions, side by side."""
        a = self.get_model_version(name, version_a)
        b = self.get_model_version(name, version_b)
        return review.compare(self.store, a, b)

    def verify(self, fetch: bool = False) -> list[str]:
        """Every version's files (tag snapshot and working tree) checked against their hashes.

        Refuses (rather than passing having checked nothing) when versions that
        model.yaml names have no tag in this clone; ``fetch`` fetches the remote's
        ``mltrack/*`` tags first.
        """
        git = self.repo.git
        if fetch:
            remote = git.remotes.default_remote()
            if remote is None:
                raise InvalidState("This repository has no remote to fetch version tags from.")
            git.remotes.fetch_version_tags(remote)
        absent = review.absent_versions(self.store)
        if absent:
            shown = ", ".join(absent[:3]) + (
                f" and {len(absent) - 3} more" if len(absent) > 3 else ""
            )
            raise InvalidState(
                f"{len(absent)} version(s) to verify have no tag in this clone ({shown}): fetch "
                "them with `mltrack models verify --fetch` (or `git fetch origin "
                "'refs/tags/mltrack/*:refs/tags/mltrack/*'`)."
            )
        return review.verify(self.store)

    def unverifiable(self) -> list[str]:
        """Versions registered from outside this repository, which have no files to check."""
        return review.unverifiable(self.store)

    def history(self, name: str) -> list[RegistryEvent]:
        """Registrations (from tags) and every model.yaml change (from commits), in commit order."""
        return review.history(self.store, name)
