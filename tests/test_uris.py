"""The model and run URIs, built and parsed in one place (``mltrack.uris``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mltrack.exceptions import InvalidParameterValue
from mltrack.uris import (
    ModelReference,
    is_logged_model_id,
    logged_model_uri,
    new_logged_model_id,
    parse_models_uri,
    parse_runs_uri,
    runs_uri,
)

segment = st.text(st.characters(blacklist_characters="/", blacklist_categories=["Cs"]), min_size=1)


@given(st.from_regex(r"[0-9a-f]{32}", fullmatch=True), st.lists(segment, min_size=1, max_size=4))
def test_runs_uris_round_trip(run_id: str, parts: list[str]) -> None:
    path = "/".join(parts)
    parsed = parse_runs_uri(runs_uri(run_id, path))
    assert (parsed.run_id, parsed.path) == (run_id, path)
    assert str(parsed) == runs_uri(run_id, path)


@pytest.mark.parametrize("uri", ["runs:/", "runs:/abc", "runs://", "models:/x/1"])
def test_runs_uris_need_a_run_and_a_path(uri: str) -> None:
    with pytest.raises(InvalidParameterValue, match="runs:/<run_id>/<path>"):
        parse_runs_uri(uri)


def test_logged_model_ids() -> None:
    model_id = new_logged_model_id()
    assert is_logged_model_id(model_id) and not is_logged_model_id("model")
    assert parse_models_uri(logged_model_uri(model_id)) == ModelReference(model_id=model_id)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/iris/3", ModelReference(name="iris", version=3)),
        ("models:/iris/Production", ModelReference(name="iris", stage="Production")),
        ("models:/iris/latest", ModelReference(name="iris", latest=True)),
        ("models:/iris@champion", ModelReference(name="iris", alias="champion")),
        ("models:/team/iris/2", ModelReference(name="team/iris", version=2)),
    ],
)
def test_models_uris(uri: str, expected: ModelReference) -> None:
    assert parse_models_uri(uri) == expected


@pytest.mark.parametrize("uri", ["models:/", "models:/iris", "models:/@a", "models:/iris@"])
def test_bad_models_uris_say_what_is_expected(uri: str) -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid model URI"):
        parse_models_uri(uri)
