"""``mltrack import mlflow``: an MLflow store's experiments, runs, logged models and registry.

Ids are kept: an MLflow run keeps its run id and a logged model its ``m-…`` id, so
``runs:/`` and ``models:/`` URIs, parent runs and registry sources stay valid, and
a run whose id is already in the repository was imported before and is skipped
(running the import twice imports nothing twice). Each run is written whole and
ended with its original status and end time, which commits it (one commit per run,
or ``runs_per_commit`` runs per commit, each still its own ``Mltrack-Run`` trailer).
A run that an interrupted import left unfinished (RUNNING, its importing process
gone) is removed and imported again. Registered model versions are imported in
order; MLflow's gaps (deleted versions) stay gaps, so every number is kept.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltrack.client import MltrackClient
from mltrack.entities import (
    CodeVersion,
    Dataset,
    DatasetInput,
    InputTag,
    LifecycleStage,
    LoggedModelStatus,
    Metric,
    RunStatus,
)
from mltrack.exceptions import MltrackError, ResourceDoesNotExist
from mltrack.gitstore import MLTRACK_DIR
from mltrack.interop import Progress, mlflow_client, mlflow_uri, paged, store_uri
from mltrack.store.repository import Repository

__all__ = ["ImportReport", "import_mlflow"]

_BATCH = 1000  # metric points per log_batch call


@dataclass
class ImportReport:
    """What an import did; ``warnings`` says what it could not bring over."""

    experiments: int = 0
    runs: int = 0
    skipped_runs: int = 0
    logged_models: int = 0
    registered_models: int = 0
    versions: int = 0
    skipped_versions: int = 0
    warnings: list[str] = field(default_factory=list)


def import_mlflow(
    repository: Repository,
    source: str,
    progress: Progress | None = None,
    runs_per_commit: int = 1,
) -> ImportReport:
    """Import the MLflow store at ``source`` into ``repository``."""
    uri = store_uri(source, must_exist=True)
    importer = _Importer(repository, mlflow_client(uri), uri)
    with mlflow_uri(uri):
        importer.run(progress or (lambda done, total: None), max(1, runs_per_commit))
    return importer.report


class _Importer:
    def __init__(self, repository: Repository, source: Any, uri: str) -> None:
        self.repo = repository
        self.src = source
        self.uri = uri
        self.dst = MltrackClient(repository=repository)
        self.report = ImportReport()
        self.deleted_here: set[str] = set()
        # Runs with changes git does not have yet: what an interrupted import left behind.
        changed = repository.git.worktree.changed_paths(MLTRACK_DIR)
        self.uncommitted = {
            parts[4]
            for parts in (path.split("/") for path in changed)
            if len(parts) >= 5 and parts[1] == "experiments" and parts[3] == "runs"
        }

    def run(self, progress: Progress, runs_per_commit: int) -> None:
        from mlflow.entities import ViewType

        experiments = list(
            paged(self.src.search_experiments, view_type=ViewType.ALL, max_results=1000)
        )
        work: list[tuple[str, Any]] = []
        models: dict[str, list[Any]] = defaultdict(list)
        for experiment in experiments:
            experiment_id = self._experiment(experiment)
            runs = paged(
                self.src.search_runs,
                experiment_ids=[experiment.experiment_id],
                run_view_type=ViewType.ALL,
                max_results=1000,
                order_by=["attributes.start_time ASC"],
            )
            work += [(experiment_id, run) for run in runs]
            for model in self._logged_models(experiment.experiment_id):
                models[model.source_run_id or ""].append((experiment_id, model))
        progress(0, len(work))
        for start in range(0, len(work), runs_per_commit):
            chunk = work[start : start + runs_per_commit]
            with self._commit_of(chunk):
                for experiment_id, run in chunk:
                    self._run(experiment_id, run, [m for _, m in models[run.info.run_id]])
            progress(min(start + runs_per_commit, len(work)), len(work))
        for experiment_id, model in models.get("", []):
            self._orphan_model(experiment_id, model)
        for experiment in experiments:
            if experiment.lifecycle_stage == LifecycleStage.DELETED:
                self._delete_experiment(experiment.name)
        self._registry()

    def _commit_of(self, chunk: list[tuple[str, Any]]) -> contextlib.AbstractContextManager[None]:
        if len(chunk) == 1:
            return contextlib.nullcontext()
        return self.dst.runs.in_one_commit(f"Import {len(chunk)} runs from MLflow")

    # -- experiments -------------------------------------------------------------------------

    def _experiment(self, experiment: Any) -> str:
        """The id of the experiment of this name in the repository (created, or restored)."""
        found = self.dst.get_experiment_by_name(experiment.name)
        tags = dict(experiment.tags)
        if found is None:
            self.report.experiments += 1
            return str(self.dst.create_experiment(experiment.name, tags=tags))
        if found.lifecycle_stage == LifecycleStage.DELETED:
            self.deleted_here.add(str(found.experiment_id))  # restored only to add a run
        for key, value in tags.items():
            if found.tags.get(key) != value:
                self.dst.set_experiment_tag(found.experiment_id, key, value)
        return str(found.experiment_id)

    def _delete_experiment(self, name: str) -> None:
        found = self.dst.get_experiment_by_name(name)
        if found is not None and found.lifecycle_stage != LifecycleStage.DELETED:
            self.dst.delete_experiment(found.experiment_id)

    # -- runs --------------------------------------------------------------------------------

    def _already_imported(self, run_id: str) -> bool:
        """A run of this id is here. One an interrupted import left unfinished is removed;
        one it ended but did not commit yet (a batch of ``runs_per_commit``) is committed."""
        store = self.repo.runs
        try:
            record = store.get(run_id)
        except ResourceDoesNotExist:
            return False
        if record.status == RunStatus.RUNNING and store.owner_alive(run_id) is False:
            store.remove(run_id)
            return False
        if run_id in self.uncommitted and record.status != RunStatus.RUNNING:
            store.commit_run(run_id)
        return True

    def _run(self, experiment_id: str, run: Any, models: list[Any]) -> None:
        info = run.info
        if self._already_imported(info.run_id):
            self.report.skipped_runs += 1
            return
        if experiment_id in self.deleted_here:  # deleted again when the import ends
            self.dst.restore_experiment(experiment_id)
            self.deleted_here.discard(experiment_id)
        self.dst.runs.create(
            experiment_id,
            start_time=info.start_time,
            tags=dict(run.data.tags),
            run_name=info.run_name,
            code=CodeVersion(),
            user_id=info.user_id or None,
            run_id=info.run_id,
        )
        run_id = info.run_id
        if run.data.params:
            self.dst.log_batch(run_id, params=list(_params(run)))
        for key in run.data.metrics:
            history = self.src.get_metric_history(run_id, key)
            for start in range(0, len(history), _BATCH):
                self.dst.log_batch(run_id, metrics=history[start : start + _BATCH])
        datasets = [_dataset_input(item) for item in run.inputs.dataset_inputs]
        if datasets:
            self.dst.log_inputs(run_id, datasets)
        self._artifacts(run_id, info.artifact_uri)
        steps = {output.model_id: output.step for output in (run.outputs.model_outputs or [])}
        for model in models:
            self._logged_model(experiment_id, model, run_id, steps.get(model.model_id))
        self._end(run_id, info.status, info.end_time)
        if info.lifecycle_stage == LifecycleStage.DELETED:
            self.dst.delete_run(run_id)
        self.report.runs += 1

    def _end(self, run_id: str, status: str, end_time: int | None) -> None:
        # Ending commits the run. A run MLflow still shows RUNNING or SCHEDULED keeps that
        # status; its end time is the import's (a commit needs an ended run).
        self.dst.set_terminated(run_id, status, end_time)

    def _artifacts(self, run_id: str, artifact_uri: str) -> None:
        # By the run's artifact URI, which the search gave: the client's by-run-id calls
        # read the run again first (a third of an import's time).
        from mlflow.artifacts import download_artifacts, list_artifacts

        if not list_artifacts(artifact_uri=artifact_uri, tracking_uri=self.uri):
            return
        with tempfile.TemporaryDirectory(prefix="mltrack-import-") as scratch:
            local = download_artifacts(
                artifact_uri=artifact_uri, dst_path=scratch, tracking_uri=self.uri
            )
            self.dst.log_artifacts(run_id, local)

    # -- logged models -----------------------------------------------------------------------

    def _logged_models(self, experiment_id: str) -> list[Any]:
        try:
            return list(paged(self.src.search_logged_models, experiment_ids=[experiment_id]))
        except Exception as error:  # an older server without logged models
            self.report.warnings.append(f"Logged models not read: {error}")
            return []

    def _logged_model(
        self, experiment_id: str, model: Any, run_id: str | None, step: int | None
    ) -> None:
        created = self.dst.logged_models.create(
            experiment_id,
            name=model.name,
            source_run_id=run_id,
            tags=dict(model.tags),
            params=dict(model.params),
            model_type=model.model_type,
            model_id=model.model_id,
        )
        self._model_files(model, created.source_run_id, created.artifact_path)
        metrics = [
            Metric(m.key, m.value, m.timestamp, m.step, m.run_id, created.model_id,
                   m.dataset_name, m.dataset_digest)
            for m in getattr(model, "metrics", None) or ()
            if m.run_id
        ]  # fmt: skip
        self.dst.logged_models.record_metrics(created.model_id, metrics)
        if step:
            self.dst.logged_models.record_output(created.source_run_id, created.model_id, step)
        status = str(model.status)
        if status in (LoggedModelStatus.READY, LoggedModelStatus.FAILED):
            self.dst.finalize_logged_model(created.model_id, status)
        self.report.logged_models += 1

    def _orphan_model(self, experiment_id: str, model: Any) -> None:
        """A logged model with no run (MLflow allows it): held by a run of its own."""
        try:
            self.dst.get_logged_model(model.model_id)
        except ResourceDoesNotExist:
            self._logged_model(experiment_id, model, None, None)

    def _model_files(self, model: Any, run_id: str, artifact_path: str) -> None:
        from mlflow.artifacts import download_artifacts

        with tempfile.TemporaryDirectory(prefix="mltrack-import-") as scratch:
            try:
                local = download_artifacts(
                    artifact_uri=model.artifact_location, dst_path=scratch, tracking_uri=self.uri
                )
            except Exception as error:  # a model whose upload never finished
                self.report.warnings.append(f"Logged model {model.model_id}: no files ({error})")
                return
            if Path(local).is_dir() and any(Path(local).iterdir()):
                self.dst.log_artifacts(run_id, local, artifact_path)

    # -- registry ----------------------------------------------------------------------------

    def _registry(self) -> None:
        for listed in paged(self.src.search_registered_models, max_results=1000):
            self._registered_model(self.src.get_registered_model(listed.name))

    def _registered_model(self, model: Any) -> None:
        name = model.name
        try:
            here = self.dst.get_registered_model(name)
        except ResourceDoesNotExist:
            here = self.dst.create_registered_model(
                name, tags=dict(model.tags), description=model.description or None
            )
            self.report.registered_models += 1
        if (model.description or "") != (here.description or ""):
            self.dst.update_registered_model(name, description=model.description or "")
        for key, value in dict(model.tags).items():
            if here.tags.get(key) != value:
                self.dst.set_registered_model_tag(name, key, value)
        quoted = name.replace("'", "\\'")
        versions = sorted(
            paged(self.src.search_model_versions, filter_string=f"name = '{quoted}'"),
            key=lambda version: int(version.version),
        )
        for version in versions:
            if not self._version(name, version):
                break
        aliases = dict(model.aliases or {})
        for alias, number in aliases.items():
            if here.aliases.get(alias) != str(number):
                self.dst.set_registered_model_alias(name, alias, number)

    def _version(self, name: str, version: Any) -> bool:
        """Import one version (and the gap before it); False when the rest cannot follow."""
        number = int(version.version)
        registry = self.dst.registry
        have = max(registry.store.versions_of(name), default=0)
        if have >= number:
            self.report.skipped_versions += 1
            return True
        try:
            while have + 1 < number:  # a version MLflow deleted: registered and deleted again
                self._create_version(name, version)
                self.dst.delete_model_version(name, have + 1)
                have += 1
            self._create_version(name, version)
        except MltrackError as error:
            self.report.warnings.append(
                f"Model {name!r} version {number} and later not imported: {error}"
            )
            return False
        if version.current_stage and version.current_stage != "None":
            self.dst.transition_model_version_stage(name, number, version.current_stage)
        self.report.versions += 1
        return True

    def _create_version(self, name: str, version: Any) -> None:
        self.dst.create_model_version(
            name,
            version.source,
            run_id=version.run_id or None,
            tags=dict(version.tags),
            description=version.description or None,
            model_id=getattr(version, "model_id", None) or None,
        )


def _params(run: Any) -> Iterator[Any]:
    from mlflow.entities import Param

    for key, value in run.data.params.items():
        yield Param(key, value)


def _dataset_input(item: Any) -> DatasetInput:
    dataset = item.dataset
    return DatasetInput(
        Dataset(
            name=dataset.name,
            digest=dataset.digest,
            source_type=dataset.source_type,
            source=dataset.source,
            schema=dataset.schema or None,
            profile=dataset.profile or None,
        ),
        tuple(InputTag(tag.key, tag.value) for tag in item.tags),
    )
