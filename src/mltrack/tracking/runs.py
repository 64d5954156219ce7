"""Runs by id: create, read, update, end, delete, search (MlflowClient's run methods).

Writes to runs are buffered in memory and flushed durably (at run end, every few
seconds, at exit); reads in the same process always see them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from mltrack import search
from mltrack.entities import CodeVersion, LifecycleStage, Run, RunStatus, ViewType
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.paging import PagedList, paginate
from mltrack.store import validation
from mltrack.store.records import RunRecord
from mltrack.store.repository import DEFAULT_EXPERIMENT_ID, Repository, now_ms
from mltrack.store.runs import unique_match
from mltrack.tracking.compare import RunComparison, compare_runs
from mltrack.tracking.context import CodeProbe, current_user, entry_point, generate_run_name

__all__ = ["SEARCH_MAX_RESULTS", "Runs"]

SEARCH_MAX_RESULTS = 50000


class Runs:
    """The runs of one repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._probes: dict[str, CodeProbe] = {}

    def create(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        *,
        code: CodeVersion | None = None,
        user_id: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Create a run (status RUNNING) owned by this process.

        Two mltrack extensions, keyword-only: ``code`` is the code version to record
        in run.yaml's ``code`` section. By default it is the tracking repository's
        own code commit and branch, with the dirty flag checked in the background
        and the running script as entry point. Front ends that run code from
        elsewhere pass it explicitly: ``mltrack run`` records the project's
        commit and entry point, a tracking server what the remote client reported.
        ``user_id`` overrides the user (a server records the client's).
        ``run_id`` keeps a given id instead of a new one (an import from MLflow keeps
        MLflow's, so ``runs:/`` URIs stay valid).
        """
        repo = self.repo
        clean_tags = {
            validation.key(k, "tag key"): validation.tag_value(k, v)
            for k, v in (tags or {}).items()
        }
        name = run_name or clean_tags.get("mlflow.runName") or generate_run_name()
        name = validation.run_name(name)
        clean_tags["mlflow.runName"] = name
        if str(experiment_id) == DEFAULT_EXPERIMENT_ID:
            repo.ensure_initialized()  # the first run in a repository without `mltrack init`
        experiment = repo.get_experiment(str(experiment_id))
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"The experiment {experiment.experiment_id} must be in the 'active' state. "
                "Current state is deleted."
            )
        parent = parent_run_id or clean_tags.get("mlflow.parentRunId")
        if parent_run_id is not None:
            repo.runs.locate(validation.run_id(parent_run_id))  # a typo in a nested run
        if parent is not None:
            clean_tags["mlflow.parentRunId"] = validation.tag_value("mlflow.parentRunId", parent)
            if not self._exists(parent):
                # only the tag names it (another store's run): kept as MLflow keeps it
                parent = None
        if code is None:
            state = repo.code_state()
            code = CodeVersion(state.commit, state.branch, None, entry_point(repo))
            probe_dirty = state.commit is not None
        else:
            probe_dirty = False
        run_id = validation.run_id(run_id) if run_id is not None else uuid.uuid4().hex
        live = repo.runs.create(
            experiment_id=experiment.experiment_id,
            run_id=run_id,
            run_name=name,
            start_time=int(start_time) if start_time is not None else now_ms(),
            user_id=user_id or clean_tags.get("mlflow.user") or current_user(),
            tags=clean_tags,
            parent_run_id=parent,
            code=code.to_dict(),
        )
        if probe_dirty:
            self._probes[run_id] = CodeProbe(repo, code.commit)
        return live.snapshot().to_run()

    def _exists(self, run_id: str) -> bool:
        try:
            self.repo.runs.locate(validation.run_id(run_id))
        except (ResourceDoesNotExist, InvalidParameterValue):
            return False
        return True

    def record(self, run_id: str) -> RunRecord:
        """The stored record of a run (buffered changes included)."""
        if not isinstance(run_id, str):
            raise InvalidParameterValue(f"Invalid run id {run_id!r}: run ids are strings.")
        return self.repo.runs.get(run_id)

    def to_run(self, record: RunRecord) -> Run:
        """MLflow's Run for a record, with the status a crashed owner leaves (KILLED)."""
        return record.to_run(self.repo.runs.effective_status(record))

    def get(self, run_id: str) -> Run:
        return self.to_run(self.record(run_id))

    def get_parent(self, run_id: str) -> Run | None:
        parent = self.record(run_id).tags.get("mlflow.parentRunId")
        return self.get(parent) if parent else None

    def update(
        self,
        run_id: str,
        status: str | None = None,
        name: str | None = None,
        end_time: int | None = None,
    ) -> None:
        """Rename a run or change its status; a terminal status ends (and commits) it."""
        changes: dict[str, Any] = {}
        if name is not None:
            changes["run_name"] = validation.run_name(name)
        ends = status is not None and RunStatus.is_terminated(RunStatus.from_any(status))
        if status is not None and not ends:
            changes["status"] = RunStatus.from_any(status)
        if changes:
            with self.repo.runs.updating(run_id) as live:
                if name is not None:
                    live.set_tags({"mlflow.runName": changes["run_name"]})
                live.set_info(**changes)
        if ends:
            self.set_terminated(run_id, status, end_time)

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        """End a run; its files are committed (commit-per-run) unless auto_commit is off."""
        status = RunStatus.from_any(status or RunStatus.FINISHED)
        probe = self._probes.pop(run_id, None)
        if probe is not None:
            with self.repo.runs.updating(run_id) as live:
                live.set_info(code={"dirty": probe.result()})
        self.repo.runs.terminate(run_id, status, end_time)

    def in_one_commit(self, subject: str) -> AbstractContextManager[None]:
        """Runs this thread ends inside the ``with`` block become one commit, ``subject``."""
        return self.repo.runs.one_commit(subject)

    def delete(self, run_id: str) -> None:
        self.repo.runs.set_lifecycle(run_id, LifecycleStage.DELETED)

    def restore(self, run_id: str) -> bool:
        """Restore a deleted run; False (and nothing written) when it was not deleted."""
        if self.repo.runs.get(run_id).lifecycle_stage != LifecycleStage.DELETED:
            return False
        self.repo.runs.set_lifecycle(run_id, LifecycleStage.ACTIVE)
        return True

    def search(
        self,
        experiment_ids: Sequence[str] | str | None,
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [str(experiment_ids)]
        if max_results is not None and (max_results <= 0 or max_results > SEARCH_MAX_RESULTS):
            raise InvalidParameterValue(
                f"Invalid value {max_results} for parameter 'max_results' supplied. "
                f"It must be from 1 to {SEARCH_MAX_RESULTS}."
            )
        records = self.search_records(experiment_ids, filter_string, run_view_type, order_by)
        page = paginate(records, max_results, page_token)
        return PagedList([self.to_run(r) for r in page], page.token)

    def search_records(
        self,
        experiment_ids: Sequence[str] | None,
        filter_string: str | None = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        order_by: list[str] | None = None,
        progress: Any = None,
        rev: str | None = None,
    ) -> list[RunRecord]:
        """Matching runs as stored records, sorted (the engine behind search_runs and the CLI).

        ``rev`` reads the runs stored at any git revision instead of the working tree.
        """
        matcher = search.parse_filter(filter_string, search.ENTITY_RUNS)
        order = search.parse_order_by(order_by, search.ENTITY_RUNS)
        view = ViewType.from_any(run_view_type)
        ids = None if experiment_ids is None else {str(e) for e in experiment_ids}
        if rev is not None:
            snapshot = self.repo.revisions.snapshot(rev, progress)
            records = [
                r
                for r in snapshot.runs.values()
                if (ids is None or r.experiment_id in ids)
                and LifecycleStage.matches_view_type(view, r.lifecycle_stage)
            ]
        else:
            runs = self.repo.runs
            records = runs.records(None if ids is None else sorted(ids), view, progress)
            records = [self._with_effective_status(r) for r in records]
        return search.sort_records(
            [r for r in records if matcher.matches(r)], order, search.ENTITY_RUNS
        )

    def _with_effective_status(self, record: RunRecord) -> RunRecord:
        if record.status != RunStatus.RUNNING:
            return record
        status = self.repo.runs.effective_status(record)
        if status == record.status:
            return record
        copy = record.copy()
        copy.status = status
        return copy

    def experiment_names(self, rev: str | None = None) -> dict[str, str]:
        """Experiment id to name, in the working tree or as stored at ``rev``."""
        if rev is None:
            return {e.experiment_id: e.name for e in self.repo.list_experiments()}
        experiments = self.repo.revisions.snapshot(rev).experiments
        return {experiment_id: e.name for experiment_id, e in experiments.items()}

    def find(self, prefix: str, rev: str | None = None) -> tuple[RunRecord, str]:
        """The run a unique id prefix names, and its status (``rev``: as stored at that revision)."""
        run_id = self.resolve_id(prefix, rev)
        if rev is None:
            record = self.repo.runs.get(run_id)
            return record, self.repo.runs.effective_status(record)
        stored = self.repo.revisions.snapshot(rev).runs[run_id]
        return stored, stored.status

    def compare(self, prefix_a: str, prefix_b: str, rev: str | None = None) -> RunComparison:
        """Params and metrics of two runs side by side."""
        a, _ = self.find(prefix_a, rev)
        b, _ = self.find(prefix_b, rev)
        return compare_runs(a, b, f"{a.run_name} vs {b.run_name}")

    def resolve_id(self, prefix: str, rev: str | None = None) -> str:
        """The full id of the run whose id starts with ``prefix`` (like git's short hashes)."""
        if rev is None or len(prefix) == 32:
            return self.repo.runs.resolve_id(prefix)
        if len(prefix) < 4:
            raise InvalidParameterValue(
                f"Run id prefix {prefix!r} is too short: give at least 4 characters."
            )
        ids = {r.run_id for r in self.search_records(None, "", ViewType.ALL, rev=rev)}
        return unique_match(prefix, ids)
