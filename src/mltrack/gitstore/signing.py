"""Signed commits and tags, as ``git commit`` and ``git tag`` sign them.

mltrack writes its objects itself; when the repository asks for signatures
(``commit.gpgsign``, ``tag.gpgSign``), git writes them instead: ``git commit-tree -S`` and
``git tag -s``, so every key and program git supports (gpg, ``gpg.format=ssh`` or
``x509``, ``user.signingkey``, ``gpg.program``, an agent) works exactly as with git.
Neither command runs a hook.
"""

from __future__ import annotations

import re
from pathlib import Path

from mltrack.exceptions import GitError, SigningError
from mltrack.gitstore.process import run_git

__all__ = ["signed_commit", "signed_tag"]

_SIGNATURE = re.compile(r"^(.*) <(.*)> (\d+) ([-+]\d{4})$")


def _ident_env(role: str, signature: str) -> dict[str, str]:
    """``GIT_<ROLE>_NAME/EMAIL/DATE`` for a signature line (``Name <email> 1700000000 +0100``)."""
    match = _SIGNATURE.match(signature)
    if match is None:
        raise GitError(f"not a git signature line: {signature!r}")
    name, email, when, zone = match.groups()
    return {
        f"GIT_{role}_NAME": name,
        f"GIT_{role}_EMAIL": email,
        f"GIT_{role}_DATE": f"@{when} {zone}",
    }


def _signing_failure(what: str, error: GitError) -> SigningError:
    detail = (str(error).partition(": ")[2] or str(error)).removeprefix("error: ").rstrip("?")
    return SigningError(
        f"could not sign the {what} ({detail}); fix the key git is configured with "
        "(user.signingkey, gpg.format) or unset the setting that asks for signing"
    )


def signed_commit(
    root: Path, tree: str, parents: tuple[str, ...], author: str, committer: str, message: str
) -> str:
    """A signed commit object (``git commit-tree -S``); the tree must already be in the odb."""
    args = ["commit-tree", tree, *(arg for parent in parents for arg in ("-p", parent))]
    env = {**_ident_env("AUTHOR", author), **_ident_env("COMMITTER", committer)}
    body = (message.rstrip("\n") + "\n").encode("utf-8")
    try:
        out = run_git(root, [*args, "-S", "-F", "-"], input=body, env=env)
    except GitError as error:
        raise _signing_failure("commit (commit.gpgsign is set)", error) from None
    return out.decode().strip()


def signed_tag(root: Path, name: str, target: str, tagger: str, message: str) -> None:
    """Create the signed annotated tag ``refs/tags/<name>`` (``git tag -s``); fails if it exists."""
    body = (message.rstrip("\n") + "\n").encode("utf-8")
    args = ["tag", "-s", "--cleanup=verbatim", "-F", "-", name, target]
    try:
        run_git(root, args, input=body, env=_ident_env("COMMITTER", tagger))
    except GitError as error:
        if "already exists" in str(error):
            raise GitError(f"tag {name} already exists") from None
        raise _signing_failure("tag (tag.gpgSign is set)", error) from None
