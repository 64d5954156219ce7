"""Two versions side by side as rows and as the markdown a pull request carries.

Shared by ``mltrack models compare`` and the web UI's registry page, so the
comparison a reviewer reads is the same wherever it is made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ComparisonRow", "comparison_markdown", "comparison_rows", "signature_text"]


@dataclass(frozen=True)
class ComparisonRow:
    kind: str  # metric | param | signature | data | source
    key: str
    a: Any
    b: Any
    delta: float | None = None


def signature_text(signature: dict[str, Any] | None) -> str:
    """A signature's inputs on one line: ``name:type, ...`` (``(none)`` without one)."""
    if not signature or not signature.get("inputs"):
        return "(none)"
    specs = json.loads(signature["inputs"])
    return ", ".join(
        f"{s.get('name', '?')}:{s.get('type')}"
        if s.get("type") != "tensor"
        else f"tensor{s['tensor-spec']['shape']}"
        for s in specs
    )


def comparison_rows(result: dict[str, Any]) -> list[ComparisonRow]:
    """The rows of ``Registry.compare``'s result: metrics, params, signature, data, source run."""
    a, b, runs = result["a"], result["b"], result["runs"]
    rows = [
        ComparisonRow(kind, row.key, row.a, row.b, row.delta if row.changed else None)
        for kind, group in (("metric", runs.metrics), ("param", runs.params))
        for row in group
    ]
    signatures, datasets = result["signatures"], result["datasets"]
    rows.append(
        ComparisonRow(
            "signature", "inputs", signature_text(signatures[0]), signature_text(signatures[1])
        )
    )
    rows.append(ComparisonRow("data", "datasets", "; ".join(datasets[0]), "; ".join(datasets[1])))
    rows.append(ComparisonRow("source", "run", a.run_id, b.run_id))
    return rows


def _cell(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else ("" if value is None else str(value))
    return text or "—"


def comparison_markdown(name: str, result: dict[str, Any]) -> str:
    """The comparison as a markdown table (a pull-request comment)."""
    a, b = result["a"], result["b"]
    la, lb = f"v{a.version}", f"v{b.version}"
    lines = [
        f"### {name}: version {a.version} vs version {b.version}",
        "",
        f"| | {la} | {lb} | Δ |",
        "|---|---|---|---|",
    ]
    for row in comparison_rows(result):
        delta = f"{row.delta:+.4g}" if isinstance(row.delta, float) else ""
        lines.append(f"| {row.kind} `{row.key}` | {_cell(row.a)} | {_cell(row.b)} | {delta} |")
    return "\n".join(lines)
