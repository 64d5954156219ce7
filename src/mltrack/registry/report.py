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
    changed: bool = False


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
        ComparisonRow(kind, row.key, row.a, row.b, row.delta if row.changed else None, row.changed)
        for kind, group in (("metric", runs.metrics), ("param", runs.params))
        for row in group
    ]
    signatures, datasets = result["signatures"], result["datasets"]
    texts = [
        ("signature", "inputs", signature_text(signatures[0]), signature_text(signatures[1])),
        ("data", "datasets", "; ".join(datasets[0]), "; ".join(datasets[1])),
        ("source", "run", a.run_id, b.run_id),
    ]
    rows += [ComparisonRow(kind, key, x, y, changed=x != y) for kind, key, x, y in texts]
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
        mark = "**" if row.changed else ""  # what changed stands out in a review
        label = f"{mark}{row.kind} `{row.key}`{mark}"
        lines.append(f"| {label} | {_cell(row.a)} | {_cell(row.b)} | {delta} |")
    return "\n".join(lines)
