"""Run MLflow's own tracking-server integration tests against ``mltrack server``.

    python tests/mlflow_compat/run.py                   # against mltrack server
    python tests/mlflow_compat/run.py --server mlflow   # baseline: MLflow's own server
    python tests/mlflow_compat/run.py -- -k registered_model -x

MLflow's ``tests/`` come from a git clone of MLflow (or a fork that holds ``tests/``) at the
pinned commit below: ``--mlflow-repo``, ``$MLTRACK_MLFLOW_REPO``, or the mirror fetched for this
project. Without one the script says so and exits 0, so CI can run it offline. The tests are
checked out into a cache directory outside this repository; only their server fixtures are
swapped (``mltrack_server_plugin.py``); the MLflow client is the installed one. Exit status: 0
when every in-scope test passes, 1 otherwise. See docs/mlflow-server-tests.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

# mlflow/mlflow master on 2026-04-29 (version.py: 3.11.2.dev0), the newest commit of the
# harupy/mlflow fork; no public tree holds the tests of the installed client (3.17.2).
MLFLOW_COMMIT = "a89bed67689f916c79a8e1c1ad6cfb5cd7649c77"
TEST_FILES = (
    "tests/tracking/test_rest_tracking.py",
    "tests/tracking/test_model_registry.py",
    "tests/tracking/test_mlflow_artifacts.py",
)
KNOWN_CLONES = (Path("/work/.mirror/harupy+mlflow/repo"),)
HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
PYTEST_INI = """\
# Written by mltrack's tests/mlflow_compat/run.py; MLflow's own pytest settings are not used.
[pytest]
addopts = -p no:cacheprovider -p no:legacypath -ra
filterwarnings =
    ignore::DeprecationWarning
    ignore::PendingDeprecationWarning
markers =
    asyncio: MLflow's marker for coroutine tests
"""


def find_clone(explicit: str | None) -> Path | None:
    """The first candidate clone (a work tree or a bare/mirror git directory) with the pin."""
    candidates = [Path(explicit)] if explicit else []
    if os.environ.get("MLTRACK_MLFLOW_REPO"):
        candidates.append(Path(os.environ["MLTRACK_MLFLOW_REPO"]))
    for path in [*candidates, *KNOWN_CLONES]:
        check = ["git", "-C", str(path), "cat-file", "-e", f"{MLFLOW_COMMIT}^{{commit}}"]
        if path.is_dir() and subprocess.run(check, capture_output=True).returncode == 0:
            return path
    return None


def check_out_tests(clone: Path, cache: Path) -> Path:
    """MLflow's ``tests/`` at the pinned commit under ``cache`` (extracted once)."""
    tree = cache / MLFLOW_COMMIT
    done = tree / ".extracted"
    if not done.exists():
        archive = subprocess.run(
            ["git", "-C", str(clone), "archive", "--format=tar", MLFLOW_COMMIT, "tests"],
            capture_output=True,
            check=True,
        ).stdout
        tree.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
        done.write_text(MLFLOW_COMMIT + "\n")
    # Only tests/ is extracted: MLflow's own sources must not shadow the installed client.
    (tree / "pytest.ini").write_text(PYTEST_INI)
    return tree


def run_pytest(tree: Path, server: str, report: Path, pytest_args: list[str]) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(SRC), env.get("PYTHONPATH", "")])
    env["MLTRACK_COMPAT_SERVER"] = server
    env["MLTRACK_COMPAT_REPORT"] = str(report)
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "pytest", "-p", "mltrack_server_plugin"]
    command += ["--basetemp", str(tree / f"tmp-{server}"), *TEST_FILES, *pytest_args]
    return subprocess.run(command, cwd=tree, env=env, check=False).returncode


def summarise(results: dict[str, dict[str, str]], server: str) -> bool:
    """Print counts per scope and every in-scope failure; True when none failed."""
    print(f"\nMLflow {MLFLOW_COMMIT[:10]} server tests against {server} server:")
    for scope in ("in-scope", "out-of-scope", "no-server", "not-applicable"):
        counts = Counter(r["outcome"] for r in results.values() if r["scope"] == scope)
        if counts:
            detail = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
            print(f"  {scope:15} {sum(counts.values()):4} tests: {detail}")
    failing = {
        nodeid: r
        for nodeid, r in sorted(results.items())
        if r["scope"] == "in-scope" and r["outcome"] in ("failed", "error")
    }
    if failing:
        print("\nIn-scope failures:")
    for nodeid, r in failing.items():
        where = f" ({r['location']})" if r.get("location") else ""
        print(f"  {r['outcome'].upper():6} {nodeid}{where}\n         {r['message'][:300]}")
    return not failing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mlflow-repo", help="git clone of MLflow holding the pinned commit")
    parser.add_argument(
        "--cache",
        default=str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mltrack"),
        help="where MLflow's tests are checked out (default: ~/.cache/mltrack)",
    )
    parser.add_argument("--server", choices=("mltrack", "mlflow"), default="mltrack")
    parser.add_argument("--report", help="also write the per-test results as JSON here")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed on to pytest")
    args = parser.parse_args()

    clone = find_clone(args.mlflow_repo)
    if clone is None:
        print(f"skipped: MLflow tests not available offline (need commit {MLFLOW_COMMIT[:10]})")
        return 0
    tree = check_out_tests(clone, Path(args.cache) / "mlflow-tests")
    report = Path(args.report) if args.report else tree / f"report-{args.server}.json"
    report.unlink(missing_ok=True)
    run_pytest(tree, args.server, report.resolve(), args.pytest_args)
    if not report.exists():
        print("error: pytest wrote no report (see its output above)", file=sys.stderr)
        return 1
    return 0 if summarise(json.loads(report.read_text()), args.server) else 1


if __name__ == "__main__":
    sys.exit(main())
