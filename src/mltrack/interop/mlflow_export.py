"""``mltrack export mlflow``: the repository's experiments, runs, models and registry into MLflow.

MLflow's client makes new ids for runs and logged models, so the export keeps a map
from mltrack's ids to MLflow's and rewrites what names them: the
``mlflow.parentRunId`` tag, logged models' source runs, and versions' ``runs:/`` and
``models:/`` sources. Experiments are matched by name. What MLflow's client cannot
set (creation times of experiments, logged models, registered models and versions,
versions' users) is the time of the export, as with any MLflow client.
A holder run (mltrack's home for a logged model made without a run) is not exported:
its model is exported without a source run, as MLflow has it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltrack.client import MltrackClient
from mltrack.entities import LifecycleStage, LoggedModelStatus, ViewType
from mltrack.interop import Progress, mlflow_client, mlflow_uri, store_uri
from mltrack.paging import PagedList
from mltrack.store.repository import Repository
from mltrack.tracking.logged_models import HOLDER_TAG, REGISTRATIONS_TAG
from mltrack.uris import LOGGED_MODEL_PREFIX

__all__ = ["ExportReport", "export_mlflow"]

_PARENT = "mlflow.parentRunId"
_METRICS_PER_CALL = 1000  # MLflow's log_batch limits
_PARAMS_PER_CALL = 100


@dataclass
class ExportReport:
    """What an export wrote, and the new MLflow id of every run and logged model."""

    experiments: int = 0
    runs: int = 0
    logged_models: int = 0
    registered_models: int = 0
    versions: int = 0
    run_ids: dict[str, str] = field(default_factory=dict)
    model_ids: dict[str, str] = field(default_factory=dict)


def export_mlflow(
    repository: Repository, destination: str, progress: Progress | None = None
) -> ExportReport:
    """Write the repository's experiments, runs, logged models and registry to ``destination``."""
    uri = store_uri(destination, must_exist=False)
    exporter = _Exporter(MltrackClient(repository=repository), mlflow_client(uri))
    with mlflow_uri(uri):
        exporter.run(progress or (lambda done, total: None))
    return exporter.report


def _every(search: Any, **arguments: Any) -> list[Any]:
    found: list[Any] = []
    token = None
    while True:
        page: PagedList = search(**arguments, page_token=token)
        found += list(page)
        token = page.token
        if not token:
            return found


class _Exporter:
    def __init__(self, source: MltrackClient, destination: Any) -> None:
        self.src = source
        self.dst = destination
        self.report = ExportReport()

    def run(self, progress: Progress) -> None:
        experiments = _every(self.src.search_experiments, view_type=ViewType.ALL)
        work: list[tuple[str, Any]] = []
        models: list[tuple[str, Any]] = []
        for experiment in experiments:
            target = self._experiment(experiment)
            runs = _every(
                self.src.search_runs,
                experiment_ids=[experiment.experiment_id],
                run_view_type=ViewType.ALL,
                order_by=["attributes.start_time ASC"],
            )
            work += [(target, run) for run in runs if run.data.tags.get(HOLDER_TAG) != "true"]
            models += [
                (target, model)
                for model in _every(
                    self.src.search_logged_models, experiment_ids=[experiment.experiment_id]
                )
            ]
        by_run: dict[str, list[Any]] = {}
        for target, model in models:
            by_run.setdefault(model.source_run_id, []).append((target, model))
        exported = {run.info.run_id for _, run in work}
        progress(0, len(work))
        for done, (target, run) in enumerate(work, 1):
            self._run(target, run, [model for _, model in by_run.get(run.info.run_id, [])])
            progress(done, len(work))
        for run_id, held in by_run.items():
            if run_id not in exported:
                for target, model in held:
                    self._logged_model(target, model, None)
        self._parents(work)
        for experiment in experiments:
            if experiment.lifecycle_stage == LifecycleStage.DELETED:
                found = self.dst.get_experiment_by_name(experiment.name)
                if found is not None and found.lifecycle_stage != LifecycleStage.DELETED:
                    self.dst.delete_experiment(found.experiment_id)
        self._registry()

    def _experiment(self, experiment: Any) -> str:
        found = self.dst.get_experiment_by_name(experiment.name)
        if found is None:
            self.report.experiments += 1
            return str(self.dst.create_experiment(experiment.name, tags=dict(experiment.tags)))
        if found.lifecycle_stage == LifecycleStage.DELETED:
            self.dst.restore_experiment(found.experiment_id)
        for key, value in experiment.tags.items():
            if found.tags.get(key) != value:
                self.dst.set_experiment_tag(found.experiment_id, key, value)
        return str(found.experiment_id)

    # -- runs --------------------------------------------------------------------------------

    def _run(self, experiment_id: str, run: Any, models: list[Any]) -> None:
        from mlflow.entities import Metric, Param

        info = run.info
        tags = {**run.data.tags, "mlflow.user": info.user_id}
        created = self.dst.create_run(
            experiment_id, start_time=info.start_time, tags=tags, run_name=info.run_name
        )
        new_id = created.info.run_id
        self.report.run_ids[info.run_id] = new_id
        params = [Param(key, value) for key, value in run.data.params.items()]
        for start in range(0, len(params), _PARAMS_PER_CALL):
            self.dst.log_batch(new_id, params=params[start : start + _PARAMS_PER_CALL])
        for key in run.data.metrics:
            points = [
                Metric(point.key, point.value, point.timestamp, point.step)
                for point in self.src.get_metric_history(info.run_id, key)
            ]
            for start in range(0, len(points), _METRICS_PER_CALL):
                self.dst.log_batch(new_id, metrics=points[start : start + _METRICS_PER_CALL])
        if run.inputs.dataset_inputs:
            self.dst.log_inputs(
                new_id, [_dataset_input(item) for item in run.inputs.dataset_inputs]
            )
        root = self.src.runs.repo.runs.artifact_dir(info.run_id)
        self._artifacts(new_id, root, {model.artifact_path for model in models})
        for model in models:
            self._logged_model(experiment_id, model, new_id)
        self.dst.set_terminated(new_id, info.status, end_time=info.end_time)
        if info.lifecycle_stage == LifecycleStage.DELETED:
            self.dst.delete_run(new_id)
        self.report.runs += 1

    def _artifacts(self, run_id: str, root: Path, model_paths: set[str]) -> None:
        """The run's files, but not its logged models' (MLflow keeps those with the model)."""
        if not root.is_dir():
            return
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if not path.is_file() or any(
                relative == held or relative.startswith(held + "/") for held in model_paths
            ):
                continue
            parent = path.parent.relative_to(root).as_posix()
            self.dst.log_artifact(run_id, str(path), None if parent == "." else parent)

    def _parents(self, work: list[tuple[str, Any]]) -> None:
        for _, run in work:
            parent = run.data.tags.get(_PARENT)
            if parent in self.report.run_ids:
                self.dst.set_tag(
                    self.report.run_ids[run.info.run_id], _PARENT, self.report.run_ids[parent]
                )

    # -- logged models -----------------------------------------------------------------------

    def _logged_model(self, experiment_id: str, model: Any, run_id: str | None) -> None:
        created = self.dst.create_logged_model(
            experiment_id,
            name=model.name,
            source_run_id=run_id,
            # the destination's registry lists its own versions (MLflow's server sets it)
            tags={k: v for k, v in model.tags.items() if k != REGISTRATIONS_TAG},
            params=dict(model.params),
            model_type=model.model_type,
        )
        self.report.model_ids[model.model_id] = created.model_id
        files = self.src.runs.repo.runs.artifact_dir(model.source_run_id) / model.artifact_path
        if files.is_dir():
            self.dst.log_model_artifacts(created.model_id, str(files))
        if run_id is not None:
            from mlflow.entities import LoggedModelOutput

            self.dst.log_outputs(run_id, [LoggedModelOutput(created.model_id, model.step)])
        if model.status in (LoggedModelStatus.READY, LoggedModelStatus.FAILED):
            self.dst.finalize_logged_model(created.model_id, model.status)
        self.report.logged_models += 1

    # -- registry ----------------------------------------------------------------------------

    def _registry(self) -> None:
        registry = self.src.registry
        for model in _every(self.src.search_registered_models, max_results=1000):
            self._registered_model(registry, model)

    def _registered_model(self, registry: Any, model: Any) -> None:
        from mlflow.exceptions import MlflowException

        name = model.name
        try:
            self.dst.get_registered_model(name)
        except MlflowException:
            self.dst.create_registered_model(
                name, tags=dict(model.tags), description=model.description or None
            )
            self.report.registered_models += 1
        numbers = sorted(registry.store.versions_of(name))
        live = {int(version.version): version for version in registry.list_versions(name)}
        there: dict[int, str] = {}  # mltrack's number -> MLflow's (equal in a new model)
        for number in numbers:
            later = [n for n in live if n >= number]
            if not later:
                break  # the last versions were deleted: nothing to keep a gap before
            created = self._version(name, live[min(later)])
            if number in live:
                there[number] = str(created.version)
            else:  # deleted in mltrack: a gap in MLflow too
                self.dst.delete_model_version(name, created.version)
        for alias, number in (model.aliases or {}).items():
            if int(number) in there:
                self.dst.set_registered_model_alias(name, alias, there[int(number)])

    def _version(self, name: str, version: Any) -> Any:
        source = self._source(version.source)
        model_id = self.report.model_ids.get(version.model_id or "")
        created = self.dst.create_model_version(
            name,
            source,
            run_id=self.report.run_ids.get(version.run_id or "", version.run_id or None),
            tags=dict(version.tags),
            description=version.description or None,
            model_id=model_id,
        )
        if version.current_stage and version.current_stage != "None":
            with warnings.catch_warnings():  # MLflow deprecates stages; the registry has them
                warnings.simplefilter("ignore", FutureWarning)
                self.dst.transition_model_version_stage(
                    name, created.version, version.current_stage
                )
        self.report.versions += 1
        return created

    def _source(self, source: str) -> str:
        """A ``runs:/`` or ``models:/m-…`` source with the run's or model's MLflow id."""
        if source.startswith("runs:/"):
            run_id, _, rest = source[len("runs:/") :].partition("/")
            return f"runs:/{self.report.run_ids.get(run_id, run_id)}/{rest}"
        prefix = "models:/" + LOGGED_MODEL_PREFIX
        if source.startswith(prefix):
            model_id = source[len("models:/") :]
            return "models:/" + self.report.model_ids.get(model_id, model_id)
        return source


def _dataset_input(item: Any) -> Any:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    dataset = item.dataset
    return DatasetInput(
        Dataset(
            name=dataset.name,
            digest=dataset.digest,
            source_type=dataset.source_type,
            source=dataset.source,
            schema=dataset.schema,
            profile=dataset.profile,
        ),
        [InputTag(tag.key, tag.value) for tag in item.tags],
    )
