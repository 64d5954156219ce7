"""The one page-token codec and paginator (``mltrack.paging``)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mltrack.exceptions import InvalidParameterValue
from mltrack.paging import decode_page_token, encode_page_token, paginate


def token(value: object) -> str:
    return base64.b64encode(json.dumps({"offset": value}).encode()).decode()


@given(st.integers(min_value=0, max_value=10**12))
def test_tokens_round_trip(offset: int) -> None:
    assert decode_page_token(encode_page_token(offset)) == offset


@given(st.lists(st.integers(), max_size=30), st.integers(min_value=1, max_value=7))
def test_pages_cover_every_item_once_in_order(items: list[int], size: int) -> None:
    seen: list[int] = []
    page = paginate(items, size, None)
    seen += page
    while page.token is not None:
        page = paginate(items, size, page.token)
        assert 0 < len(page) <= size
        seen += page
    assert seen == items


@pytest.mark.parametrize(
    "bad",
    [token(-1), token(-50), token("3"), token(1.5), token(None), "not base64!", "e30=", "bnVsbA=="],
)
def test_tokens_that_do_not_carry_a_non_negative_offset_are_refused(bad: str) -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid page token"):
        paginate([1, 2, 3], 1, bad)


def test_no_limit_returns_the_rest_without_a_token() -> None:
    page = paginate(list(range(5)), None, encode_page_token(2))
    assert list(page) == [2, 3, 4] and page.token is None
