"""Experiments by id: MlflowClient's experiment methods over one repository."""

from __future__ import annotations

from typing import Any

from mltrack import search
from mltrack.entities import Experiment, LifecycleStage, ViewType
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.paging import PagedList, paginate
from mltrack.store import validation
from mltrack.store.records import ExperimentRecord
from mltrack.store.repository import DEFAULT_EXPERIMENT_ID, Repository, now_ms

__all__ = ["Experiments"]


class Experiments:
    """The experiments of one repository (``create``, ``get``, ``search`` …)."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def entity(self, record: ExperimentRecord) -> Experiment:
        """MLflow's Experiment for a stored record: created when recorded (else at its first
        run, for experiments written before creation times were), updated at its last run."""
        runs = self.repo.runs.records([record.experiment_id], ViewType.ALL)
        starts = [r.start_time for r in runs]
        created = (
            record.creation_time if record.creation_time is not None else min(starts, default=None)
        )
        times = [t for r in runs for t in (r.start_time, r.end_time or 0)]
        if created is not None:
            times.append(created)
        return record.to_experiment(
            self.repo.experiment_dir(record.experiment_id).as_uri(),
            created,
            max(times) if times else None,
        )

    def create(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        record = self.repo.create_experiment(name, {k: str(v) for k, v in (tags or {}).items()})
        return record.experiment_id

    def get(self, experiment_id: str) -> Experiment:
        return self.entity(self.repo.get_experiment(str(experiment_id)))

    def get_by_name(self, name: str) -> Experiment | None:
        record = self.repo.find_experiment(name)
        return None if record is None else self.entity(record)

    def search(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int | None = 1000,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        view = ViewType.from_any(view_type)
        records = [
            r
            for r in self.repo.list_experiments()
            if LifecycleStage.matches_view_type(view, r.lifecycle_stage)
        ]
        experiments = [self.entity(r) for r in records]
        matcher = search.parse_filter(filter_string, search.ENTITY_EXPERIMENTS)
        experiments = [e for e in experiments if matcher.matches(e)]
        order = search.parse_order_by(order_by, search.ENTITY_EXPERIMENTS)
        experiments = search.sort_records(experiments, order, search.ENTITY_EXPERIMENTS)
        return paginate(experiments, max_results, page_token)

    def rename(self, experiment_id: str, new_name: str) -> None:
        old = self.repo.get_experiment(str(experiment_id)).name
        self.repo.update_experiment(
            str(experiment_id), f"Rename experiment {old} to {new_name}", name=new_name
        )

    def delete(self, experiment_id: str) -> None:
        experiment_id = str(experiment_id)
        if experiment_id == DEFAULT_EXPERIMENT_ID:
            raise InvalidParameterValue("Cannot delete the Default experiment '0'.")
        record = self.repo.get_experiment(experiment_id)
        self.repo.update_experiment(
            experiment_id,
            f"Delete experiment {record.name}",
            lifecycle_stage=LifecycleStage.DELETED,
            deleted_time=now_ms(),
        )

    def restore(self, experiment_id: str) -> None:
        record = self.repo.get_experiment(str(experiment_id))
        if record.lifecycle_stage == LifecycleStage.ACTIVE:
            return
        self.repo.update_experiment(
            str(experiment_id),
            f"Restore experiment {record.name}",
            lifecycle_stage=LifecycleStage.ACTIVE,
            deleted_time=None,
        )

    def set_tag(self, experiment_id: str, key: str, value: Any) -> None:
        record = self.repo.get_experiment(str(experiment_id))
        key = validation.key(key, "tag key")
        tags = dict(record.tags, **{key: validation.experiment_tag_value(key, value)})
        self.repo.update_experiment(
            str(experiment_id), f"Tag experiment {record.name}: {key}", tags=tags
        )

    def delete_tag(self, experiment_id: str, key: str) -> None:
        record = self.repo.get_experiment(str(experiment_id))
        if key not in record.tags:
            raise ResourceDoesNotExist(f"No tag with name: {key} in experiment {experiment_id}")
        tags = {k: v for k, v in record.tags.items() if k != key}
        self.repo.update_experiment(
            str(experiment_id), f"Untag experiment {record.name}: {key}", tags=tags
        )
