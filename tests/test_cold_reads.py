"""A fresh clone's first read: many run.yaml parsed at once, split with a forked child."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import git, run_python

# Reads every run of the clone in the working directory with the index's threshold for a
# parallel parse lowered to 2, in a process of its own (one thread, as the CLI: a test worker
# has threads of its own, where the index rightly stays serial). Prints the records, the
# problems, and how many times the process forked.
READ = r"""
import json, os, sys
from mltrack.store import index
from mltrack.store.repository import Repository

index.PARALLEL_FROM = int(sys.argv[1])
forks = []
os.register_at_fork(before=lambda: forks.append(1))
if sys.argv[2] == "child-dies":
    parent = os.getpid()
    parse = index.RunIndex._parse_one
    def dying(self, key, raw):
        if os.getpid() != parent:
            os._exit(3)
        return parse(self, key, raw)
    index.RunIndex._parse_one = dying
repo = Repository.open(".")
try:
    order = [key.rsplit("/", 1)[1] for _, key in repo.runs.index.run_keys(None)]
    records = repo.runs.index.records(None, warn=False)
    problems = [str(problem) for problem in repo.runs.index.problems]
finally:
    repo.close()
print(json.dumps({
    "records": [record.to_dict() for record in records],
    "problems": problems,
    "forks": len(forks),
    "order": order,
}))
"""


def read_clone(clone: Path, threshold: int, mode: str = "normal") -> dict:
    return json.loads(run_python(READ, clone, str(threshold), mode).stdout)


@pytest.fixture
def clone_of_twelve(repo: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A fresh clone of a repository of 12 runs, two of them made unreadable in the clone
    (whichever half of the work each falls in)."""
    import mltrack

    for number in range(12):
        with mltrack.start_run(run_name=f"r{number}"):
            mltrack.log_param("p", str(number))
            mltrack.log_metric("m", number / 3, step=number)
            mltrack.set_tag("t", f"tag-{number}")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    listed = sorted(clone.glob(".mltrack/experiments/*/runs/*"))
    assert len(listed) == 12
    broken = [listed[1] / "run.yaml", listed[-2] / "run.yaml"]
    broken[0].write_text(broken[0].read_text().replace("status: FINISHED", "status: DONE"))
    broken[1].write_text("params: [unclosed\n")
    return clone, [path.relative_to(clone).as_posix() for path in broken]


def test_a_parallel_first_read_gives_what_a_serial_one_gives(
    clone_of_twelve: tuple[Path, list[str]], tmp_path: Path
) -> None:
    clone, broken = clone_of_twelve
    serial_clone = tmp_path / "serial"
    git(tmp_path, "clone", "-q", str(clone), str(serial_clone))
    for relative in broken:  # the same damage, in a clone read by one process
        (serial_clone / relative).write_bytes((clone / relative).read_bytes())

    parallel = read_clone(clone, threshold=2)
    serial = read_clone(serial_clone, threshold=10**9)

    assert parallel["forks"] == 1 and serial["forks"] == 0
    assert len(parallel["records"]) == 10
    # In the order of the directory listing, as a serial read gives them.
    unreadable = {relative.split("/")[-2] for relative in broken}
    wanted = [run_id for run_id in parallel["order"] if run_id not in unreadable]
    assert [r["run_id"] for r in parallel["records"]] == wanted
    by_id = {r["run_id"]: r for r in serial["records"]}
    assert parallel["records"] == [by_id[run_id] for run_id in wanted]
    assert sorted(parallel["problems"]) == sorted(serial["problems"])
    assert sorted(p.split(":")[0] for p in parallel["problems"]) == sorted(broken)
    assert any("field 'status'" in p for p in parallel["problems"])
    assert any("not valid YAML" in p for p in parallel["problems"])
    # The cache the parallel read wrote serves the next read: only the two unreadable files
    # are parsed again (too few to fork for, at a threshold of 3).
    again = read_clone(clone, threshold=3)
    assert again["forks"] == 0 and again["records"] == parallel["records"]


def test_a_child_that_fails_leaves_the_work_to_the_parent(
    clone_of_twelve: tuple[Path, list[str]],
) -> None:
    clone, broken = clone_of_twelve
    found = read_clone(clone, threshold=2, mode="child-dies")
    assert found["forks"] == 1
    assert len(found["records"]) == 10
    assert sorted(p.split(":")[0] for p in found["problems"]) == sorted(broken)


def test_reading_a_history_in_a_new_process_imports_neither_pandas_nor_the_http_client(
    repo: Path,
) -> None:
    import mltrack

    with mltrack.start_run() as run:
        for step in range(5):
            mltrack.log_metric("loss", 1 / (step + 1), step=step)
    read = run_python(
        "import json, sys, mltrack\n"
        f"points = mltrack.MlflowClient().get_metric_history({run.info.run_id!r}, 'loss')\n"
        "print(json.dumps([[p.step, p.value] for p in points]))\n"
        "print(json.dumps(sorted(m for m in ('pandas', 'mltrack.tracking.remote')"
        " if m in sys.modules)))\n",
        repo,
    ).stdout.splitlines()
    assert json.loads(read[0]) == [[step, 1 / (step + 1)] for step in range(5)]
    assert json.loads(read[1]) == []
