"""Byte-stable YAML that round-trips every value exactly.

- Keys are sorted and the layout is fixed, so the same content always gives the
  same bytes and git diffs stay minimal.
- A string that any YAML 1.1 or 1.2 reader could take for something else
  (``yes``, ``1e3``, ``0777``, ``null``, ``~``, ``.inf`` …) is quoted, so params
  stay strings in every tool that reads the file, not only in PyYAML.
- Floats keep full precision (``repr``); NaN and ±Inf are ``.nan``/``.inf``.
- Multi-line strings use block style so they stay readable in review.

libyaml's C emitter and parser are used when PyYAML was built with them.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["dump", "load"]

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Scalars that YAML 1.2 (core/JSON schema) or YAML 1.1 readers resolve to
# something other than a string. PyYAML's own resolver covers 1.1; this covers
# the 1.2 forms PyYAML would leave unquoted (1e3, 0o17, NaN, …).
_AMBIGUOUS = re.compile(
    r"""^(?:
        [-+]?(?:\d[\d_]*)?\.?\d*(?:[eE][-+]?\d+)?   # numbers in any float/int form
      | [-+]?0[oOxXbB][0-9a-fA-F_]+                 # 0o17, 0x1F, 0b101
      | [-+]?\.?(?:inf|Inf|INF)                     # infinities
      | \.?(?:nan|NaN|NAN)                          # NaN
      | ~|null|Null|NULL
      | true|True|TRUE|false|False|FALSE
      | y|Y|n|N|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF
      | \d{1,2}:\d{2}(?::\d{2})*(?:\.\d*)?          # sexagesimal
      | \d{4}-\d{1,2}-\d{1,2}.*                     # dates and timestamps
    )$""",
    re.VERBOSE,
)


class _StableDumper(_Dumper):  # type: ignore[misc,valid-type]
    """The C (or pure) safe dumper with quoting rules that keep strings strings."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if _AMBIGUOUS.match(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_StableDumper.add_representer(str, _represent_str)


def dump(data: Any) -> bytes:
    """Serialize ``data`` to canonical UTF-8 YAML bytes."""
    text: str = yaml.dump(
        data,
        Dumper=_StableDumper,
        sort_keys=True,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,
    )
    return text.encode("utf-8")


class _StrictLoader(_Loader):  # type: ignore[misc,valid-type]
    """The safe loader, refusing a mapping that repeats a key (a bad hand merge)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # complex keys never appear in mltrack's files
            key = (key_node.tag, key_node.value)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r} (line {mark.line + 1}, column {mark.column + 1})",
                    mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(data: bytes | str) -> Any:
    """Parse YAML bytes or text (safe loader; no arbitrary objects; no repeated keys)."""
    return yaml.load(data, Loader=_StrictLoader)
