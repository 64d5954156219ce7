"""The library objects one server process works with.

The repository's run store is switched to write-through (every change is on
disk, visible to the other workers, before the response), and runs created
here are owned by the server's supervising process, so they show as KILLED only
once the server itself is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mltrack.server.config import ServerConfig

if TYPE_CHECKING:
    from mltrack.client import MltrackClient
    from mltrack.registry import Registry
    from mltrack.store.repository import Repository

__all__ = ["Backend"]


class Backend:
    def __init__(self, config: ServerConfig) -> None:
        from mltrack.client import MltrackClient
        from mltrack.tracking.context import open_repository

        self.config = config
        self.repository: Repository = open_repository(str(config.repo_root))
        self.repository.runs.write_through = True
        self.repository.runs.owner_pid = config.owner_pid
        self.client: MltrackClient = MltrackClient(str(config.repo_root))
        self._registry: Registry | None = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from mltrack.registry import Registry

            self._registry = Registry(self.repository)
        return self._registry
