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
    updated_ms=st.none() | st.integers(min_value=0),
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
        created_ms=draw(st.none() | st.integers(min_value=0)),
        updated_ms=draw(st.none() | st.integers(min_value=0)),
    )


@given(documents())
def test_documents_round_trip_through_their_stored_form(document: ModelDocument) -> None:
    assert ModelDocument.from_dict(document.to_dict()) == document


def test_clocks_are_written_in_ms_and_files_without_them_still_read() -> None:
    stored = {"name": "iris", "creation_timestamp": 1, "last_updated_timestamp": 2}
    document = ModelDocument.from_dict(stored)
    assert (document.created_ms, document.updated_ms) == (1, 2)
    assert document.to_dict() == {**stored, "tags": {}, "aliases": {}, "versions": {}}
    without = ModelDocument.from_dict({"name": "iris"})  # written by an earlier mltrack
    assert (without.created_ms, without.updated_ms) == (None, None)
    assert "creation_timestamp" not in without.to_dict()
    made = ModelDocument.new("iris", None, {}, created_ms=1_800_000_000_123)
    assert made.to_dict()["creation_timestamp"] == made.to_dict()["last_updated_timestamp"]
    entry = VersionEntry.from_dict({"stage": "Staging", "last_updated_timestamp": 5})
    assert entry.updated_ms == 5 and entry.to_dict()["last_updated_timestamp"] == 5


def test_keys_never_set_are_not_written() -> None:
    stored: dict[str, Any] = {
        "name": "iris",
        "versions": {"1": {"stage": "Staging"}},
    }
    document = ModelDocument.from_dict(stored)
    assert document.to_dict()["versions"] == {"1": {"stage": "Staging"}}
    changed = document.with_version(2, deleted=True)
    assert changed.to_dict()["versions"] == {"1": {"stage": "Staging"}, "2": {"deleted": True}}
    assert document.version(2) == VersionEntry() and changed.is_deleted(2)
