"""Run the benchmark suite: every workload for MLflow then mltrack, each in a fresh process.

    python benchmarks/run.py [--workloads W1,W2,...] [--repeat N] [--scale small|full]
        [--tools mlflow,mltrack] [--mlflow-venv PATH] [--mltrack-python PATH]
        [--timeout SECONDS] [--json out.json] [--markdown out.md]

Each (workload, repetition, tool) runs ``workloads.py`` in the tool's interpreter, in a fresh
temporary directory, one at a time. The table gives the median over repetitions and a ratio
oriented so that >1 means mltrack is better (faster, or smaller). Standard library only, so
any python3 runs it; MLflow gets its own cached virtualenv.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

MLFLOW_VERSION = "3.17.2"
MLFLOW_REQUIREMENT = f"mlflow[auth]=={MLFLOW_VERSION}"  # [auth]: WSA's basic-auth server
HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
WORKLOADS_PY = HERE / "workloads.py"
TOOLS = ("mlflow", "mltrack")
TIMEOUTS = {  # seconds per run of one workload for one tool, at scale small / full
    "W1": (600, 600),
    "W2": (600, 600),
    "W3": (900, 900),
    "W3L": (900, 5400),
    "W4": (1200, 5400),
    "W5": (600, 600),
    "W6": (600, 600),
    "W7": (600, 600),
    "W8": (900, 900),
    "W8I": (600, 600),
    "W9": (300, 300),
    "WS": (1800, 5400),
    "WSA": (1800, 5400),
    "WR": (600, 1800),
    "WI": (900, 3600),
}
# Workloads whose client is MLflow's for both tools (only the server they start differs).
MLFLOW_CLIENT = {"WS", "WSA"}
# A figure's name ends in its unit: (suffix, label ending, higher is better).
UNITS = (
    ("_per_s", "/s", True),
    ("_ms", " (ms)", False),
    ("_s", " (s)", False),
    ("_bytes", " (B)", False),
)
RATIO_HEADER = "ratio (>1: mltrack better)"


@dataclass
class Outcome:
    """One workload run for one tool: its figures, or why there are none."""

    figures: dict[str, float | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    wall_s: float = 0.0


@dataclass(frozen=True)
class Row:
    workload: str
    figure: str
    cells: dict[str, str]
    ratio: str
    reps: str


# --- interpreters --------------------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_mlflow_venv(requested: Path | None) -> Path:
    """The python of ``requested``, or of a cached virtualenv with the pinned MLflow."""
    if requested is not None:
        python = venv_python(requested)
        if not python.exists():
            sys.exit(f"error: --mlflow-venv {requested} is not a virtualenv (no {python})")
        return python
    venv = WORK / "mlflow-venv"
    marker = venv / ".bench-mlflow-version"
    if marker.exists() and marker.read_text() == MLFLOW_REQUIREMENT:
        return venv_python(venv)
    shutil.rmtree(venv, ignore_errors=True)
    log = WORK / "mlflow-venv-install.log"
    print(f"Creating {venv} with {MLFLOW_REQUIREMENT} (once; log: {log})", file=sys.stderr)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        for cmd in (
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv_python(venv)), "-m", "pip", "install", MLFLOW_REQUIREMENT],
        ):
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode:
                sys.exit(f"error: `{' '.join(cmd)}` failed; see {log}")
    marker.write_text(MLFLOW_REQUIREMENT)
    return venv_python(venv)


def package_version(python: Path, package: str) -> str:
    code = f"import {package}; print({package}.__version__)"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else "not importable"


def tool_env(python: Path) -> dict[str, str]:
    """The environment of a workload: the interpreter's bin directory first (as if activated)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(python.parent), env.get("PATH", "")])
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"  # no usage reporting over the network
    env["DO_NOT_TRACK"] = "true"
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # both tools read and keep their bytecode caches
    return env


def precompile(python: Path, package: str) -> None:
    """Compile a package's bytecode once, as `pip install` does: an editable install
    (a source checkout) would otherwise compile on every start of every workload."""
    code = f"import os, {package}; print(os.path.dirname({package}.__file__))"
    where = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    if where.returncode == 0:
        subprocess.run(
            [str(python), "-m", "compileall", "-q", where.stdout.strip()],
            capture_output=True,
            check=False,
        )


# --- running workloads ---------------------------------------------------------------------------


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the process group (a W8 server is stopped by the workload), SIGKILL at 15 s."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(grace)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines()
    return lines[-1][:300] if lines else "(no output)"


def parse_outcome(stdout: str, returncode: int, log: Path) -> Outcome:
    lines = stdout.strip().splitlines()
    try:
        data = json.loads(lines[-1])
    except (IndexError, ValueError):
        return Outcome(error=f"exit code {returncode}: {last_line(log)}")
    if "error" in data:
        return Outcome(error=data["error"])
    return Outcome(figures=data["figures"], notes=data["notes"])


def run_workload(
    python: Path,
    tool: str,
    workload: str,
    scale: str,
    timeout: float,
    log: Path,
    server_python: Path | None = None,
) -> Outcome:
    """Run one workload for one tool in a fresh temporary directory, within ``timeout``."""
    scratch = Path(tempfile.mkdtemp(prefix=f"bench-{workload}-{tool}-"))
    cmd = [str(python), str(WORKLOADS_PY), "--tool", tool, "--workload", workload]
    cmd += ["--dir", str(scratch), "--scale", scale]
    if server_python is not None:
        cmd += ["--server-python", str(server_python)]
    start = time.perf_counter()
    try:
        with log.open("w") as err:
            proc = subprocess.Popen(
                cmd,
                cwd=scratch,
                env=tool_env(python),
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
            try:
                stdout, _ = proc.communicate(timeout=timeout)
                outcome = parse_outcome(stdout, proc.returncode, log)
            except subprocess.TimeoutExpired:
                outcome = Outcome(error=f"timeout after {timeout:.0f} s")
            finally:
                if proc.poll() is None:  # timed out or interrupted: leave no process behind
                    stop(proc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    outcome.wall_s = time.perf_counter() - start
    return outcome


# --- the table -----------------------------------------------------------------------------------


def unit_of(figure: str) -> tuple[str, bool]:
    """(label, higher_is_better) of a figure name: ``runs_per_s`` is ``runs/s``, higher."""
    for suffix, ending, higher_better in UNITS:
        if figure.endswith(suffix):
            return figure[: -len(suffix)] + ending, higher_better
    return figure, False


def fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def summarize(outcomes: list[Outcome], figure: str) -> float | str | None:
    """Median of the repetitions' numbers, else the first error, else None (not measured)."""
    numbers = [v for o in outcomes for v in [o.figures.get(figure)] if isinstance(v, (int, float))]
    if numbers:
        return statistics.median(numbers)
    for o in outcomes:
        value = o.error or o.figures.get(figure)
        if isinstance(value, str):
            return value if value.startswith("error") else f"error: {value}"
    return None


def ratio(mlflow: float | str | None, mltrack: float | str | None, higher_better: bool) -> str:
    if not isinstance(mlflow, (int, float)) or not isinstance(mltrack, (int, float)):
        return "—"
    if min(mlflow, mltrack) <= 0:
        return "—"
    return fmt(mltrack / mlflow if higher_better else mlflow / mltrack) + "×"


def rows_for(workload: str, results: dict[str, list[Outcome]], tools: list[str]) -> list[Row]:
    figures: list[str] = []
    for tool in tools:
        for outcome in results[tool]:
            figures += [f for f in outcome.figures if f not in figures]
    reps = "/".join(str(sum(o.error is None for o in results[tool])) for tool in tools)
    rows = []
    for i, figure in enumerate(figures or ["(workload)"]):
        label, higher_better = unit_of(figure)
        values = {tool: summarize(results[tool], figure) for tool in tools}
        cells = {}
        for tool, value in values.items():
            workload_error = all(o.error for o in results[tool])
            if isinstance(value, (int, float)):
                cells[tool] = fmt(value)
            elif value is None:
                cells[tool] = "—"
            elif workload_error and i > 0:
                cells[tool] = "error (above)"
            else:
                cells[tool] = value
        higher = ratio(values.get("mlflow"), values.get("mltrack"), higher_better)
        rows.append(Row(workload, label, cells, higher, reps))
    return rows


def table(rows: list[Row], tools: list[str], markdown: bool) -> str:
    header = ["workload", "figure", *(("MLflow" if t == "mlflow" else t) for t in tools)]
    header += [RATIO_HEADER, "reps (" + "/".join(tools) + ")"]
    body = [[r.workload, r.figure, *(r.cells[t] for t in tools), r.ratio, r.reps] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |"]
        lines.append("|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|")
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in body]
        return "\n".join(lines)
    grid = [header, *body]
    widths = [min(60, max(len(row[i]) for row in grid)) for i in range(len(header))]
    lines = []
    for cells in grid:
        parts = [
            cell[: widths[i]].ljust(widths[i]) if i < 2 else cell[: widths[i]].rjust(widths[i])
            for i, cell in enumerate(cells)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def notes_of(results: dict[str, dict[str, list[Outcome]]]) -> list[str]:
    notes: list[str] = []
    for workload, by_tool in results.items():
        for outcomes in by_tool.values():
            for note in (n for o in outcomes for n in o.notes):
                if f"{workload}: {note}" not in notes:
                    notes.append(f"{workload}: {note}")
    return notes


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workloads",
        default=",".join(TIMEOUTS),
        help="comma-separated workload ids (default: all: W1..W9, W3L W3 up to 10,000 runs, W8I serving an identity model, WS the tracking server, WSA with authentication, WR the registry, WI importing an MLflow store)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="repetitions per tool (default 1)")
    parser.add_argument(
        "--scale",
        choices=["small", "full"],
        default="full",
        help="small stops W4 at 1,000 runs instead of 10,000 (default full)",
    )
    parser.add_argument(
        "--tools",
        "--tool-only",
        default=",".join(TOOLS),
        help="comma-separated tools (default: mlflow,mltrack); MLflow always runs first",
    )
    parser.add_argument(
        "--mlflow-venv",
        type=Path,
        help=f"an existing virtualenv with mlflow=={MLFLOW_VERSION} "
        "(default: create and cache benchmarks/.work/mlflow-venv)",
    )
    parser.add_argument(
        "--mltrack-python",
        type=Path,
        default=Path(sys.executable),
        help="the interpreter mltrack is installed in (default: this one)",
    )
    parser.add_argument(
        "--timeout", type=float, help="seconds per workload run (default: per workload)"
    )
    parser.add_argument("--json", type=Path, help="write the raw figures to this file")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown to this file")
    args = parser.parse_args(argv)
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    args.tools = [t.strip().lower() for t in args.tools.split(",") if t.strip()]
    for value, known, option in (
        (args.workloads, TIMEOUTS, "--workloads"),
        (args.tools, TOOLS, "--tools"),
    ):
        unknown = [v for v in value if v not in known]
        if unknown or not value:
            parser.error(
                f"{option}: unknown {unknown or 'empty list'}; choose from {', '.join(known)}"
            )
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def run_suite(
    args: argparse.Namespace, pythons: dict[str, Path]
) -> dict[str, dict[str, list[Outcome]]]:
    """Every workload, repetition and tool, one after another: outcomes by workload and tool."""
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[Outcome]]] = {}
    for workload in args.workloads:
        timeout = args.timeout or TIMEOUTS[workload][args.scale == "full"]
        results[workload] = {tool: [] for tool in pythons}
        for rep in range(1, args.repeat + 1):
            for tool, python in pythons.items():
                log = logs / f"{workload}-{tool}-{rep}.log"
                progress = f"{workload} {tool} {rep}/{args.repeat} …"
                print(progress, end=" ", file=sys.stderr, flush=True)
                if workload in MLFLOW_CLIENT and "mlflow" in pythons:
                    client = pythons["mlflow"]  # the same client talks to either server
                    outcome = run_workload(
                        client, tool, workload, args.scale, timeout, log, server_python=python
                    )
                else:
                    outcome = run_workload(python, tool, workload, args.scale, timeout, log)
                print(f"{outcome.wall_s:.1f} s: {outcome.error or 'ok'}", file=sys.stderr)
                results[workload][tool].append(outcome)
    return results


def environment_of(args: argparse.Namespace, pythons: dict[str, Path], load: float) -> dict:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "command": " ".join(["python", *sys.argv]),
        "scale": args.scale,
        "repeat": args.repeat,
        "load_average": f"{load:.1f} at start, {os.getloadavg()[0]:.1f} at end",
        **{f"{tool}_python": str(python) for tool, python in pythons.items()},
        **{f"{tool}_version": package_version(python, tool) for tool, python in pythons.items()},
    }


def raw_results(results: dict[str, dict[str, list[Outcome]]]) -> dict:
    return {
        workload: {tool: [asdict(o) for o in outcomes] for tool, outcomes in by_tool.items()}
        for workload, by_tool in results.items()
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pythons: dict[str, Path] = {}  # in running order: MLflow first, then mltrack
    if "mlflow" in args.tools:
        pythons["mlflow"] = ensure_mlflow_venv(args.mlflow_venv)
    if "mltrack" in args.tools:
        pythons["mltrack"] = args.mltrack_python
        precompile(args.mltrack_python, "mltrack")
    load_at_start = os.getloadavg()[0]
    results = run_suite(args, pythons)

    tools = list(pythons)
    rows = [row for w, by_tool in results.items() for row in rows_for(w, by_tool, tools)]
    notes = notes_of(results)
    environment = environment_of(args, pythons, load_at_start)
    shown = ["date", "machine", "load_average", "scale", "repeat"]
    shown += [f"{tool}_version" for tool in tools]
    heading = ", ".join(f"{key}: {environment[key]}" for key in shown)
    print(heading)
    print(table(rows, tools, markdown=False))
    for note in notes:
        print(f"note: {note}")
    if args.markdown:
        text = [f"_{heading}_", "", table(rows, tools, markdown=True), ""]
        text += [f"- {note}" for note in notes]
        args.markdown.write_text("\n".join(text).rstrip() + "\n")
    if args.json:
        data = {"environment": environment, "results": raw_results(results)}
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
