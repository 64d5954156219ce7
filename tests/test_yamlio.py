"""yamlio: exact round trips, byte-stable output, and quoting no YAML reader can misread."""

from __future__ import annotations

import math
import random
import re
import struct
import sys
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mltrack.store import yamlio

# Plain (unquoted) scalars that some YAML reader resolves to a non-string: the
# YAML 1.2 core schema, YAML 1.1's types (the booleans y/n/on/off, octal 0777,
# sexagesimal 1:30, underscores in numbers, timestamps, merge and value keys).
# For 1.1 floats this follows what real 1.1 readers (PyYAML, SnakeYAML, ruamel)
# accept rather than the spec's regex, which also matches "." and "1.2.3".
NON_STRING_PLAIN = re.compile(
    r"""^(?:
        |~|null|Null|NULL
      | true|True|TRUE|false|False|FALSE
      | y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF
      | [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+
      | [-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
      | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
      | [-+]?0b[01_]+ | [-+]?0[0-7_]+ | [-+]?(?:0|[1-9][0-9_]*) | [-+]?0x[0-9a-fA-F_]+
      | [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
      | [-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?
      | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}
        (?:(?:[Tt]|[\ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?
           (?:[\ \t]*Z|[-+][0-9]{1,2}(?::[0-9]{2})?)?)?
      | <<|=
    )$""",
    re.VERBOSE,
)

TRICKY = [
    "yes", "no", "Yes", "NO", "y", "n", "on", "off", "true", "False",
    "null", "Null", "~", "", " ", "  ", "1e3", "1E3", "1e+3", ".5", "5.", "-.5",
    "0777", "0o17", "0x1F", "0b101", "1_000", "+1", "-0", "1:30", "-1:30:00",
    "190:20:30", ".inf", "-.Inf", ".NaN", "nan", "inf", "NaN", "2024-01-01",
    "2001-12-14t21:59:43.10-05:00", "<<", "=", " leading", "trailing ",
    "multi\nline", "trailing newline\n", "\n", "\n\n", " \n ", "a\r\nb", "tab\tinside",
    "\ttab first", "# comment", "a # not a comment", "key: value", "a:b", ":", "- item",
    "? key", "@at", "`tick", "!tag", "&anchor", "*alias", "%directive", "|", ">",
    "'single'", '"double"', "{flow}", "[flow]", ",", "---", "...", "\x00", "\x85",
    "\u2028", "\ufeff", "é", "日本語", "emoji 🎉", "\\", "a\\nb",
]  # fmt: skip

# Any text, plus the YAML-lookalike alphabet so that short ambiguous strings come up often.
yamlish = st.text(alphabet="0123456789._-+eExXoObB:~yYnNtTfFaAlLsSuUiI=<Z \t\n#", max_size=10)
texts = st.one_of(st.text(), yamlish, st.sampled_from(TRICKY))
params = st.dictionaries(texts, texts)
metrics = st.dictionaries(
    texts, st.one_of(st.floats(), st.sampled_from([-0.0, 5e-324, -2.2250738585072014e-308]))
)


def same_float(a: float, b: float) -> bool:
    """Bit-identical floats, except that every NaN counts as the same NaN."""
    if math.isnan(a):
        return math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


def plain_scalars(data: bytes) -> list[str]:
    return [
        event.value
        for event in yaml.parse(data, Loader=yaml.SafeLoader)
        if isinstance(event, yaml.ScalarEvent) and event.style is None
    ]


@given(params)
def test_string_dicts_round_trip_exactly(document: dict[str, str]) -> None:
    data = yamlio.dump(document)
    assert yamlio.load(data) == document
    # The pure-Python reader (no libyaml) reads the same thing back.
    assert yaml.load(data, Loader=yaml.SafeLoader) == document


@given(params)
def test_strings_load_the_same_with_and_without_type_resolution(document: dict[str, str]) -> None:
    """BaseLoader resolves nothing (everything is a string); SafeLoader must agree."""
    data = yamlio.dump(document)
    assert yaml.load(data, Loader=yaml.SafeLoader) == yaml.load(data, Loader=yaml.BaseLoader)


@given(metrics)
def test_float_dicts_round_trip_bit_for_bit(document: dict[str, float]) -> None:
    data = yamlio.dump(document)
    for loaded in (yamlio.load(data), yaml.load(data, Loader=yaml.SafeLoader)):
        assert loaded.keys() == document.keys()
        for key, value in document.items():
            assert type(loaded[key]) is float
            assert same_float(loaded[key], value), (key, value, loaded[key], data)


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, sys.float_info.max, 0.1 + 0.2]
)
def test_special_floats(value: float) -> None:
    loaded = yamlio.load(yamlio.dump({"v": value}))["v"]
    assert same_float(loaded, value)


@given(
    st.dictionaries(
        texts,
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(min_value=-(2**63), max_value=2**64),
            st.floats(),
            texts,
            st.lists(texts, max_size=3),
            st.dictionaries(texts, st.integers(), max_size=3),
        ),
        max_size=8,
    )
)
def test_mixed_documents_round_trip(document: dict[str, Any]) -> None:
    loaded = yamlio.load(yamlio.dump(document))
    assert loaded.keys() == document.keys()
    for key, value in document.items():
        if isinstance(value, float):
            assert same_float(loaded[key], value)
        else:
            assert loaded[key] == value
            assert type(loaded[key]) is type(value)


@given(params, st.randoms(use_true_random=False))
def test_dump_is_byte_stable_whatever_the_insertion_order(
    document: dict[str, str], rng: random.Random
) -> None:
    items = list(document.items())
    rng.shuffle(items)
    shuffled = dict(items)
    assert yamlio.dump(shuffled) == yamlio.dump(document)
    assert yamlio.dump(document) == yamlio.dump(yamlio.load(yamlio.dump(document)))


@given(st.dictionaries(texts, st.dictionaries(texts, st.floats(), max_size=3), max_size=4))
def test_nested_dumps_are_stable_too(document: dict[str, dict[str, float]]) -> None:
    reversed_inner = {k: dict(reversed(list(v.items()))) for k, v in reversed(document.items())}
    assert yamlio.dump(reversed_inner) == yamlio.dump(document)


@settings(max_examples=300)
@given(params)
def test_no_plain_scalar_looks_like_a_non_string(document: dict[str, str]) -> None:
    for scalar in plain_scalars(yamlio.dump(document)):
        assert not NON_STRING_PLAIN.match(scalar), scalar


@pytest.mark.parametrize("value", TRICKY)
def test_tricky_strings(value: str) -> None:
    data = yamlio.dump({"param": value})
    assert yamlio.load(data) == {"param": value}
    for scalar in plain_scalars(data):
        assert not NON_STRING_PLAIN.match(scalar), (value, data)


@pytest.mark.parametrize("value", ["yes", "1e3", "0777", "null", "~", "", "0o17", "1:30", "y"])
def test_ambiguous_strings_are_quoted(value: str) -> None:
    assert yamlio.dump({"p": value}) == f"p: '{value}'\n".encode()


def test_regex_sanity() -> None:
    """The checker above must itself tell strings from non-strings."""
    for text in ["yes", "1e3", "0777", "null", "~", "", ".5", "-1:30", "0x_1", "2024-01-01", "<<"]:
        assert NON_STRING_PLAIN.match(text), text
    for text in ["1.2.3", "abc", "._", "v1", "1e", "0x", "e5", "yes please", "1 2"]:
        assert not NON_STRING_PLAIN.match(text), text


def test_layout_is_sorted_utf8_block_style() -> None:
    data = yamlio.dump({"b": "two\nlines", "a": "日本語", "c": {"z": 1, "x": 2}})
    assert data == "a: 日本語\nb: |-\n  two\n  lines\nc:\n  x: 2\n  z: 1\n".encode()


def test_long_strings_are_not_folded() -> None:
    value = "word " * 2000
    data = yamlio.dump({"p": value})
    assert data.count(b"\n") == 1
    assert yamlio.load(data) == {"p": value}


def test_load_accepts_text_and_bytes_and_is_safe() -> None:
    assert yamlio.load("a: 1\n") == yamlio.load(b"a: 1\n") == {"a": 1}
    with pytest.raises(yaml.YAMLError):
        yamlio.load("!!python/object/apply:os.system ['true']")


# --- the fast emitter writes exactly PyYAML's bytes -------------------------------------------

_tricky_text = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
    st.sampled_from(
        ["yes", "1e3", "0777", "null", "~", "", " a", "a ", "a: b", "a #b", "#a", "-a", "- a", "?x",
         "? x", ":x", "x:", "=", "<<", "it's", "{a}", "[1]", "a,b", "*x", "&x", "!x", "|", ">", "%x",
         "@x", "`x", "mlflow.source.name", "/tmp/x.py", "value-3", "0.5", "True", "nan", ".inf",
         "2001-12-14", "12:30", "x" * 130, "é", "a\nb", "tab\there"]
    ),
)  # fmt: skip
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    _tricky_text,
)
_documents = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_tricky_text, inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=400)
@given(st.dictionaries(_tricky_text, _documents, min_size=1, max_size=6))
def test_fast_emitter_writes_pyyaml_bytes(document: dict[str, Any]) -> None:
    assert yamlio.dump(document) == yamlio._pyyaml_dump(document)
    if not _has_nan(document):  # NaN != NaN; the float tests above cover its round trip
        assert yamlio.load(yamlio.dump(document)) == document


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


# --- the fast parser reads exactly what PyYAML reads ------------------------------------------


def _same(a: Any, b: Any) -> bool:
    """Equal, types included (1 is not 1.0 nor True), every NaN the same NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return same_float(a, b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=400)
@given(st.dictionaries(_tricky_text, _documents, min_size=1, max_size=6))
def test_fast_parser_reads_what_pyyaml_reads(document: dict[str, Any]) -> None:
    text = yamlio.dump(document).decode()
    fast = yamlio.fast_load(text)
    pyyaml = yaml.load(text, Loader=yamlio._StrictLoader)
    assert fast is None or _same(fast, pyyaml)


# Lines in the shape of mltrack's files, with the characters that change how YAML reads them.
_line = st.builds(
    lambda indent, dash, key, sep, value: indent + dash + key + sep + value,
    st.sampled_from(["", "", "  ", "    ", " ", "   "]),
    st.sampled_from(["", "", "- "]),
    st.one_of(_tricky_text, st.sampled_from(["a", "'a'", "'it''s'", "1", "m0", "x y"])),
    st.sampled_from([":", ": ", ":  ", " :", ""]),
    st.one_of(
        _tricky_text,
        st.sampled_from(["{}", "[]", "null", "1", "-2", "0.5", "1.0e-05", ".nan", "'x'", "''"]),
    ),
)


@settings(max_examples=1000)
@given(st.lists(_line, min_size=1, max_size=8))
def test_fast_parser_never_disagrees_with_pyyaml_on_hand_edits(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    fast = yamlio.fast_load(text)
    if fast is None:
        return  # PyYAML decides (and words the error if there is one)
    assert _same(fast, yaml.load(text, Loader=yamlio._StrictLoader))


def test_fast_parser_reads_a_run_file_and_leaves_the_rest_to_pyyaml() -> None:
    run = (
        "code:\n  commit: 34333d45a5bb\n  dirty: false\n  entry_point: -c\nend_time: null\n"
        "inputs:\n- dataset:\n    name: iris\n  tags: []\nmetrics:\n  m0:\n    step: 0\n"
        "    value: 0.5\nparams:\n  lr: '0.1'\n  my param: a b\nstatus: FINISHED\n"
    )
    assert yamlio.fast_load(run) == yaml.safe_load(run)
    for other in ("a: 1\na: 2\n", "a: |\n  x\n", 'a: "x"\n', "a: 1 # c\n", "a:\n", "- 1\n"):
        assert yamlio.fast_load(other) is None
    with pytest.raises(yaml.YAMLError, match="duplicate key"):
        yamlio.load("a: 1\na: 2\n")
