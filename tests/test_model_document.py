"""model.yaml as typed records (``mltrack.store.model_document``)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mltrack.store.model_document import ModelDocument, VersionEntry

text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=8)
entries = st.builds(
    VersionEntry,
    stage=st.sampled_from([None, "None", "Staging", "Production", "Archived"]),
    description=st.none() | text,
    deleted=st.booleans(),
    last_updated_timestamp=st.none() | st.integers(min_value=0),
    tags=st.none() | st.dictionaries(text, text, max_size=2),
)
documents = st.builds(
    ModelDocument,
    name=text.filter(bool),
    creation_timestamp=st.integers(min_value=0),
    last_updated_timestamp=st.integers(min_value=0),
    description=st.none() | text,
    deleted=st.booleans(),
    renamed_from=st.lists(text, max_size=2).map(tuple),
    tags=st.dictionaries(text, text, max_size=2),
    aliases=st.dictionaries(text, st.integers(min_value=1), max_size=2),
    versions=st.dictionaries(st.integers(min_value=1, max_value=50), entries, max_size=3),
)


@given(documents)
def test_documents_round_trip_through_their_stored_form(document: ModelDocument) -> None:
    assert ModelDocument.from_dict(document.to_dict()) == document


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
