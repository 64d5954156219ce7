"""model.yaml as typed records (``mltrack.store.model_document``)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mltrack.store.model_document import ModelDocument, Pin, VersionEntry

text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=8)
pins = st.builds(
    Pin,
    run_id=st.text("0123456789abcdef", min_size=32, max_size=32),
    model_hash=st.text("0123456789abcdef", min_size=64, max_size=64),
)
entries = st.builds(
    VersionEntry,
    stage=st.sampled_from([None, "None", "Staging", "Production", "Archived"]),
    description=st.none() | text,
    deleted=st.booleans(),
    tags=st.none() | st.dictionaries(text, text, max_size=2),
    pin=st.none() | pins,
)


@st.composite
def documents(draw: st.DrawFn) -> ModelDocument:
    aliases = draw(st.dictionaries(text, st.integers(min_value=1), max_size=2))
    return ModelDocument(
        name=draw(text.filter(bool)),
        description=draw(st.none() | text),
        deleted=draw(st.booleans()),
        renamed_from=tuple(draw(st.lists(text, max_size=2))),
        tags=draw(st.dictionaries(text, text, max_size=2)),
        aliases=aliases,
        alias_pins={a: draw(pins) for a in aliases if draw(st.booleans())},
        versions=draw(st.dictionaries(st.integers(min_value=1, max_value=50), entries, max_size=3)),
    )


@given(documents())
def test_documents_round_trip_through_their_stored_form(document: ModelDocument) -> None:
    assert ModelDocument.from_dict(document.to_dict()) == document


def test_no_clock_is_written_so_two_clones_write_the_same_bytes() -> None:
    legacy = ModelDocument.from_dict(
        {"name": "iris", "creation_timestamp": 1, "last_updated_timestamp": 2}
    )
    assert legacy.legacy_created_ms == 1
    assert legacy.to_dict() == {"name": "iris", "tags": {}, "aliases": {}, "versions": {}}
    assert (
        ModelDocument.new("iris", None, {}).to_dict()
        == ModelDocument.new("iris", None, {}).to_dict()
    )


def test_keys_never_set_are_not_written() -> None:
    stored: dict[str, Any] = {
        "name": "iris",
        "creation_timestamp": 1,
        "last_updated_timestamp": 2,
        "versions": {"1": {"stage": "Staging"}},
    }
    document = ModelDocument.from_dict(stored)
    assert document.to_dict()["versions"] == {"1": {"stage": "Staging"}}
    changed = document.with_version(2, deleted=True)
    assert changed.to_dict()["versions"] == {"1": {"stage": "Staging"}, "2": {"deleted": True}}
    assert document.version(2) == VersionEntry() and changed.is_deleted(2)
