"""schema: the fast compiled checker agrees with jsonschema, and problems() names the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mltrack.exceptions import CorruptStore, InvalidParameterValue
from mltrack.store import schema, yamlio

FORBIDDEN_KEY_CHARS = "!\"#$%&'()*+,;<=>?@[\\]^`{|}~"

hex32 = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
digits = st.from_regex(r"\A[0-9]{1,19}\Z")
millis = st.integers(min_value=0, max_value=2**63 - 1)
keys = st.text(
    alphabet=st.characters(exclude_characters=FORBIDDEN_KEY_CHARS, exclude_categories=("Cs", "Cc")),
    min_size=1,
    max_size=30,
)
short_text = st.text(max_size=20)

metric_point = st.fixed_dictionaries(
    {
        "value": st.one_of(st.floats(), st.integers()),
        "step": st.integers(),
        "timestamp": st.integers(),
    }
)
dataset_input = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=40),
        "digest": st.text(min_size=1, max_size=36),
        "source_type": short_text,
        "source": short_text,
    },
    optional={
        "schema": st.none() | short_text,
        "profile": st.none() | short_text,
        "tags": st.dictionaries(short_text, short_text, max_size=3),
    },
)
logged_model = st.fixed_dictionaries(
    {
        "model_id": hex32.map(lambda h: f"m-{h}"),
        "name": short_text,
        "artifact_path": short_text,
    },
    optional={
        "step": st.integers(),
        "status": short_text,
        "model_type": st.none() | short_text,
        "creation_timestamp": st.integers(),
        "tags": st.dictionaries(short_text, short_text, max_size=3),
        "params": st.dictionaries(short_text, short_text, max_size=3),
    },
)

run_documents = st.fixed_dictionaries(
    {
        "run_id": hex32,
        "run_name": st.text(max_size=250),
        "experiment_id": digits,
        "status": st.sampled_from(["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]),
        "start_time": millis,
        "end_time": st.none() | millis,
        "lifecycle_stage": st.sampled_from(["active", "deleted"]),
        "user": short_text,
        "parent_run_id": st.none() | hex32,
        "params": st.dictionaries(keys, st.text(max_size=60), max_size=5),
        "tags": st.dictionaries(keys, st.text(max_size=60), max_size=5),
        "metrics": st.dictionaries(keys, metric_point, max_size=5),
        "inputs": st.lists(dataset_input, max_size=2),
        "code": st.fixed_dictionaries(
            {},
            optional={
                "commit": st.none()
                | st.text(alphabet="0123456789abcdef", min_size=40, max_size=40),
                "branch": st.none() | short_text,
                "dirty": st.none() | st.booleans(),
                "entry_point": st.none() | short_text,
            },
        ),
    },
    optional={"deleted_time": st.none() | millis, "outputs": st.lists(logged_model, max_size=2)},
)
experiment_documents = st.fixed_dictionaries(
    {
        "experiment_id": digits,
        "name": st.text(min_size=1, max_size=500),
        "lifecycle_stage": st.sampled_from(["active", "deleted"]),
    },
    optional={
        "deleted_time": st.none() | millis,
        "tags": st.dictionaries(keys, st.text(max_size=60), max_size=5),
    },
)
settings_documents = st.fixed_dictionaries(
    {"format_version": st.just(1)},
    optional={
        "auto_commit": st.booleans(),
        "flush_interval_seconds": st.one_of(
            st.floats(min_value=0, exclude_min=True, allow_nan=False), st.integers(1, 100)
        ),
    },
)
DOCUMENTS = {
    "run": run_documents,
    "experiment": experiment_documents,
    "mltrack": settings_documents,
}

# Values of every JSON/YAML type, including the ones a checker could confuse:
# bool vs int, 1.0 vs 1, NaN, strings that look like numbers, empty containers.
any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(),
    st.sampled_from([1.0, 0.0, -1.0, 1e12, "1", "", "RUNNING", "active", "a" * 32, "0"]),
    st.text(max_size=10),
    st.lists(st.integers() | st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers() | st.text(max_size=3), max_size=2),
)
bad_keys = st.one_of(
    st.just(""),
    st.just("x" * 251),
    st.sampled_from(list(FORBIDDEN_KEY_CHARS)).map(lambda c: f"lr{c}"),
    st.just("tab\there"),
    st.integers(),
    st.booleans(),
    keys,
)


def agree(kind: str, document: Any) -> bool:
    fast = schema.is_valid(kind, document)
    slow = not schema.problems(kind, document)
    assert fast == slow, (kind, fast, schema.problems(kind, document), document)
    return fast


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in a document (dict keys and list indices)."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> Any:
    """A valid document with one to three random mutations applied."""
    document = copy.deepcopy(draw(DOCUMENTS[kind]))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(document)))
        if not path:
            document = draw(any_value) if draw(st.integers(0, 9)) == 0 else document
            continue
        parent, last = get(document, path[:-1]), path[-1]
        action = draw(st.sampled_from(["replace", "delete", "extra", "rename"]))
        if action == "replace":
            parent[last] = draw(any_value)
        elif action == "delete":
            del parent[last]
        elif action == "extra" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12) | bad_keys)] = draw(any_value)
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(bad_keys)] = parent.pop(last)
    return document


@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
@settings(max_examples=100)
@given(data=st.data())
def test_generated_documents_are_valid_for_both_checkers(kind: str, data: st.DataObject) -> None:
    document = data.draw(DOCUMENTS[kind])
    assert agree(kind, document)
    # ... and stay valid after a YAML round trip, as they are stored.
    assert agree(kind, yamlio.load(yamlio.dump(document)))


@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
@settings(max_examples=200)
@given(data=st.data())
def test_checkers_agree_on_mutations(kind: str, data: st.DataObject) -> None:
    agree(kind, data.draw(mutated(kind)))


VALID_RUN: dict[str, Any] = {
    "run_id": "0123456789abcdef0123456789abcdef",
    "run_name": "first",
    "experiment_id": "0",
    "status": "FINISHED",
    "start_time": 1700000000000,
    "end_time": 1700000000500,
    "lifecycle_stage": "active",
    "user": "ada",
    "parent_run_id": None,
    "params": {"lr": "0.1"},
    "tags": {"mlflow.runName": "first"},
    "metrics": {"acc": {"value": 0.9, "step": 3, "timestamp": 1700000000400}},
    "inputs": [],
    "code": {"commit": None, "branch": "main", "dirty": False, "entry_point": "train.py"},
}


def with_change(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(VALID_RUN)
    get(document, path[:-1])[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("start_time",), "yesterday", "start_time"),
        (("start_time",), -1, "start_time"),
        (("end_time",), 1.5, "end_time"),
        (("status",), "DONE", "status"),
        (("run_id",), "not-hex", "run_id"),
        (("experiment_id",), 7, "experiment_id"),
        (("params", "lr"), 0.1, "params.lr"),
        (("params", "lr"), "x" * 6001, "params.lr"),
        (("tags", "mlflow.runName"), None, "tags.mlflow.runName"),
        (("metrics", "acc", "step"), "three", "metrics.acc.step"),
        (("metrics", "acc", "value"), "high", "metrics.acc.value"),
        (("code", "dirty"), "no", "code.dirty"),
    ],
)
def test_problems_name_the_field(path: tuple[Any, ...], value: Any, field: str) -> None:
    document = with_change(path, value)
    assert not schema.is_valid("run", document)
    found = schema.problems("run", document)
    assert found, document
    assert any(p.startswith(f"field '{field}':") for p in found), found


@pytest.mark.parametrize("field", sorted(schema.load_schema("run")["required"]))
def test_problems_name_a_missing_required_field(field: str) -> None:
    document = copy.deepcopy(VALID_RUN)
    del document[field]
    assert not schema.is_valid("run", document)
    assert any(f"'{field}' is a required property" in p for p in schema.problems("run", document))


def test_problems_name_an_unexpected_field_and_a_bad_key() -> None:
    document = copy.deepcopy(VALID_RUN)
    document["colour"] = "blue"
    document["params"]["lr!"] = "1"
    found = " ".join(schema.problems("run", document))
    assert "'colour' was unexpected" in found
    assert "'lr!'" in found and "field 'params'" in found


def test_integral_floats_are_not_integers() -> None:
    """A hand-edited ``start_time: 1700000000000.0``: both checkers refuse it, with a reason."""
    for document in (with_change(("start_time",), 1700000000000.0), {"format_version": 1.0}):
        kind = "mltrack" if "format_version" in document else "run"
        assert not agree(kind, document)
        assert schema.problems(kind, document)


def test_validate_for_read_names_file_and_field() -> None:
    with pytest.raises(CorruptStore) as caught:
        schema.validate_for_read("run", with_change(("status",), 3), ".mltrack/x/run.yaml")
    assert caught.value.path == ".mltrack/x/run.yaml"
    assert "field 'status'" in str(caught.value)
    with pytest.raises(CorruptStore, match="expected a YAML mapping, found list"):
        schema.validate_for_read("run", [1, 2], "run.yaml")


def test_validate_for_write_refuses() -> None:
    with pytest.raises(InvalidParameterValue, match=r"Refusing to write run\.yaml: field 'user'"):
        schema.validate_for_write("run", with_change(("user",), 5), "run.yaml")


def test_the_fast_checker_refuses_keywords_it_does_not_implement() -> None:
    with pytest.raises(ValueError, match="oneOf"):
        schema._compile({"oneOf": [{"type": "string"}]}, {})


def test_every_schema_file_compiles_and_is_a_valid_json_schema() -> None:
    import jsonschema

    files = sorted(schema.schema_dir().glob("*.schema.json"))
    assert files
    for path in files:
        kind = path.name.removesuffix(".schema.json")
        loaded = schema.load_schema(kind)
        jsonschema.validators.validator_for(loaded).check_schema(loaded)
        schema._checker(kind)


def test_every_schema_name_has_a_file() -> None:
    for kind in schema.SCHEMA_NAMES:
        assert (schema.schema_dir() / f"{kind}.schema.json").is_file(), kind


def stored_yaml_files(root: Path) -> list[tuple[str, Path]]:
    kinds = {"mltrack.yaml": "mltrack", "experiment.yaml": "experiment", "run.yaml": "run"}
    return [
        (kinds[p.name], p)
        for p in sorted((root / ".mltrack").rglob("*.yaml"))
        if p.name in kinds and "artifacts" not in p.parts
    ]


def test_every_file_written_through_the_api_validates(repo: Path) -> None:
    import numpy as np
    import pandas as pd

    import mltrack

    mltrack.set_experiment("schema check")
    mltrack.set_experiment_tag("team", "vision")
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "target": [0, 1, 0]})
    with mltrack.start_run(run_name="parent", description="all the things") as parent:
        mltrack.log_params({"lr": "0.1", "yes": "yes", "empty": ""})
        mltrack.log_metric("loss", float("nan"), step=0)
        mltrack.log_metric("loss", float("inf"), step=1)
        mltrack.log_metric("loss", -0.0, step=2)
        mltrack.set_tags({"note": "multi\nline", "n": "0777"})
        mltrack.log_input(mltrack.data.from_pandas(df, source="data.csv", name="d"), "training")
        mltrack.log_input(mltrack.data.from_numpy(np.zeros((4, 2)), name="np"))
        mltrack.log_text("hello", "notes/hello.txt")
        with mltrack.start_run(run_name="child", nested=True):
            mltrack.log_metric("acc", 1)
    with pytest.raises(RuntimeError), mltrack.start_run(run_name="failed"):
        raise RuntimeError("boom")
    client = mltrack.MltrackClient()
    client.delete_run(parent.info.run_id)
    experiment_id = mltrack.create_experiment("to delete", tags={"k": "v"})
    mltrack.delete_experiment(experiment_id)

    files = stored_yaml_files(repo)
    assert {kind for kind, _ in files} == {"mltrack", "experiment", "run"}
    assert sum(kind == "run" for kind, _ in files) == 3
    for kind, path in files:
        document = yamlio.load(path.read_bytes())
        assert agree(kind, document), path
        assert path.read_bytes() == yamlio.dump(document), f"{path} is not canonical"
