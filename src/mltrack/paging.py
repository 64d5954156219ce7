"""Paged results as MLflow returns them: one page token codec and one paginator.

A page token is ``base64(json({"offset": N}))``, as MLflow's file store writes
it; tokens that do not decode to a non-negative integer offset are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from mltrack.exceptions import InvalidParameterValue

__all__ = ["PagedList", "decode_page_token", "encode_page_token", "paginate"]


class PagedList(list[Any]):
    """A page of results with the token of the next page (MLflow's PagedList)."""

    def __init__(self, items: Sequence[Any], token: str | None) -> None:
        super().__init__(items)
        self.token = token


def encode_page_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    """The offset a page token carries (0 for no token)."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.b64decode(token, validate=True))["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        offset = None
    if type(offset) is not int or offset < 0:
        raise InvalidParameterValue(f"Invalid page token {token!r}.")
    return offset


def paginate(items: Sequence[Any], max_results: int | None, page_token: str | None) -> PagedList:
    """The page of ``items`` a token starts, at most ``max_results`` long (None: all the rest)."""
    start = decode_page_token(page_token)
    if max_results is None:
        return PagedList(items[start:], None)
    end = start + max_results
    token = encode_page_token(end) if end < len(items) else None
    return PagedList(items[start:end], token)
