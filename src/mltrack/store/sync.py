"""``mltrack sync`` and ``mltrack status``: a clone and its remote, as a team uses them.

A sync, in order (each step through git itself, so credentials and ssh work as for git):

1. **fetch** the branch and mirror the remote's ``mltrack/*`` tags under
   ``refs/mltrack/remotes/<remote>/`` (a remote tag never replaces a local one);
2. **publish-check** every local version tag: one the remote holds as the same tag
   object was published; one whose name the remote holds as *another* object collides
   and was never published (a published tag is never renumbered), so it is
   **renumbered** to the next free number of both sides, and every model.yaml record
   pinned to it follows (a commit); the remote's other versions are taken as they are;
3. **integrate** the remote branch: ``git rebase`` (default) or ``git merge``; a
   conflict git cannot resolve stops the sync with git's own state (``git status``
   explains it; nothing is lost); version tags on commits the rebase rewrote move to
   the rewritten commit holding the same model files;
4. **push** the branch and the unpublished tags in one ``git push --atomic``; if another
   clone pushed in between, everything starts again from 1 (a bounded number of times).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mltrack.exceptions import GitError, InvalidState
from mltrack.gitstore import GitStore
from mltrack.store.model_document import ModelDocument, Replaced
from mltrack.store.model_merge import renumbered_env
from mltrack.store.model_names import parse_version_tag, version_tag
from mltrack.store.model_store import ModelStore
from mltrack.store.model_tags import TaggedVersion, parse_tag
from mltrack.store.repository import Repository
from mltrack.store.team_status import TeamStatus, run_ids, status

__all__ = ["SyncReport", "TeamStatus", "status", "sync"]

_ATTEMPTS = 5


@dataclass(frozen=True)
class Renumbered:
    name: str
    old: int
    new: int

    def __str__(self) -> str:
        return f"{self.name} v{self.old} -> v{self.new}"


@dataclass
class SyncReport:
    """What a sync did."""

    remote: str
    branch: str
    runs_in: int = 0
    runs_out: int = 0
    published: list[str] = field(default_factory=list)
    renumbered: list[Renumbered] = field(default_factory=list)
    received: int = 0  # versions the remote had that this clone lacked
    attempts: int = 0
    commit: str | None = None


def sync(repo: Repository, remote: str | None = None, merge: bool = False) -> SyncReport:
    """Fetch, renumber colliding unpublished versions, integrate, push atomically (retrying)."""
    git = repo.git
    head = git.head()
    if head.branch is None:
        raise InvalidState("HEAD is detached: check out the branch to sync (`git switch main`).")
    if head.commit is None:
        raise InvalidState("This branch has no commits yet: `git pull` or `mltrack init` first.")
    upstream = git.remotes.upstream(remote)
    if upstream is None:
        raise InvalidState(
            f"No remote {remote or 'origin'!r} to sync with: add it with "
            f"`git remote add {remote or 'origin'} <url>`."
        )
    repo.ensure_textconv_driver()  # and the model.yaml merge driver, before git merges
    git.integrate_parked()
    store = ModelStore(repo)
    report = SyncReport(upstream.remote, upstream.branch)
    for attempt in range(1, _ATTEMPTS + 1):
        report.attempts = attempt
        exists = git.remotes.fetch_for_sync(upstream)
        remote_tags = git.remotes.mirrored_tags(upstream.remote) or {}
        report.renumbered += _renumber_collisions(store, remote_tags)
        report.received += _receive(git, remote_tags)
        tracking = git.read_ref(upstream.tracking_ref) if exists else None
        before = git.head().commit or ""
        if tracking is not None and not git.remotes.is_ancestor(tracking, before):
            report.runs_in += len(run_ids(repo, f"{before}..{tracking}"))
            numbers = {
                (name, tagged.run_id, tagged.model_hash): number
                for name, versions in store.tagged().items()
                for number, tagged in versions.items()
            }
            conflicted = git.remotes.integrate(tracking, merge, renumbered_env(numbers))
            if conflicted is not None:
                verb = "merge" if merge else "rebase"
                raise InvalidState(
                    f"sync stopped: git's {verb} of {upstream} conflicts in "
                    f"{', '.join(conflicted)}. Resolve them and `git add` them, then "
                    f"`git {verb} --continue` and `mltrack sync` again (or `git {verb} "
                    "--abort`); nothing was pushed or lost."
                )
            _follow_rewritten_commits(store, remote_tags, tracking)
        unpublished = _unpublished(git, remote_tags)
        outgoing = run_ids(repo, f"{tracking}..HEAD" if tracking else "HEAD")
        if git.remotes.push_atomic(upstream.remote, upstream.branch, unpublished):
            commit = git.head().commit
            if commit is not None:
                git.remotes.mark_synced(upstream.remote, commit)
            git.remotes.fetch_for_sync(upstream)  # the mirror now shows what was published
            report.runs_out = len(outgoing)
            report.published = sorted(unpublished)
            report.commit = commit
            return report
    raise GitError(
        f"{upstream} kept moving during {_ATTEMPTS} attempts to push; run `mltrack sync` again."
    )


def _unpublished(git: GitStore, remote_tags: dict[str, str]) -> list[str]:
    return sorted(
        ref.removeprefix("refs/tags/")
        for ref in git.ref_names("refs/tags/mltrack/")
        if remote_tags.get(ref.removeprefix("refs/tags/")) != git.read_ref(ref)
    )


def _renumber_collisions(store: ModelStore, remote_tags: dict[str, str]) -> list[Renumbered]:
    """Give every local tag whose name the remote holds as another object the next free number."""
    git = store.git
    remote_numbers: dict[str, set[int]] = {}
    for tag in remote_tags:
        parsed = parse_version_tag(tag)
        if parsed is not None:
            remote_numbers.setdefault(parsed[0], set()).add(parsed[1])
    done: list[Renumbered] = []
    for name, versions in sorted(store.tagged().items()):
        taken = set(versions) | remote_numbers.get(name, set())
        moved: list[tuple[TaggedVersion, int]] = []
        for number, tagged in sorted(versions.items()):
            theirs = remote_tags.get(tagged.tag)
            if theirs is None or theirs == git.read_ref(f"refs/tags/{tagged.tag}"):
                continue
            new = max(taken) + 1
            taken.add(new)
            renumbered = replace(tagged, version=new, tag=version_tag(name, new))
            git.create_tag(renumbered.tag, tagged.commit, renumbered.message())
            git.delete_ref(f"refs/tags/{tagged.tag}")
            moved.append((tagged, new))
            done.append(Renumbered(name, number, new))
        if moved:
            _rewrite_pins(store, name, moved)
    return done


def _rewrite_pins(store: ModelStore, name: str, moved: list[tuple[TaggedVersion, int]]) -> None:
    """Records pinned to a renumbered version follow it to its new number (one commit)."""
    document = store.read(name)
    if document is None:
        return
    changed = document
    for tagged, new in moved:
        changed = _move_records(changed, tagged, new)
    if changed != document:
        summary = ", ".join(f"version {t.version} as {new}" for t, new in moved)
        store.save(
            changed,
            f"Renumber {name!r} {summary}",
            body="The remote already has these numbers for other models; these versions "
            "were never published, so they take the next free numbers and every record "
            "pinned to them follows.",
        )


def _move_records(document: ModelDocument, tagged: TaggedVersion, new: int) -> ModelDocument:
    def follow(replaced: Replaced | None) -> Replaced | None:
        if (
            replaced is not None
            and replaced.version == tagged.version
            and replaced.pin == tagged.pin
        ):
            return replace(replaced, version=new)
        return replaced

    versions = {
        number: replace(entry, replaces=follow(entry.replaces))
        for number, entry in document.versions.items()
    }
    entry = versions.get(tagged.version)
    if entry is not None and entry.pin == tagged.pin:
        del versions[tagged.version]
        versions[new] = entry
    aliases = {
        alias: new
        if number == tagged.version and document.alias_pins.get(alias) == tagged.pin
        else number
        for alias, number in document.aliases.items()
    }
    alias_replaces = {
        alias: moved
        for alias, replaced in document.alias_replaces.items()
        if (moved := follow(replaced)) is not None
    }
    return replace(document, versions=versions, aliases=aliases, alias_replaces=alias_replaces)


def _receive(git: GitStore, remote_tags: dict[str, str]) -> int:
    """Create the remote's version tags this clone lacks (never replacing one)."""
    received = 0
    for tag, sha in sorted(remote_tags.items()):
        if git.read_ref(f"refs/tags/{tag}") is None:
            git.remotes.set_ref(f"refs/tags/{tag}", sha)
            received += 1
    return received


def _follow_rewritten_commits(
    store: ModelStore, remote_tags: dict[str, str], tracking: str
) -> None:
    """Unpublished tags on commits a rebase rewrote move to the commit now holding their files."""
    git = store.git
    head = git.head().commit
    if head is None:
        return
    rewritten = list(reversed(git.history.rev_list(f"{tracking}..{head}")))
    for versions in store.tagged().values():
        for tagged in versions.values():
            ref = f"refs/tags/{tagged.tag}"
            if remote_tags.get(tagged.tag) == git.read_ref(ref) or git.remotes.is_ancestor(
                tagged.commit, head
            ):
                continue
            files = git.history.tree_entry(tagged.commit, tagged.model_dir)
            target = next(
                (
                    commit
                    for commit in rewritten
                    if files is not None
                    and (entry := git.history.tree_entry(commit, tagged.model_dir)) is not None
                    and entry.sha == files.sha
                ),
                None,
            )
            if target is None:
                continue
            info = git.tags.read(tagged.tag)
            if info is None or parse_tag(info) is None:
                continue
            git.delete_ref(ref)
            git.create_tag(tagged.tag, target, info.message)
