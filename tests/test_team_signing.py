"""Signed history: with ``commit.gpgsign`` / ``tag.gpgSign``, mltrack's commits and version tags
are signed as ``git commit`` and ``git tag -s`` sign them (an ssh key made in the test)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import git, run_python
from test_team import MODEL, REGISTER, YAML, clone, mltrack, ok, register


def sign_with_new_key(where: Path, who: str) -> Path:
    """Make an ed25519 key for ``who`` and configure ``where`` to sign with it, as a user would."""
    if shutil.which("ssh-keygen") is None:  # scripts/test installs it: never skip silently
        pytest.fail("ssh-keygen is required: apt-get install -y openssh-client")
    key = where.parent / f"{who}-key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(key)], check=True
    )
    allowed = where.parent / "allowed_signers"
    with allowed.open("a") as handle:
        handle.write(f"{who}@example.com {key.with_suffix('.pub').read_text()}")
    for name, value in (
        ("gpg.format", "ssh"),
        ("user.signingkey", str(key.with_suffix(".pub"))),
        ("commit.gpgsign", "true"),
        ("tag.gpgSign", "true"),
        ("gpg.ssh.allowedSignersFile", str(allowed)),
    ):
        git(where, "config", name, value)
    return key


def signature_status(where: Path, rev: str) -> str:
    """``%G?`` of a commit: G for a good signature, N for none."""
    return git(where, "log", "-1", "--format=%G?", rev).strip()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(path))
    return path


def test_run_registration_and_promotion_are_signed_and_sync_keeps_them_signed(
    remote: Path, tmp_path: Path
) -> None:
    alice = clone(remote, tmp_path / "alice", "alice")
    ok(mltrack(alice, "init"))
    git(alice, "push", "-q", "origin", "main")
    bob = clone(remote, tmp_path / "bob", "bob")
    sign_with_new_key(bob, "bob")

    register(alice, "alice")  # Alice's v1, unsigned: her clone does not ask for signing
    ok(mltrack(alice, "sync"))
    register(bob, "bob")  # Bob's own v1, offline: sync renumbers it to v2
    ok(mltrack(bob, "models", "promote", MODEL, "1", "Production"))
    for rev in ("HEAD", "HEAD~1", "HEAD~2"):  # promotion, model.yaml, run
        assert signature_status(bob, rev) == "G", git(bob, "log", "-3", "--format=%s")
    git(bob, "verify-tag", "mltrack/churn/v1")

    synced = ok(mltrack(bob, "sync"))
    assert "v1 -> v2" in synced.out
    authors = git(bob, "log", "--format=%H %an", "origin/main").splitlines()
    bobs = [line.split()[0] for line in authors if line.endswith(" Bob")]
    assert len(bobs) >= 3, authors  # run, model.yaml, promotion
    for sha in bobs:  # the rebase and the renumbering re-sign what they rewrite
        assert signature_status(bob, sha) == "G", git(bob, "log", "-1", "--format=%s", sha)
    git(bob, "verify-tag", "mltrack/churn/v2")
    assert "stage: Production" in (bob / YAML).read_text()
    versions = ok(mltrack(bob, "models", "versions", MODEL, "--format", "json")).out
    assert '"version": 2' in versions  # a signed tag's message still reads as a version
    ok(mltrack(bob, "fsck"))
    ok(mltrack(bob, "models", "verify"))
    assert git(bob, "status", "--porcelain") == ""


def test_a_bad_signing_key_is_one_line_and_loses_nothing(remote: Path, tmp_path: Path) -> None:
    alice = clone(remote, tmp_path / "alice", "alice")
    ok(mltrack(alice, "init"))
    key = sign_with_new_key(alice, "alice")
    register(alice, "alice")
    git(alice, "config", "user.signingkey", str(tmp_path / "no-such-key.pub"))
    head = git(alice, "rev-parse", "HEAD")

    refused = mltrack(alice, "models", "alias", MODEL, "champion", "1")
    assert refused.code == 1
    lines = refused.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: could not sign the commit"), lines
    assert git(alice, "rev-parse", "HEAD") == head
    assert "champion" in (alice / YAML).read_text()  # the change waits in the working tree

    tags = git(alice, "tag")
    failed = run_python(REGISTER, alice, MODEL, "second", check=False)
    assert failed.returncode != 0 and "could not sign" in failed.stderr
    assert git(alice, "tag") == tags  # no unsigned version tag slipped in

    git(alice, "config", "user.signingkey", str(key.with_suffix(".pub")))
    ok(mltrack(alice, "commit"))
    assert signature_status(alice, "HEAD") == "G"
    assert "champion" in git(alice, "show", f"HEAD:{YAML}")
