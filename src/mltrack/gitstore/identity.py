"""Who commits: git's configured identity per role, else the guess git itself would make."""

from __future__ import annotations

import getpass
import os
import re
import socket
import threading
from pathlib import Path

from mltrack.exceptions import GitError
from mltrack.gitstore.objects import Identity
from mltrack.gitstore.process import PendingGit, run_git

__all__ = ["Identities"]


class Identities:
    """The author and committer identities of one repository, looked up once."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._identities: dict[str, Identity] = {}
        self._identity_lock = threading.Lock()
        self._identity_lookup: PendingGit | None = None
        self._config: dict[str, str] = {}

    def get(self, role: str = "committer") -> Identity:
        """Who commits (``role="author"``: who authored): git's identity, else ``login <login@hostname>``.

        As git does, ``GIT_AUTHOR_*`` and ``GIT_COMMITTER_*`` (then user.name /
        user.email) decide each role separately. Without an identity, git
        itself refuses to commit; mltrack falls back to the same guess git's
        auto-detection would make, so training never fails at the end of a long
        run for want of an email address.
        """
        cached = self._identities.get(role)
        if cached is not None:
            return cached
        with self._identity_lock:  # a run's prefetch thread may be asking at the same time
            if not self._identities:
                self._identities.update(self._configured_identities())
            if role not in self._identities:
                self._identities[role] = self._strict_identity(role)
            return self._identities[role]

    def config_flag(self, key: str) -> bool:
        """A boolean git setting (``commit.gpgsign``), read with the identity (one ``git var -l``)."""
        self.get()
        value = self._config.get(key.lower())
        return value is not None and value.strip().lower() in ("true", "yes", "on", "1")

    def prefetch(self) -> None:
        """Start looking up the commit identity now; ``identity`` collects the answer."""
        with self._identity_lock:
            if not self._identities and self._identity_lookup is None:
                self._identity_lookup = PendingGit(self._root, ["var", "-l"])

    def _configured_identities(self) -> dict[str, Identity]:
        """Both roles from one ``git var -l``, where git would accept them as configured.

        ``git var -l`` shows idents git merely guessed too (``root@host.(none)``);
        a role counts only when its email is set explicitly, as git's strict
        check requires. Other roles are left to ``_strict_identity``.
        """
        lookup, self._identity_lookup = self._identity_lookup, None
        try:
            out = lookup.output() if lookup else run_git(self._root, ["var", "-l"])
        except GitError:
            return {}
        values: dict[str, str] = {}
        for line in out.decode("utf-8", "surrogateescape").splitlines():
            key, sep, value = line.partition("=")
            # later configuration layers win, as in git; a key without "=" is a bare boolean
            values[key] = value if sep else "true"
        self._config = {key.lower(): value for key, value in values.items()}
        found: dict[str, Identity] = {}
        for role, prefix in (("author", "GIT_AUTHOR"), ("committer", "GIT_COMMITTER")):
            explicit = (
                os.environ.get(f"{prefix}_EMAIL")
                or values.get(f"{role}.email")
                or values.get("user.email")
                or os.environ.get("EMAIL")
            )
            match = re.match(r"^(.*) <(.*)> \d+ [-+]\d{4}$", values.get(f"{prefix}_IDENT", ""))
            if explicit and match and match.group(1).strip() and match.group(2).strip():
                found[role] = Identity(match.group(1), match.group(2))
        return found

    def _strict_identity(self, role: str) -> Identity:
        var = "GIT_AUTHOR_IDENT" if role == "author" else "GIT_COMMITTER_IDENT"
        out = run_git(self._root, ["var", var], check=False, quiet=True)
        match = re.match(rb"^(.*) <(.*)> \d+ [-+]\d{4}$", out.strip())
        if match and match.group(1).strip() and match.group(2).strip():
            return Identity(match.group(1).decode(), match.group(2).decode())
        try:
            login = getpass.getuser()
        except (KeyError, OSError):
            login = "mltrack"
        return Identity(login, f"{login}@{socket.gethostname()}", fallback=True)
