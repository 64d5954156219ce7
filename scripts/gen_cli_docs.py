"""Write docs/cli.md from the CLI's own --help text, so the reference cannot drift.

Run: python scripts/gen_cli_docs.py   (tests/test_docs.py checks the file is current)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(click.Context(command))):
            sub = command.get_command(click.Context(command), name)
            if sub is not None and not sub.hidden:
                found += _walk(sub, [*path, name])
    return found


def render() -> str:
    from mltrack.cli import cli

    lines = [
        "# Command reference",
        "",
        "Generated from `--help` by `scripts/gen_cli_docs.py`; do not edit by hand.",
        "",
    ]
    for path, command in _walk(cli, ["mltrack"]):
        name = " ".join(path)
        with click.Context(command, info_name=name, terminal_width=100) as ctx:
            text = command.get_help(ctx)
        lines += [f"## `{name}`", "", "```", text.rstrip(), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    target = ROOT / "docs" / "cli.md"
    target.write_text(render())
    sys.stdout.write(f"wrote {target}\n")
