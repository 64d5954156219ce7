"""Large artifacts in git (WL): 200 runs x 1 MB, pushed and cloned, with and without git-lfs.

Each variant starts from a new repository and a new local bare remote:

- ``git``: `mltrack init`; every run logs one 1 MB artifact of random bytes (it does not
  compress, like a model or an image) and is committed at its end, as always;
- ``lfs``: the same after `mltrack init --lfs=512KB`: the artifacts are committed as git-lfs
  pointers and their contents go to ``.git/lfs/objects``;
- ``dvc`` (with ``--dvc PATH``): the same files tracked by DVC (`dvc add` of the 200 files
  with one git commit, `dvc push` to a local DVC remote), the way a DVC user keeps them out
  of git. DVC has no run tracking, so only its storage, push and clone are comparable.

Figures per variant: the time to log the runs (mltrack only), ``.git`` bytes without
``.git/lfs`` (what every clone downloads) and ``.git/lfs`` bytes, `git push` to the bare
remote (git-lfs's pre-push upload and `dvc push` included), `git clone --no-local` of that
remote (a transfer as over a network: no hard links), without contents (git-lfs not set up
in the clone, as a clone that only reads metrics; DVC's clone never fetches data), and then
the contents fetched (`git lfs pull`, `dvc pull`).

    PYTHONPATH=src python benchmarks/large_artifacts.py --runs 200 --size 1MB [--dvc dvc]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOG = """
import os, sys
from pathlib import Path
import mltrack

count, size = int(sys.argv[1]), int(sys.argv[2])
scratch = Path(sys.argv[3])
scratch.mkdir(exist_ok=True)
for i in range(count):
    data = scratch / f"weights-{i:04d}.bin"
    data.write_bytes(os.urandom(size))
    with mltrack.start_run(run_name=f"run-{i}"):
        mltrack.log_param("i", i)
        mltrack.log_artifact(str(data))
    data.unlink()
"""


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed in {cwd}: {done.stderr.strip() or done.stdout.strip()}")
    return elapsed


def tree_bytes(path: Path, skip: Path | None = None) -> int:
    total = 0
    for folder, dirs, files in os.walk(path):
        if skip is not None and Path(folder) == skip.parent:
            dirs[:] = [d for d in dirs if Path(folder, d) != skip]
        total += sum(os.lstat(os.path.join(folder, name)).st_size for name in files)
    return total


def repository(root: Path, name: str) -> tuple[Path, Path]:
    remote = root / f"{name}-remote.git"
    repo = root / name
    run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], root)
    run(["git", "init", "-q", "-b", "main", str(repo)], root)
    run(["git", "remote", "add", "origin", str(remote)], repo)
    return repo, remote


def measure_push_and_clone(
    figures: dict[str, float], root: Path, repo: Path, remote: Path, fetch: list[list[str]]
) -> None:
    git_dir = repo / ".git"
    figures["git_dir_mb"] = tree_bytes(git_dir, git_dir / "lfs") / 1e6
    figures["lfs_dir_mb"] = tree_bytes(git_dir / "lfs") / 1e6 if (git_dir / "lfs").exists() else 0
    figures["push_s"] = run(["git", "push", "-q", "origin", "main"], repo)
    clone = root / f"{repo.name}-clone"
    # Without git-lfs's filters (a user who only reads metrics); `fetch` brings the contents.
    env = dict(os.environ, GIT_LFS_SKIP_SMUDGE="1")
    figures["clone_s"] = run(
        ["git", "clone", "-q", "--no-local", str(remote), str(clone)], root, env
    )
    figures["clone_git_dir_mb"] = tree_bytes(clone / ".git", clone / ".git" / "lfs") / 1e6
    if fetch:
        figures["fetch_contents_s"] = sum(run(command, clone) for command in fetch)


def mltrack_variant(
    root: Path, python: str, name: str, init: list[str], runs: int, size: int
) -> dict[str, float]:
    repo, remote = repository(root, name)
    run([python, "-m", "mltrack", "init", *init], repo)  # commits its own files
    figures = {"log_runs_s": run([python, "-c", LOG, str(runs), str(size), str(root / "x")], repo)}
    fetch = [["git", "lfs", "install", "--local"], ["git", "lfs", "pull"]] if init else []
    measure_push_and_clone(figures, root, repo, remote, fetch)
    return figures


def dvc_variant(root: Path, dvc: str, runs: int, size: int) -> dict[str, float]:
    repo, remote = repository(root, "dvc")
    store = root / "dvc-store"
    run([dvc, "init", "-q"], repo)
    run([dvc, "remote", "add", "-d", "local", str(store)], repo)
    out = repo / "artifacts"
    out.mkdir()
    files = []
    for i in range(runs):
        (out / f"weights-{i:04d}.bin").write_bytes(os.urandom(size))
        files.append(f"artifacts/weights-{i:04d}.bin")
    figures = {"dvc_add_s": run([dvc, "add", "-q", *files], repo)}
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "artifacts"], repo)
    figures["dvc_push_s"] = run([dvc, "push", "-q"], repo)
    figures["git_dir_mb"] = tree_bytes(repo / ".git") / 1e6
    figures["dvc_cache_mb"] = tree_bytes(repo / ".dvc" / "cache") / 1e6
    figures["push_s"] = run(["git", "push", "-q", "origin", "main"], repo) + figures["dvc_push_s"]
    clone = root / "dvc-clone"
    figures["clone_s"] = run(["git", "clone", "-q", "--no-local", str(remote), str(clone)], root)
    figures["clone_git_dir_mb"] = tree_bytes(clone / ".git") / 1e6
    figures["fetch_contents_s"] = run([dvc, "pull", "-q"], clone)
    return figures


def parse_size(text: str) -> int:
    units = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--size", default="1MB", help="bytes per artifact (K/M/GB: 1024-based)")
    parser.add_argument("--mltrack-python", default=sys.executable)
    parser.add_argument("--dvc", help="a dvc executable: measure DVC's storage, push and clone too")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    if shutil.which("git-lfs") is None:
        return print("error: git-lfs is not installed (apt-get install git-lfs)") or 1
    size = parse_size(args.size)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mltrack-wl-") as scratch:
        root = Path(scratch)
        results["mltrack"] = mltrack_variant(root, args.mltrack_python, "git", [], args.runs, size)
        lfs_init = ["--lfs=512KB"]
        results["mltrack_lfs"] = mltrack_variant(
            root, args.mltrack_python, "lfs", lfs_init, args.runs, size
        )
        if args.dvc:
            results["dvc"] = dvc_variant(root, args.dvc, args.runs, size)
    meta = {"runs": args.runs, "size_bytes": size, "load_average": os.getloadavg()[0]}
    text = json.dumps({"meta": meta, "results": results}, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
