"""Who the commits made now are authored by, when it is not this repository's own identity.

A team server (``mltrack server --auth``) serves many people from one process;
each request runs in its own context, so the authenticated user travels from the
request to the commit it causes (a run's commit, a registration's tag, a
promotion's commit) in a :class:`~contextvars.ContextVar`: set for the duration
of one request, copied into the worker thread that handles it, and never seen by
another request. Outside ``authored_by`` (the CLI, the Python API, a server
without auth) commits are authored by git's configured identity, as always.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from mltrack.gitstore import Identity

__all__ = ["authored_by", "current_author"]

_AUTHOR: ContextVar[Identity | None] = ContextVar("mltrack_author", default=None)


def current_author() -> Identity | None:
    """The author of commits made in this context; None: git's own identity."""
    return _AUTHOR.get()


@contextmanager
def authored_by(author: Identity | None) -> Iterator[None]:
    """Commits made inside (in this context and threads it hands work to) name ``author``."""
    token = _AUTHOR.set(author)
    try:
        yield
    finally:
        _AUTHOR.reset(token)
