"""``mltrack status``: where a clone stands against its remote, from refs as last fetched.

Kept apart from :mod:`mltrack.store.sync` so that the command imports only what it reads
(git refs and commit trailers), not the registry: it answers in a few git calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mltrack.store.repository import Repository

__all__ = ["TeamStatus", "run_ids", "status"]

_RUN_TRAILER = "Mltrack-Run"


@dataclass(frozen=True)
class TeamStatus:
    """Where a clone stands against its remote branch (no network: as last fetched)."""

    upstream: str | None
    ahead: int
    behind: int
    unpushed_runs: list[str]
    unpublished: list[str] | None  # None: the remote's tags were never fetched by sync
    fetched: bool  # whether the remote branch was ever fetched


def run_ids(repo: Repository, revisions: str) -> list[str]:
    return [
        run
        for info in repo.git.history.log(revisions, [])
        if (run := info.trailer(_RUN_TRAILER)) is not None
    ]


def status(repo: Repository, remote: str | None = None) -> TeamStatus:
    """Unpushed runs and versions, ahead/behind: from refs as last fetched, without network."""
    git = repo.git
    upstream = git.remotes.upstream(remote)
    head = git.head().commit
    if upstream is None or head is None:
        return TeamStatus(None, 0, 0, [], None, False)
    tracking = git.read_ref(upstream.tracking_ref)
    if tracking is None:
        ahead, behind, runs = len(git.history.rev_list(head)), 0, run_ids(repo, head)
    else:
        ahead, behind = git.remotes.ahead_behind(tracking, head)
        runs = run_ids(repo, f"{tracking}..{head}") if ahead else []
    mirrored = git.remotes.mirrored_tags(upstream.remote)
    unpublished = None
    if mirrored is not None:
        local = {
            ref.removeprefix("refs/tags/"): git.read_ref(ref)
            for ref in git.ref_names("refs/tags/mltrack/")
        }
        unpublished = sorted(tag for tag, sha in local.items() if mirrored.get(tag) != sha)
    return TeamStatus(str(upstream), ahead, behind, runs, unpublished, tracking is not None)
