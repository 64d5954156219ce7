"""Cross-check mltrack.search against MLflow itself (not collected by pytest).

Run it with the interpreter of a virtualenv that has MLflow installed::

    /work/mlflow-venv/bin/python tests/mlflow_crosscheck_search.py [-v]

For every filter string below it prints whether MLflow's ``parse_search_filter`` accepts
it (``parse``), whether MLflow's SQLite-backed store accepts it (``store``: the parser plus
the comparator checks the store makes), and whether ``mltrack.search.parse_filter``
accepts it (``ours``). When both accept, it also compares which records match, on runs,
experiments and registry entries created in a temporary MLflow store and read back as
mltrack records. ``order_by`` lists are compared the same way, by the order they produce.

Cases marked with a reason are deliberate differences (see the ``mltrack.search``
docstring). The exit status is 1 if any other case disagrees.
"""

from __future__ import annotations

import logging
import math
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from mltrack import search
from mltrack.exceptions import FilterSyntaxError

PROMPT_TAG = "mlflow.prompt.is_prompt"
OR_EXTENSION = "OR/parentheses: mltrack extension"
DANGLING_AND = "dangling or doubled AND: MLflow ignores it"
LEXER = "sqlparse splits this key; mltrack reads it whole"

RUN_FILTERS: list[tuple[str, str | None]] = [
    ("", None),
    ("metrics.a > 0.1", None),
    ("metrics.a >= 0.5", None),
    ("metrics.a < 1", None),
    ("metrics.a <= 0.5", None),
    ("metrics.a = 0.5", None),
    ("metrics.a != 0.5", None),
    ("metric.a > 0", None),
    ("metrics.a>0", None),
    ("metrics.b < -0.5", None),
    ("metrics.b >-1.5", None),
    ("metrics.a > .4", None),
    ("metrics.a > 1.", None),
    ("metrics.a > -.5", None),
    ("metrics.a > 1e-2", None),
    ("metrics.a > 1E-2", None),
    ("metrics.a < 2e0", None),
    ("metrics.a > 00001", None),
    ("metrics.a < 1e500", None),
    ("metrics.n != 1", None),
    ("metrics.n = 1", None),
    ("metrics.n > 0", None),
    ("metrics.n < 0", None),
    ("metrics.missing != 1", None),
    ("metrics.`val-loss/x:1` > 1", None),
    ('metrics."val-loss/x:1" > 1', None),
    ("metrics.'val-loss/x:1' > 1", None),
    ("`metrics`.`val-loss/x:1` > 1", None),
    ("`metrics`.a > 1", None),
    ("metrics.a = '0.5'", None),
    ("metrics.a > nan", None),
    ("metrics.a LIKE 1", None),
    ("metrics.a IS NULL", None),
    ("metrics.a => 1", None),
    ("metrics.a == 1", None),
    ("metrics.a <> 1", None),
    ("metrics.a > - 1", None),
    ("metrics.a > +1", None),
    ("metrics.a > 1.5e+3", None),
    ("metrics.a > 1.e5", None),
    ("metrics.a > 0x10", None),
    ("metrics.a > 1_000", None),
    ("metrics.a IN (1)", None),
    ("metrics.val-loss > 1", None),
    ("Metrics.a > 1", None),
    ("metrics.a.b > 1", None),
    ("metrics.1abc > 1", None),
    ("metrics.in > 1", LEXER),
    ("metrics.from > 1", LEXER),
    ("metrics.a.1 > 1", LEXER),
    ("metrics.and > 1", None),
    ("metrics. a > 1", "space after the dot: MLflow reads key ' a'"),
    ("metrics .a > 1", None),
    ("params.lr = '0.1'", None),
    ('params.lr = "0.1"', None),
    ("param.lr != '0.1'", None),
    ("parameter.lr = '0.01'", None),
    ("parameters.model LIKE 'cnn%'", None),
    ("params.model LIKE 'CNN%'", None),
    ("params.model ILIKE 'cnn%'", None),
    ("params.model like '%n_'", None),
    ("params.model Like 'r_n'", None),
    ("params.model ilike '%LARGE'", None),
    ("params.model LIKE '%'", None),
    ("params.model != 'cnn'", None),
    ("params.lr IS NULL", None),
    ("params.lr is null", None),
    ("params.lr IS NOT NULL", None),
    ("params.lr is not null", None),
    ("params.lr IS NOT  NULL", "MLflow compares 'NOT NULL' with one space"),
    ("params.`a b` = 'x'", None),
    ("params.lr < '1'", None),
    ("params.lr = 0.1", None),
    ("params.lr = x", None),
    ("params.lr = `x`", None),
    ("params.lr IN ('0.1')", None),
    ("params.lr NOT LIKE '0%'", None),
    ("params.lr RLIKE '0'", None),
    ("params.lr = NULL", None),
    ("params.lr IS 'x'", None),
    ("params.lr NOT NULL", None),
    ("params.model = ''", None),
    ("params.select = 'x'", None),
    ("tags.team = 'Vision'", None),
    ("tag.team != 'nlp'", None),
    ("tags.team LIKE 'V%'", None),
    ("tags.team ILIKE 'v%'", None),
    ("tags.team IS NULL", None),
    ("tags.team IS NOT NULL", None),
    ("tags.mlflow.runName = 'r1'", None),
    ("tags.`mlflow.runName` = 'r1'", None),
    ("tags.\"mlflow.runName\" = 'r1'", None),
    ("tags.`weird key` LIKE '%\\%'", None),
    ("tags.`weird key` = '100%'", None),
    ('tags.note = "it\'s"', None),
    ("tags.note = 'it''s'", "'' is one quote here, two in MLflow"),
    ("tags.note = 'it\\'s'", "backslash before a quote: rejected here"),
    ("tags.team > 'a'", None),
    ("tags.team IN ('nlp')", None),
    ("tags.team = 1", None),
    ("attributes.status = 'FINISHED'", None),
    ("attribute.status != 'FINISHED'", None),
    ("attr.status LIKE 'F%'", None),
    ("run.status ILIKE 'running'", None),
    ("status = 'FAILED'", None),
    ("status > 'A'", None),
    ("status IN ('FAILED')", None),
    ("status IS NULL", None),
    ("user_id = 'alice'", None),
    ("artifact_uri LIKE '%artifacts'", None),
    ("run_name = 'r2'", None),
    ("run_name LIKE 'Run\\_%'", None),
    ("run_name LIKE 'r_'", None),
    ("attributes.run_name ILIKE 'R%'", None),
    ("`Run name` = 'r1'", None),
    ("\"run name\" = 'r1'", None),
    ("attributes.`Run Name` = 'r1'", None),
    ("run name = 'r1'", None),
    ("'run name' = 'r1'", None),
    ("run_id = '{r1}'", None),
    ("run_id != '{r1}'", None),
    ("run_id IN ('{r1}', '{r2}')", None),
    ("run_id in ('{r1}')", None),
    ("run_id NOT IN ('{r1}', '{r2}')", None),
    ("run_id not in ('{r3}',)", None),
    ("run_id IN (\"{r1}\", '{r2}')", None),
    ("run_id IN ()", None),
    ("run_id IN (1, 2)", None),
    ("run_id IN '{r1}'", None),
    ("run_id IN ('{r1}' '{r2}')", "strings juxtaposed in a list"),
    ("run_id = ('{r1}')", None),
    ("run_id = 1", None),
    ("start_time > 1500", None),
    ("start_time >= 1000", None),
    ("start_time = 1000", None),
    ("start_time != 1000", None),
    ("start_time > 1500.5", None),
    ("start_time > '1'", None),
    ("start_time LIKE 1", None),
    ("start_time IN (1)", None),
    ("created > 1500", None),
    ("Created <= 1000", None),
    ("attributes.created > 0", None),
    ("end_time > 0", None),
    ("end_time != 0", None),
    ("end_time = -5", None),
    ("lifecycle_stage = 'active'", None),
    ("rmse > 1", None),
    ("foo.a > 1", None),
    ("datasets.name = 'train-ds'", None),
    ("dataset.name != 'train-ds'", None),
    ("datasets.digest LIKE 'd%'", None),
    ("datasets.context = 'train'", None),
    ("datasets.context != 'train'", None),
    ("datasets.context IN ('train', 'eval')", None),
    ("datasets.context NOT IN ('train')", None),
    ("datasets.name NOT IN ('train-ds')", None),
    ("datasets.name ILIKE 'TRAIN%'", None),
    ("datasets.foo = 'x'", None),
    ("datasets.name < 'x'", None),
    ("datasets.name = 1", None),
    ("datasets.name IS NULL", None),
    ("metrics.a > 0 AND params.model = 'cnn'", None),
    ("metrics.a > 0 and params.model = 'cnn'", None),
    ("metrics.a > 0 And tags.team = 'nlp'", None),
    ("params.model='cnn'AND metrics.a>0", None),
    ("metrics.a > 0 AND metrics.a < 1 AND tags.team IS NOT NULL", None),
    ("metrics.a > 1 OR params.model = 'rnn'", OR_EXTENSION),
    ("(metrics.a > 1)", OR_EXTENSION),
    ("(metrics.a > 1 OR status = 'FAILED') AND user_id = 'alice'", OR_EXTENSION),
    ("AND metrics.a > 1", DANGLING_AND),
    ("metrics.a > 1 AND", DANGLING_AND),
    ("metrics.a > 0 AND AND params.model = 'cnn'", DANGLING_AND),
    ("params.model = 'cnn' params.lr = '0.1'", "two comparisons without AND"),
    ("metrics.a > 1 AND NOT metrics.a > 2", None),
    ("metrics.a > 1;", None),
    ("metrics.a > 1; metrics.a < 2", None),
    ("metrics.a > 1 -- comment", None),
    ("metrics.a > 1 /* comment */", None),
    ("metrics.a > 1 2", None),
    ("params.model = 'cnn' 'x'", None),
    ("metrics.a>1and params.model='cnn'", None),
    ("metrics.a > 1 ANDparams.b = 'x'", None),
    ("   ", "whitespace-only filter: matches everything here"),
]

EXPERIMENT_FILTERS: list[tuple[str, str | None]] = [
    ("name = 'exp-a'", None),
    ("attribute.name = 'exp-a'", None),
    ("attributes.name = 'exp-a'", None),
    ("attr.name = 'exp-a'", None),
    ("`name` = 'exp-a'", None),
    ("name LIKE 'exp-%'", None),
    ("name ILIKE 'EXP-%'", None),
    ("name != 'exp-a'", None),
    ("name > 'x'", None),
    ("name IN ('exp-a')", None),
    ("name IS NULL", None),
    ("experiment_id = '{exp-a}'", None),
    ("experiment_id != '{exp-a}'", None),
    ("experiment_id IN ('{exp-a}', '{exp-b}')", None),
    ("experiment_id NOT IN ('{exp-a}')", None),
    ("experiment_id LIKE '1'", None),
    ("experiment_id = 1", None),
    ("experiment_id = 'abc'", "experiment ids need not be integers here"),
    ("creation_time > 0", None),
    ("creation_time > 5.5", None),
    ("creation_time > '5'", None),
    ("creation_time LIKE 5", None),
    ("creation_time IS NULL", None),
    ("last_update_time >= 0", None),
    ("tags.k = 'v'", None),
    ("tag.k != 'v'", None),
    ("tags.k LIKE 'v%'", None),
    ("tags.k ILIKE 'V%'", None),
    ("tags.k IS NULL", None),
    ("tags.k IS NOT NULL", None),
    ("tags.k > 'a'", None),
    ("tags.k IN ('v')", None),
    ("tags.k = 1", None),
    ("`tags`.k = 'v'", "backticked entity outside runs"),
    ("metrics.a > 1", None),
    ("params.a = 'x'", None),
    ("lifecycle_stage = 'active'", None),
    ("name LIKE 'exp-%' AND tags.k = 'v'", None),
    ("name = 'exp-a' OR name = 'exp-b'", OR_EXTENSION),
]

REGISTERED_MODEL_FILTERS: list[tuple[str, str | None]] = [
    ("name = 'm1'", None),
    ("attribute.name = 'm1'", None),
    ("`name` = 'm1'", "quoted attribute key in the registry"),
    ("name LIKE 'm%'", None),
    ("name ILIKE 'M%'", None),
    ("name != 'm1'", None),
    ("name IN ('m1', 'm2')", None),
    ("name NOT IN ('m1')", None),
    ("name > 'm'", None),
    ("name = 1", None),
    ("tags.k = 'v'", None),
    ("tag.k = 'v'", None),
    ("tags.k != 'v'", None),
    ("tags.k LIKE 'v%'", None),
    ("tags.k ILIKE 'V%'", None),
    ("tags.k IS NULL", None),
    ("tags.k > 'a'", None),
    ("tags.`mlflow.prompt.is_prompt` != 'true'", None),
    ("tag.`mlflow.prompt.is_prompt` = 'true'", None),
    ("name LIKE 'm%' AND tag.`mlflow.prompt.is_prompt` != 'true'", None),
    ("run_id = 'x'", None),
    ("creation_timestamp > 5", None),
    ("timestamp > 5", None),
    ("metrics.a > 1", None),
]

MODEL_VERSION_FILTERS: list[tuple[str, str | None]] = [
    ("name = 'm1'", None),
    ("attribute.name = 'm1'", None),
    ("name LIKE 'm%'", None),
    ("name IN ('m1', 'm2')", None),
    ("name NOT IN ('m1')", None),
    ("name > 'm'", None),
    ("run_id = '{r1}'", None),
    ("run_id IN ('{r1}', '{r2}')", None),
    ("run_id NOT IN ('{r1}')", None),
    ("run_id LIKE '%'", None),
    ("source_path = 'src/1'", None),
    ("source_path LIKE 'src/%'", None),
    ("source_path IN ('src/1')", None),
    ("version_number = 1", None),
    ("version_number > 1", None),
    ("version_number != 1", None),
    ("version_number <= 2", None),
    ("version_number = 1.5", None),
    ("version_number = '1'", None),
    ("version_number LIKE 1", None),
    ("version_number IN (1)", None),
    ("tags.k = 'v'", None),
    ("tag.k LIKE 'v%'", None),
    ("tags.k IS NULL", None),
    ("tags.k > 'a'", None),
    ("tags.k IN ('v')", None),
    ("tag.`mlflow.prompt.is_prompt` != 'true'", None),
    ("current_stage = 'Production'", None),
    ("alias = 'x'", None),
    ("source = 'x'", None),
    ("version = 1", None),
    ("run_id = 1", None),
    ("name = 'm1' AND version_number >= 2", None),
]

RUN_ORDERS: list[tuple[list[str], str | None]] = [
    ([], None),
    (["metrics.a"], None),
    (["metrics.a DESC"], None),
    (["metrics.a desc"], None),
    (["metric.a ASC"], None),
    (["metrics.n"], None),
    (["metrics.n DESC"], None),
    (["params.model"], None),
    (["params.model DESC", "metrics.a"], None),
    (["tags.team DESC"], None),
    (["tags.`mlflow.runName` DESC"], None),
    (['tags."mlflow.runName"'], None),
    (["tags.mlflow.runName"], None),
    (["metrics.`val-loss/x:1`"], None),
    (["start_time"], None),
    (["start_time DESC"], None),
    (["created"], None),
    (["Created DESC"], None),
    (["attributes.start_time", "run_id DESC"], None),
    (["end_time"], None),
    (["end_time DESC"], None),
    (["status", "user_id DESC"], None),
    (["run_name"], None),
    (["artifact_uri"], None),
    (["`Run name`"], None),
    (["run name"], None),
    (["rmse"], None),
    (["lifecycle_stage"], None),
    (["datasets.name"], None),
    (["metrics.a DOWN"], None),
    (["metrics.a DESC NULLS LAST"], None),
    (["metrics.a, metrics.b"], None),
    (["metrics.a DESC ASC"], None),
    (["metrics.a", "metrics.a DESC"], None),
    (["created", "start_time"], None),
    (["timestamp"], None),
    ([" metrics.a "], "whitespace around a clause"),
    ([""], None),
]

EXPERIMENT_ORDERS: list[tuple[list[str], str | None]] = [
    ([], None),
    (["name"], None),
    (["name DESC"], None),
    (["attribute.name"], None),
    (["`name`"], None),
    (["experiment_id"], None),
    (["experiment_id DESC"], None),
    (["creation_time DESC"], None),
    (["last_update_time", "name DESC"], None),
    (["name", "name"], None),
    (["timestamp"], None),
    (["tags.k"], None),
    (["run_id"], None),
]

REGISTERED_MODEL_ORDERS: list[tuple[list[str], str | None]] = [
    ([], None),
    (["name"], None),
    (["name DESC"], None),
    (["timestamp"], None),
    (["timestamp DESC", "name"], None),
    (["last_updated_timestamp DESC"], None),
    (["timestamp", "last_updated_timestamp"], None),
    (["attribute.name"], "attribute. prefix in registry order_by"),
    (["creation_timestamp"], None),
    (["tags.k"], None),
]

MODEL_VERSION_ORDERS: list[tuple[list[str], str | None]] = [
    ([], None),
    (["name"], None),
    (["name DESC"], None),
    (["version_number"], None),
    (["version_number DESC"], None),
    (["name DESC", "version_number"], None),
    (["creation_timestamp DESC"], None),
    (["last_updated_timestamp"], None),
    (["attribute.name"], None),
    (["name", "name DESC"], None),
    (["timestamp"], None),
    (["tags.k"], None),
    (["run_id"], None),
]


# --- mltrack records built from what MLflow stored ---------------------------------------


@dataclass
class RunRecord:
    run_id: str
    run_name: str
    status: str
    user_id: str
    artifact_uri: str
    start_time: int
    end_time: int | None
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    datasets: list[tuple[str, str, str | None]] = field(default_factory=list)


@dataclass
class ExperimentRecord:
    experiment_id: str
    name: str
    tags: dict[str, str]
    creation_time: int | None
    last_update_time: int | None


@dataclass
class RegisteredModelRecord:
    name: str
    tags: dict[str, str]
    creation_timestamp: int | None
    last_updated_timestamp: int | None


@dataclass
class ModelVersionRecord:
    name: str
    version: int
    run_id: str | None
    source: str
    tags: dict[str, str]
    creation_timestamp: int | None
    last_updated_timestamp: int | None


def _run_record(run: Any) -> RunRecord:
    datasets = []
    for dataset_input in run.inputs.dataset_inputs:
        context = next(
            (t.value for t in dataset_input.tags if t.key == "mlflow.data.context"), None
        )
        datasets.append((dataset_input.dataset.name, dataset_input.dataset.digest, context))
    return RunRecord(
        run_id=run.info.run_id,
        run_name=run.info.run_name,
        status=run.info.status,
        user_id=run.info.user_id,
        artifact_uri=run.info.artifact_uri,
        start_time=run.info.start_time,
        end_time=run.info.end_time,
        metrics=dict(run.data.metrics),
        params=dict(run.data.params),
        tags=dict(run.data.tags),
        datasets=datasets,
    )


@dataclass
class World:
    """An MLflow SQLite store with a few entities, and the same entities as mltrack records."""

    tracking: Any
    registry: Any
    experiment_id: str
    runs: list[RunRecord]
    experiments: list[ExperimentRecord]
    models: list[RegisteredModelRecord]
    versions: list[ModelVersionRecord]
    ids: dict[str, str]  # placeholder ({r1}, {exp-a}) -> id


def build_world() -> World:
    from mlflow.entities import (
        Dataset,
        DatasetInput,
        InputTag,
        Metric,
        Param,
        RunStatus,
        RunTag,
    )
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    root = Path(tempfile.mkdtemp(prefix="mltrack-crosscheck-"))
    uri = f"sqlite:///{root}/mlflow.db"
    tracking = SqlAlchemyStore(uri, str(root / "artifacts"))
    registry = RegistryStore(uri)
    experiment_id = tracking.create_experiment("runs-here")

    def dataset(name: str, digest: str, context: str | None) -> Any:
        tags = [InputTag("mlflow.data.context", context)] if context else []
        return DatasetInput(Dataset(name, digest, "local", "src"), tags)

    specs: list[dict[str, Any]] = [
        dict(
            name="r1",
            user="alice",
            start=1000,
            status="FINISHED",
            end=2000,
            metrics={"a": 0.5, "b": -1.0, "n": math.nan},
            params={"lr": "0.1", "model": "cnn"},
            tags={"team": "Vision"},
            datasets=[("train-ds", "d1", "train"), ("eval-ds", "d2", "eval")],
        ),
        dict(
            name="r2",
            user="bob",
            start=2000,
            status="RUNNING",
            end=None,
            metrics={"a": 1.5, "n": 3.0},
            params={"lr": "0.01", "model": "CNN-large"},
            tags={"team": "nlp", "note": "it's"},
            datasets=[("train-ds", "d1", None)],
        ),
        dict(
            name="r3",
            user="alice",
            start=1000,
            status="FAILED",
            end=1500,
            metrics={},
            params={"model": "rnn"},
            tags={},
            datasets=[],
        ),
        dict(
            name="Run_4%",
            user="carol",
            start=3000,
            status="FINISHED",
            end=3500,
            metrics={"a": 1e-3, "val-loss/x:1": 2.0, "b": -2.0},
            params={"a b": "x", "model": ""},
            tags={"weird key": "100%", "team": "nlp"},
            datasets=[],
        ),
        dict(
            name="RunX",
            user="bob",
            start=2000,
            status="KILLED",
            end=2500,
            metrics={"a": 0.5},
            params={"lr": "1"},
            tags={"team": "vision"},
            datasets=[],
        ),
    ]
    ids: dict[str, str] = {}
    runs = []
    for spec in specs:
        run = tracking.create_run(experiment_id, spec["user"], spec["start"], [], spec["name"])
        run_id = run.info.run_id
        ids["{" + spec["name"] + "}"] = run_id
        tracking.log_batch(
            run_id,
            metrics=[Metric(k, v, 0, 0) for k, v in spec["metrics"].items()],
            params=[Param(k, v) for k, v in spec["params"].items()],
            tags=[RunTag(k, v) for k, v in spec["tags"].items()],
        )
        if spec["datasets"]:
            tracking.log_inputs(run_id, [dataset(*d) for d in spec["datasets"]])
        status = RunStatus.from_string(spec["status"])
        tracking.update_run_info(run_id, status, spec["end"], spec["name"])
        runs.append(_run_record(tracking.get_run(run_id)))

    for name, tags in [("exp-a", {"k": "v"}), ("exp-b", {"k": "V2"}), ("other", {})]:
        exp_id = tracking.create_experiment(name, tags=[RunTag(k, v) for k, v in tags.items()])
        ids["{" + name + "}"] = exp_id
    experiments = [
        ExperimentRecord(e.experiment_id, e.name, dict(e.tags), e.creation_time, e.last_update_time)
        for e in tracking.search_experiments(max_results=1000)
    ]

    from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag

    for name, tags in [("m1", {"k": "v"}), ("m2", {"k": "w"}), ("n3", {})]:
        registry.create_registered_model(
            name, tags=[RegisteredModelTag(k, v) for k, v in tags.items()]
        )
    registry.create_registered_model(
        "prompt1", tags=[RegisteredModelTag("mlflow.prompt.is_prompt", "true")]
    )
    version_specs = [
        ("m1", "src/1", "{r1}", {"k": "v"}),
        ("m1", "src/2", "{r2}", {}),
        ("m2", "other/1", "{r1}", {"k": "vv"}),
        ("n3", "src/3", None, {}),
    ]
    for name, source, run, tags in version_specs:
        registry.create_model_version(
            name,
            source,
            run_id=ids[run] if run else None,
            tags=[ModelVersionTag(k, v) for k, v in tags.items()],
        )
    models = [
        RegisteredModelRecord(m.name, dict(m._tags), m.creation_timestamp, m.last_updated_timestamp)
        for prompts in ("true", "false")
        for m in registry.search_registered_models(
            filter_string=f"tags.`{PROMPT_TAG}` = '{prompts}'", max_results=1000
        )
    ]
    versions = [
        ModelVersionRecord(
            v.name,
            int(v.version),
            v.run_id,
            v.source,
            dict(v.tags),
            v.creation_timestamp,
            v.last_updated_timestamp,
        )
        for v in registry.search_model_versions(max_results=1000)
    ]
    return World(tracking, registry, experiment_id, runs, experiments, models, versions, ids)


# --- Comparing ----------------------------------------------------------------------------


@dataclass
class Entity:
    name: str
    parse: Callable[[str], object]  # MLflow's parse_search_filter
    search: Callable[[str], list[str]]  # MLflow's store: matching names, in order
    order: Callable[[list[str]], list[str]]  # MLflow's store: all names, ordered
    records: Sequence[Any]
    label: Callable[[Any], str]


def entities(world: World) -> list[Entity]:
    from mlflow.entities import ViewType
    from mlflow.utils.search_utils import (
        SearchExperimentsUtils,
        SearchModelUtils,
        SearchModelVersionUtils,
        SearchUtils,
    )

    t, r, exp = world.tracking, world.registry, world.experiment_id
    run_label = lambda x: x.run_name  # noqa: E731
    mv_label = lambda x: f"{x.name}/{x.version}"  # noqa: E731
    return [
        Entity(
            search.ENTITY_RUNS,
            SearchUtils.parse_search_filter,
            lambda f: [x.info.run_name for x in t.search_runs([exp], f, ViewType.ALL)],
            lambda o: [x.info.run_name for x in t.search_runs([exp], "", ViewType.ALL, order_by=o)],
            world.runs,
            run_label,
        ),
        Entity(
            search.ENTITY_EXPERIMENTS,
            SearchExperimentsUtils.parse_search_filter,
            lambda f: [x.name for x in t.search_experiments(filter_string=f)],
            lambda o: [x.name for x in t.search_experiments(order_by=o)],
            world.experiments,
            lambda x: x.name,
        ),
        Entity(
            search.ENTITY_REGISTERED_MODELS,
            SearchModelUtils.parse_search_filter,
            lambda f: [x.name for x in r.search_registered_models(filter_string=f)],
            lambda o: [x.name for x in r.search_registered_models(order_by=o)],
            world.models,
            lambda x: x.name,
        ),
        Entity(
            search.ENTITY_MODEL_VERSIONS,
            SearchModelVersionUtils.parse_search_filter,
            lambda f: [f"{x.name}/{x.version}" for x in r.search_model_versions(f)],
            lambda o: [f"{x.name}/{x.version}" for x in r.search_model_versions(order_by=o)],
            world.versions,
            mv_label,
        ),
    ]


def _verdict(call: Callable[[], Any]) -> tuple[bool, Any, str]:
    try:
        return True, call(), ""
    except FilterSyntaxError as error:
        return False, None, error.message.splitlines()[0]
    except Exception as error:  # MLflow raises MlflowException, sometimes worse
        return False, None, f"{type(error).__name__}: {str(error).splitlines()[0][:100]}"


def _visible(entity: Entity, records: Sequence[Any], parsed: search.Filter | None) -> list[Any]:
    """MLflow's registry leaves prompts out unless the filter asks about them."""
    if entity.name != search.ENTITY_REGISTERED_MODELS:
        return list(records)
    if parsed is not None and (search.TAG, PROMPT_TAG) in parsed.references():
        return list(records)
    return [r for r in records if r.tags.get(PROMPT_TAG) != "true"]


def _our_matches(entity: Entity, text: str) -> list[str]:
    parsed = search.parse_filter(text, entity.name)
    return sorted(entity.label(x) for x in _visible(entity, parsed.select(entity.records), parsed))


def _our_order(entity: Entity, clauses: list[str]) -> list[str]:
    order = search.parse_order_by(clauses, entity.name)
    records = _visible(entity, entity.records, None)
    return [entity.label(x) for x in search.sort_records(records, order, entity.name)]


def check_filter(entity: Entity, text: str, reason: str | None, verbose: bool) -> bool:
    parsed, _, _ = _verdict(lambda: entity.parse(text))
    stored, theirs, their_error = _verdict(lambda: sorted(entity.search(text)))
    accepted, ours, our_error = _verdict(lambda: _our_matches(entity, text))
    agree = stored == accepted and (not accepted or theirs == ours)
    return _report(
        entity.name,
        repr(text),
        parsed,
        stored,
        accepted,
        agree,
        reason,
        theirs,
        ours,
        their_error,
        our_error,
        verbose,
    )


def check_order(entity: Entity, clauses: list[str], reason: str | None, verbose: bool) -> bool:
    stored, theirs, their_error = _verdict(lambda: entity.order(clauses))
    accepted, ours, our_error = _verdict(lambda: _our_order(entity, clauses))
    agree = stored == accepted and (not accepted or theirs == ours)
    return _report(
        entity.name,
        f"order_by={clauses!r}",
        None,
        stored,
        accepted,
        agree,
        reason,
        theirs,
        ours,
        their_error,
        our_error,
        verbose,
    )


def _report(
    entity: str,
    what: str,
    parsed: bool | None,
    stored: bool,
    accepted: bool,
    agree: bool,
    reason: str | None,
    theirs: Any,
    ours: Any,
    their_error: str,
    our_error: str,
    verbose: bool,
) -> bool:
    word = {True: "accept", False: "reject", None: "-"}
    status = "agree" if agree else ("known" if reason else "DIFFER")
    print(
        f"{status:6} {entity:17} parse={word[parsed]:6} store={word[stored]:6} "
        f"ours={word[accepted]:6} {what}" + (f"   [{reason}]" if reason and not agree else "")
    )
    if verbose or not agree:
        print(f"{'':7}mlflow: {theirs if stored else their_error}")
        print(f"{'':7}ours:   {ours if accepted else our_error}")
    if agree and reason:
        print(f"{'':7}note: marked as a known difference but agrees: {reason}")
    return agree or reason is not None


def main() -> int:
    logging.disable(logging.WARNING)
    verbose = "-v" in sys.argv
    world = build_world()
    by_name = {e.name: e for e in entities(world)}
    ok = True
    for entity_name, filters, orders in [
        (search.ENTITY_RUNS, RUN_FILTERS, RUN_ORDERS),
        (search.ENTITY_EXPERIMENTS, EXPERIMENT_FILTERS, EXPERIMENT_ORDERS),
        (search.ENTITY_REGISTERED_MODELS, REGISTERED_MODEL_FILTERS, REGISTERED_MODEL_ORDERS),
        (search.ENTITY_MODEL_VERSIONS, MODEL_VERSION_FILTERS, MODEL_VERSION_ORDERS),
    ]:
        entity = by_name[entity_name]
        for text, reason in filters:
            for placeholder, real in world.ids.items():
                text = text.replace(placeholder, real)
            ok &= check_filter(entity, text, reason, verbose)
        for clauses, reason in orders:
            ok &= check_order(entity, clauses, reason, verbose)
    print("all cases agree or are known differences" if ok else "UNEXPECTED DIFFERENCES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
