"""Typed records for what mltrack stores: experiments, runs, metrics, datasets.

They mirror MLflow's entity classes (``mlflow.entities``) in names and fields so
code written against MLflow reads them unchanged. ``to_dict``/``from_dict``
convert at the storage edge only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, ClassVar

from mltrack.exceptions import InvalidParameterValue

__all__ = [
    "CodeVersion",
    "Dataset",
    "DatasetInput",
    "Experiment",
    "FileInfo",
    "InputTag",
    "LifecycleStage",
    "LoggedModel",
    "LoggedModelInput",
    "LoggedModelOutput",
    "LoggedModelStatus",
    "Metric",
    "Param",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOutputs",
    "RunStatus",
    "RunTag",
    "ViewType",
]


class LifecycleStage:
    ACTIVE = "active"
    DELETED = "deleted"

    @classmethod
    def matches_view_type(cls, view_type: int, lifecycle_stage: str) -> bool:
        if view_type == ViewType.ALL:
            return True
        if view_type == ViewType.DELETED_ONLY:
            return lifecycle_stage == cls.DELETED
        return lifecycle_stage == cls.ACTIVE


class ViewType(enum.IntEnum):
    """Which lifecycle stages a search returns (MLflow's numbering)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @classmethod
    def from_any(cls, value: int | str | ViewType | None) -> ViewType:
        if value is None:
            return cls.ACTIVE_ONLY
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                raise InvalidParameterValue(
                    f"Invalid view type {value!r}: use ACTIVE_ONLY, DELETED_ONLY or ALL."
                ) from None
        return cls(int(value))


class RunStatus:
    """Run states as MLflow names them (strings; MLflow's ints via ``to_int``)."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    ALL = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
    TERMINATED = ("FINISHED", "FAILED", "KILLED")
    _INTS: ClassVar[dict[str, int]] = {
        "RUNNING": 1,
        "SCHEDULED": 2,
        "FINISHED": 3,
        "FAILED": 4,
        "KILLED": 5,
    }

    @classmethod
    def is_terminated(cls, status: str) -> bool:
        return status in cls.TERMINATED

    @classmethod
    def to_int(cls, status: str) -> int:
        return cls._INTS[status]

    @classmethod
    def from_any(cls, status: str | int) -> str:
        if isinstance(status, int):
            for name, number in cls._INTS.items():
                if number == status:
                    return name
        elif isinstance(status, str) and status.upper() in cls._INTS:
            return status.upper()
        raise InvalidParameterValue(
            f"Invalid run status {status!r}: use one of {', '.join(cls.ALL)}."
        )


class Metric:
    """One logged metric point (read-only, as MLflow's Metric).

    A plain slotted class rather than a frozen dataclass: histories of 100,000
    points are built in bulk, and a frozen dataclass's ``__init__`` is four times
    slower. The fields are read-only properties.
    """

    __slots__ = (
        "_dataset_digest",
        "_dataset_name",
        "_key",
        "_model_id",
        "_run_id",
        "_step",
        "_timestamp",
        "_value",
    )

    def __init__(
        self,
        key: str,
        value: float,
        timestamp: int,
        step: int = 0,
        run_id: str | None = None,
        model_id: str | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
    ) -> None:
        self._key = key
        self._value = value
        self._timestamp = timestamp
        self._step = step
        self._run_id = run_id
        # MLflow 3: the logged model and dataset a point was logged for (None: not linked)
        self._model_id = model_id
        self._dataset_name = dataset_name
        self._dataset_digest = dataset_digest

    key = property(attrgetter("_key"))
    value = property(attrgetter("_value"))
    timestamp = property(attrgetter("_timestamp"))
    step = property(attrgetter("_step"))
    run_id = property(attrgetter("_run_id"))
    model_id = property(attrgetter("_model_id"))
    dataset_name = property(attrgetter("_dataset_name"))
    dataset_digest = property(attrgetter("_dataset_digest"))

    def _fields(self) -> tuple[Any, ...]:
        return (
            self._key,
            self._value,
            self._timestamp,
            self._step,
            self._run_id,
            self._model_id,
            self._dataset_name,
            self._dataset_digest,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Metric):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        linked = "".join(
            f", {name}={value!r}"
            for name, value in (
                ("model_id", self._model_id),
                ("dataset_name", self._dataset_name),
                ("dataset_digest", self._dataset_digest),
            )
            if value is not None
        )
        return (
            f"Metric(key={self._key!r}, value={self._value!r}, timestamp={self._timestamp!r}, "
            f"step={self._step!r}, run_id={self._run_id!r}{linked})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self._key,
            "value": self._value,
            "timestamp": self._timestamp,
            "step": self._step,
        }


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class InputTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset's identity as logged with ``log_input`` (MLflow's Dataset entity)."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "digest": self.digest,
            "source_type": self.source_type,
            "source": self.source,
        }
        if self.schema is not None:
            out["schema"] = self.schema
        if self.profile is not None:
            out["profile"] = self.profile
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dataset:
        return cls(
            name=data["name"],
            digest=data["digest"],
            source_type=data["source_type"],
            source=data["source"],
            schema=data.get("schema"),
            profile=data.get("profile"),
        )


@dataclass(frozen=True, slots=True)
class DatasetInput:
    dataset: Dataset
    tags: tuple[InputTag, ...] = ()

    @property
    def context(self) -> str | None:
        for tag in self.tags:
            if tag.key == "mlflow.data.context":
                return tag.value
        return None


@dataclass(frozen=True, slots=True)
class CodeVersion:
    """The code a run was produced from: commit, branch, dirty flag and entry point."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    entry_point: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "branch": self.branch,
            "dirty": self.dirty,
            "entry_point": self.entry_point,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> CodeVersion:
        data = data or {}
        return cls(
            commit=data.get("commit"),
            branch=data.get("branch"),
            dirty=data.get("dirty"),
            entry_point=data.get("entry_point"),
        )


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass(frozen=True, slots=True)
class RunData:
    """Params, tags and the latest value of every metric (MLflow's RunData)."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoggedModelInput:
    """A logged model a run used as an input (MLflow 3's ``log_inputs(models=...)``)."""

    model_id: str


@dataclass(frozen=True, slots=True)
class RunInputs:
    dataset_inputs: tuple[DatasetInput, ...] = ()
    model_inputs: tuple[LoggedModelInput, ...] = ()


@dataclass(frozen=True, slots=True)
class LoggedModelOutput:
    """A model a run produced, and the step it was logged at."""

    model_id: str
    step: int = 0


@dataclass(frozen=True, slots=True)
class RunOutputs:
    model_outputs: tuple[LoggedModelOutput, ...] = ()


@dataclass(frozen=True, slots=True)
class Run:
    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)
    code: CodeVersion = field(default_factory=CodeVersion)
    latest_metrics: tuple[Metric, ...] = ()
    outputs: RunOutputs = field(default_factory=RunOutputs)

    def to_dictionary(self) -> dict[str, Any]:
        """A plain dict like MLflow's ``Run.to_dictionary``."""
        return {
            "info": {
                "run_id": self.info.run_id,
                "run_uuid": self.info.run_id,
                "run_name": self.info.run_name,
                "experiment_id": self.info.experiment_id,
                "user_id": self.info.user_id,
                "status": self.info.status,
                "start_time": self.info.start_time,
                "end_time": self.info.end_time,
                "lifecycle_stage": self.info.lifecycle_stage,
                "artifact_uri": self.info.artifact_uri,
            },
            "data": {
                "metrics": dict(self.data.metrics),
                "params": dict(self.data.params),
                "tags": dict(self.data.tags),
            },
            "inputs": {
                "dataset_inputs": [
                    {
                        "dataset": d.dataset.to_dict(),
                        "tags": [{"key": t.key, "value": t.value} for t in d.tags],
                    }
                    for d in self.inputs.dataset_inputs
                ]
            },
            "code": self.code.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = LifecycleStage.ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


@dataclass(frozen=True, slots=True)
class FileInfo:
    """An artifact listing entry: path relative to the run's artifact root."""

    path: str
    is_dir: bool
    file_size: int | None = None


class LoggedModelStatus:
    """A logged model's state: PENDING while its files upload, then READY (or FAILED)."""

    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"

    ALL = ("PENDING", "READY", "FAILED")

    @classmethod
    def from_any(cls, status: str) -> str:
        """``READY`` from MLflow's ``READY``, ``LOGGED_MODEL_READY`` or ``LOGGED_MODEL_UPLOAD_FAILED``."""
        text = str(status).upper().removeprefix("LOGGED_MODEL_")
        text = {"UPLOAD_FAILED": cls.FAILED}.get(text, text)
        if text not in cls.ALL:
            raise InvalidParameterValue(
                f"Invalid logged model status {status!r}: use one of {', '.join(cls.ALL)}."
            )
        return text


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """An MLflow 3 logged model (``models:/m-<id>``).

    mltrack keeps it with the run that produced it: an entry in the run's
    outputs and a directory in the run's artifacts, so ``models:/<model_id>``
    and ``runs:/<source_run_id>/<artifact_path>`` name the same files.
    """

    model_id: str
    experiment_id: str
    name: str
    source_run_id: str
    artifact_path: str
    artifact_location: str
    status: str
    creation_timestamp: int
    last_updated_timestamp: int
    model_type: str | None = None
    step: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    # The latest point of each metric logged for the model, per run and dataset.
    metrics: list[Metric] = field(default_factory=list)
    # The run of this repository whose artifacts hold the files: ``source_run_id``, or
    # the model's holder run when the source run is not in this repository (mltrack's).
    files_run_id: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.files_run_id:
            object.__setattr__(self, "files_run_id", self.source_run_id)

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"


# MLflow's module paths (``mlflow.entities.run`` …): ``import mlflow`` makes them attributes of
# ``mlflow.entities`` because its package imports them. Here each is imported on first access,
# so scripts that write ``mlflow.entities.run.Run`` work without loading every module up front.
_SUBMODULES = frozenset(
    {
        "dataset",
        "dataset_input",
        "experiment",
        "file_info",
        "input_tag",
        "lifecycle_stage",
        "logged_model",
        "logged_model_input",
        "logged_model_output",
        "logged_model_status",
        "metric",
        "param",
        "run",
        "run_data",
        "run_info",
        "run_inputs",
        "run_outputs",
        "run_status",
        "run_tag",
        "view_type",
    }
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
