"""git's formats as mltrack writes and reads them, checked against git itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import git
from mltrack.gitstore.objects import (
    DIR_MODE,
    EXEC_MODE,
    FILE_MODE,
    LINK_MODE,
    Identity,
    encode_commit,
    encode_tag,
    encode_tree,
    loose_object,
    object_id,
    parse_commit,
    parse_tag,
    parse_tree,
)
from mltrack.gitstore.pack import build_pack


def git_bytes(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", *args], cwd=repo, input=input, capture_output=True, check=True
    ).stdout


def hash_object(repo: Path, kind: str, data: bytes, write: bool = False) -> str:
    args = ["hash-object", "-t", kind, "--stdin", "--literally"] + (["-w"] if write else [])
    return git_bytes(repo, *args, input=data).decode().strip()


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000))
def test_object_ids_are_the_ones_git_computes(repo: Path, data: bytes) -> None:
    assert object_id("blob", data) == hash_object(repo, "blob", data)


def test_a_tree_is_encoded_in_gits_order_and_parsed_back(repo: Path) -> None:
    blob = bytes.fromhex(hash_object(repo, "blob", b"x\n", write=True))
    empty_tree = bytes.fromhex(hash_object(repo, "tree", b"", write=True))
    # "a-b" < "a/" < "a0": a directory sorts as if its name ended in "/".
    entries = {
        "a": (DIR_MODE, empty_tree),
        "a-b": (FILE_MODE, blob),
        "a0": (EXEC_MODE, blob),
        "link": (LINK_MODE, blob),
        "é": (FILE_MODE, blob),
    }
    listing = "".join(
        f"{mode.decode().zfill(6)} {'tree' if mode == DIR_MODE else 'blob'} {sha.hex()}\t{name}\n"
        for name, (mode, sha) in entries.items()
    )
    made_by_git = git_bytes(repo, "mktree", "--missing", input=listing.encode()).decode().strip()

    body = encode_tree(entries)

    assert object_id("tree", body) == made_by_git
    assert git_bytes(repo, "cat-file", "tree", made_by_git) == body
    assert parse_tree(body) == entries


def test_a_commit_is_one_git_accepts_and_reads_back(repo: Path) -> None:
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    parent = git(repo, "rev-parse", "HEAD").strip()
    who = Identity("Ada Lovelace", "ada@example.com").signature(1_700_000_000)
    message = "Run r: FINISHED\n\nMltrack-Run: abc\n"

    body = encode_commit(tree, (parent,), who, who, message)
    sha = hash_object(repo, "commit", body, write=True)

    assert git(repo, "fsck", "--strict", "--no-progress", "--no-dangling").strip() == ""
    assert git(repo, "log", "-1", "--format=%an|%ae|%at|%P|%T|%B", sha) == (
        f"Ada Lovelace|ada@example.com|1700000000|{parent}|{tree}|{message}\n"
    )
    parsed = parse_commit(git_bytes(repo, "cat-file", "commit", sha))
    assert (parsed.tree, parsed.parents, parsed.author) == (tree, (parent,), who)
    assert parsed.subject == "Run r: FINISHED" and parsed.trailer("Mltrack-Run") == "abc"


def test_a_tag_is_one_git_mktag_accepts_and_it_reads_back(repo: Path) -> None:
    target = git(repo, "rev-parse", "HEAD").strip()
    tagger = Identity("Ada", "ada@example.com").signature(1_700_000_000)

    body = encode_tag(target, "mltrack/model/v1", tagger, "Register model v1\n")
    made_by_git = git_bytes(repo, "mktag", input=body).decode().strip()  # mktag is strict

    assert object_id("tag", body) == made_by_git
    tag = parse_tag("mltrack/model/v1", made_by_git, body)
    assert (tag.target, tag.tagger_name, tag.tagger_time) == (target, "Ada", 1_700_000_000)
    assert tag.message == "Register model v1\n"


def test_a_loose_object_file_is_one_git_reads(repo: Path) -> None:
    data = b"metrics\n" * 50_000  # compressed; incompressible data is stored (level 0)
    sha = object_id("blob", data)
    path = repo / ".git" / "objects" / sha[:2] / sha[2:]
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(loose_object("blob", data))

    assert git_bytes(repo, "cat-file", "blob", sha) == data
    assert git(repo, "fsck", "--strict", "--no-progress", "--no-dangling").strip() == ""


def test_a_pack_and_its_index_are_the_ones_git_would_write(repo: Path, tmp_path: Path) -> None:
    blob = b"x" * 100_000
    tree = encode_tree({"f": (FILE_MODE, bytes.fromhex(object_id("blob", blob)))})
    who = Identity("A", "a@example.com").signature(0)
    commit = encode_commit(object_id("tree", tree), (), who, who, "c\n")
    objects = {
        object_id(kind, data): (kind, data)
        for kind, data in (("blob", blob), ("tree", tree), ("commit", commit))
    }

    pack, index, name = build_pack(objects)
    pack_dir = repo / ".git" / "objects" / "pack"
    (pack_dir / f"pack-{name}.pack").write_bytes(pack)
    (pack_dir / f"pack-{name}.idx").write_bytes(index)

    verified = git(repo, "verify-pack", "-v", str(pack_dir / f"pack-{name}.idx"))
    assert all(sha in verified for sha in objects)
    copy = tmp_path / "copy.pack"
    copy.write_bytes(pack)
    git(repo, "index-pack", "-o", str(tmp_path / "copy.idx"), str(copy))
    assert (tmp_path / "copy.idx").read_bytes() == index  # byte for byte what git writes
    for sha, (kind, data) in objects.items():
        assert git_bytes(repo, "cat-file", kind, sha) == data
