"""The library objects one server process works with.

The repository's run store is switched to write-through (every change is on
disk, visible to the other workers, before the response), and runs created
here are owned by the server's supervising process, so they show as KILLED only
once the server itself is gone.
"""

from __future__ import annotations

from mltrack.client import MltrackClient
from mltrack.registry import Registry
from mltrack.server.config import ServerConfig
from mltrack.tracking.context import open_repository

__all__ = ["Backend"]


class Backend:
    """The repository a server serves, and the one client (with its registry) that serves it."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.repository = open_repository(str(config.repo_root))
        self.repository.runs.write_through = True
        self.repository.runs.owner_pid = config.owner_pid
        self.client = MltrackClient(repository=self.repository)

    @property
    def registry(self) -> Registry:
        return self.client.registry
