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

__all__ = ["dump", "fast_load", "load"]

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


_PRINTABLE_ASCII = re.compile(r"[ -~]*")
# Starting with a letter, '_' or '/', made of word characters, '.', '/' and '-': only
# YAML 1.1's bool and null words resolve to non-strings, and _AMBIGUOUS lists them.
_SIMPLE = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*")
_STR_TAG = "tag:yaml.org,2002:str"
_resolver = yaml.resolver.Resolver()


class _Unsupported(Exception):
    """The fast emitter does not handle this value: the general path will."""


def _plain_allowed(text: str) -> bool:
    """PyYAML's rule for a plain scalar in block context (printable ASCII, one line)."""
    if not text or text[0] == " " or text[-1] == " " or text[0] in "#,[]{}&*!|>'\"%@`":
        return False
    last = len(text) - 1
    for i, char in enumerate(text):
        spaced = i == last or text[i + 1] == " "
        if (char in "?:-" and i == 0 and spaced) or (char == ":" and i > 0 and spaced):
            return False
        if char == "#" and i > 0 and text[i - 1] == " ":
            return False
    return _resolver.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG


def _string(text: str, key: bool = False) -> str:
    if _SIMPLE.fullmatch(text) and len(text) < 128:
        return "'" + text + "'" if _AMBIGUOUS.match(text) else text
    if not _PRINTABLE_ASCII.fullmatch(text) or (key and len(text) >= 128):
        raise _Unsupported  # unicode escapes, long keys: PyYAML decides
    if not _AMBIGUOUS.match(text) and _plain_allowed(text):
        return text
    return "'" + text.replace("'", "''") + "'"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is float:
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value).lower()
        if "." not in text and "e" in text:
            text = text.replace("e", ".0e", 1)
        return text
    if kind is str:
        return _string(value)
    raise _Unsupported


def _emit(data: Any, indent: str, out: list[str]) -> None:
    """Block-style YAML exactly as PyYAML writes it for mltrack's files (sorted keys)."""
    if type(data) is dict:
        for key in sorted(data):
            if type(key) is not str:
                raise _Unsupported
            value = data[key]
            label = indent + _string(key, key=True) + ":"
            if type(value) is dict and value:
                out.append(label + "\n")
                _emit(value, indent + "  ", out)
            elif type(value) is list and value:
                out.append(label + "\n")
                _emit(value, indent, out)
            elif type(value) is dict:
                out.append(label + " {}\n")
            elif type(value) is list:
                out.append(label + " []\n")
            else:
                out.append(label + " " + _scalar(value) + "\n")
    elif type(data) is list:
        for item in data:
            if type(item) is dict and item:
                lines: list[str] = []
                _emit(item, indent + "  ", lines)
                lines[0] = indent + "- " + lines[0][len(indent) + 2 :]
                out.extend(lines)
            elif type(item) in (dict, list):
                raise _Unsupported  # nested lists and empty mappings in lists: the general path
            else:
                out.append(indent + "- " + _scalar(item) + "\n")
    else:
        raise _Unsupported


def dump(data: Any) -> bytes:
    """Serialize ``data`` to canonical UTF-8 YAML bytes.

    Documents made only of mappings, lists, numbers and simple strings (run.yaml
    in practice) take a direct emitter that writes PyYAML's exact bytes several
    times faster; everything else goes through PyYAML. Tests check both agree.
    """
    if type(data) is dict and data:
        out: list[str] = []
        try:
            _emit(data, "", out)
        except _Unsupported:
            pass
        else:
            return "".join(out).encode("utf-8")
    return _pyyaml_dump(data)


def _pyyaml_dump(data: Any) -> bytes:
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
    """Parse YAML bytes or text (safe loader; no arbitrary objects; no repeated keys).

    Documents in the layout :func:`dump` writes (block mappings and lists, plain or
    single-quoted one-line scalars) take a direct parser several times faster than PyYAML's,
    which builds a node per scalar in Python: it matters when a fresh clone reads 10,000
    run.yaml files. Anything outside that layout, or that it is not sure PyYAML would read
    the same way, goes to PyYAML; tests check both agree.
    """
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    found = fast_load(text)
    if found is not None:
        return found
    return yaml.load(data, Loader=_StrictLoader)


# ``key: value`` or ``key:`` (a block follows); the key plain or single-quoted.
_ENTRY = re.compile(r"( *)(?:'((?:[^'\n]|'')*)'|([A-Za-z0-9_./][A-Za-z0-9_./ -]*)):(?: (.+))?")
_QUOTED = re.compile(r"'((?:[^']|'')*)'")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+(?:e[-+][0-9]+)?")
_CONSTANTS: dict[str, Any] = {  # {} and [] are copied: each read gets its own
    "null": None,
    "true": True,
    "false": False,
    "{}": {},
    "[]": [],
    ".nan": float("nan"),
    ".inf": float("inf"),
    "-.inf": float("-inf"),
}


def fast_load(text: str) -> dict[str, Any] | None:
    """The mapping ``text`` holds, when it is in :func:`dump`'s layout; None otherwise."""
    if not text.endswith("\n") or not _PRINTABLE_TEXT.fullmatch(text):
        return None
    entries = _LINE.findall(text)
    if len(entries) == text.count("\n"):  # every line is ``key: value`` or ``key:``
        try:
            return _nested_mappings(entries)
        except _Unsupported:
            return None
    lines = text.split("\n")[:-1]  # lists: the line-by-line parser
    try:
        document, end = _mapping(lines, 0, 0)
    except _Unsupported:
        return None
    return document if end == len(lines) and document else None


# One line of a document made only of mappings (the usual run.yaml): a whole document is
# matched by one findall in C, and the Python loop below does only what regexes cannot.
_LINE = re.compile(
    r"^( *)(?:'((?:[^'\n]|'')*)'|([A-Za-z0-9_./][A-Za-z0-9_./ -]*)):(?: ([^\n]+))?$", re.M
)
_PRINTABLE_TEXT = re.compile(r"[ -~\n]*")
# Scalars already read, with what they read as: values repeat across a store's files
# (statuses, users, steps, param values). Only immutable results are kept.
_SCALARS: dict[str, Any] = {}
_NUMBER_START = frozenset("-0123456789")


def _nested_mappings(entries: list[tuple[str, str, str, str]]) -> dict[str, Any] | None:
    root: dict[str, Any] = {}
    current, depth = root, 0
    parents: list[dict[str, Any]] = []
    opened: str | None = None  # a ``key:`` line: its mapping must follow, two spaces deeper
    scalars, keys = _SCALARS, _KEYS
    for spaces, quoted, plain, value in entries:
        indent = len(spaces)
        if opened is not None:
            if indent != depth + 2:
                raise _Unsupported  # ``key:`` with nothing under it: null, PyYAML's way
            child: dict[str, Any] = {}
            current[opened] = child
            parents.append(current)
            current, depth, opened = child, indent, None
        elif indent != depth:
            if indent > depth or indent % 2:
                raise _Unsupported
            while depth > indent:
                current = parents.pop()
                depth -= 2
        if plain:
            key = plain if plain in keys else _plain_key(plain)
        else:
            key = quoted.replace("''", "'")
        if key in current:
            raise _Unsupported  # PyYAML says where the repeated key is
        if not value:
            opened = key
        elif value in scalars:
            current[key] = scalars[value]
        else:
            read = current[key] = _read_scalar(value)
            # Long numbers (metric values, timestamps) rarely repeat: not worth keeping.
            if (
                type(read) not in (dict, list)
                and len(scalars) < 50_000
                and (len(value) < 6 or value[0] not in _NUMBER_START)
            ):
                scalars[value] = read
    if opened is not None or not root:
        raise _Unsupported
    return root


def _plain_key(key: str) -> str:
    if not (_SIMPLE.fullmatch(key) and not _AMBIGUOUS.match(key)) and not _plain_allowed(key):
        raise _Unsupported
    if len(_KEYS) < 10_000:
        _KEYS[key] = key
    return key


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


_KEYS: dict[str, str] = {}  # plain keys already checked (a store repeats the same keys)


def _key(match: re.Match[str]) -> str:
    quoted = match.group(2)
    if quoted is not None:
        return quoted.replace("''", "'")
    key: str = match.group(3)
    return key if key in _KEYS else _plain_key(key)


def _mapping(lines: list[str], pos: int, indent: int) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    dash = " " * indent + "- "
    end = len(lines)
    while pos < end:
        line = lines[pos]
        match = _ENTRY.fullmatch(line)
        if match is None:
            if _depth(line) < indent:
                break
            raise _Unsupported
        depth = len(match.group(1))
        if depth != indent:
            if depth < indent:
                break
            raise _Unsupported
        key = _key(match)
        if key in out:
            raise _Unsupported  # PyYAML says where the repeated key is
        pos += 1
        rest = match.group(4)
        if rest is not None:
            out[key] = _read_scalar(rest)
        elif pos < end and lines[pos].startswith(dash):
            out[key], pos = _sequence(lines, pos, indent)
        elif pos < end and _depth(lines[pos]) == indent + 2:
            out[key], pos = _mapping(lines, pos, indent + 2)
        else:
            raise _Unsupported  # ``key:`` with nothing under it: null, PyYAML's way
    return out, pos


def _sequence(lines: list[str], pos: int, indent: int) -> tuple[list[Any], int]:
    out: list[Any] = []
    prefix = " " * indent + "- "
    while pos < len(lines) and lines[pos].startswith(prefix):
        rest = lines[pos][len(prefix) :]
        if _ENTRY.fullmatch(rest):  # a mapping: its first key on the dash's line
            lines[pos] = " " * (indent + 2) + rest
            item, pos = _mapping(lines, pos, indent + 2)
            out.append(item)
        elif rest.startswith("- ") or rest == "-":
            raise _Unsupported  # a list in a list
        else:
            out.append(_read_scalar(rest))
            pos += 1
    return out, pos


def _read_scalar(text: str) -> Any:
    """A one-line scalar (or ``{}``, ``[]``), as PyYAML's safe loader reads it."""
    if text in _CONSTANTS:
        constant = _CONSTANTS[text]
        return {} if constant == {} else [] if constant == [] else constant
    if text[0] == "'":
        quoted = _QUOTED.fullmatch(text)
        if quoted is None:
            raise _Unsupported
        return quoted.group(1).replace("''", "'")
    if text[0] in _NUMBER_START:
        if "." in text:
            if _FLOAT.fullmatch(text):
                return float(text)
        elif _INT.fullmatch(text):
            return int(text)
    if (_SIMPLE.fullmatch(text) and not _AMBIGUOUS.match(text)) or _plain_allowed(text):
        return text
    raise _Unsupported
