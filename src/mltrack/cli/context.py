"""What every command shares: the repository it works on, carried in click's context."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from mltrack.exceptions import MltrackError

if TYPE_CHECKING:
    from mltrack.store.repository import Repository
    from mltrack.tracking.client import TrackingClient

__all__ = ["AppContext", "pass_app"]


@dataclass
class AppContext:
    """What every command shares: where the repository is."""

    repo_path: str | None = None
    _repository: Repository | None = field(default=None, repr=False)

    def repository(self) -> Repository:
        if self._repository is None:
            # Imported on first use: `mltrack --help` loads no more than click and the commands.
            from mltrack.tracking.context import open_repository

            repo = open_repository(None, directory=self.repo_path)
            if repo.dir.is_dir():  # a fresh clone: make `git diff` read metrics.arrow as text
                with contextlib.suppress(MltrackError):  # e.g. a read-only .git/config
                    repo.ensure_textconv_driver()
            self._repository = repo
        return self._repository

    def client(self) -> TrackingClient:
        from mltrack.tracking.client import TrackingClient

        return TrackingClient(repository=self.repository())


pass_app = click.make_pass_decorator(AppContext)


# Servers started by a process manager or a test that bound the port itself.
fd_option = click.option(
    "--fd",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Listen on this already bound socket, inherited as file descriptor N (socket "
    "activation, or a test that bound a free port); --host and --port are then ignored.",
)
