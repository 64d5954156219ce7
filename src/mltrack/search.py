"""The search grammar: ``filter_string`` and ``order_by`` for runs, experiments, logged models
and the registry.

MLflow's grammar, read by our own tokenizer and recursive-descent parser and compiled
once into closures, so ``Filter.matches`` costs a few dict lookups per record::

    filter      := [or_expr]
    or_expr     := and_expr (OR and_expr)*              OR: mltrack extension
    and_expr    := primary (AND primary)*
    primary     := "(" or_expr ")" | comparison          parentheses: mltrack extension
    comparison  := identifier comparator [value]
    identifier  := [entity "."] key                      no prefix: an attribute
    comparator  := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN | IS NULL | IS NOT NULL
    value       := number | 'string' | "string" | "(" string ("," string)* [","] ")"
    order_by    := identifier [ASC | DESC]               one clause per list item

Keywords are case-insensitive; entity prefixes and keys are not. A key is a run of word
characters and dots (``tags.mlflow.runName``) or is quoted with backticks, double or single
quotes (``metrics.`val-loss/x:1```). Inside a quoted string or key the quote character is
written twice (``'it''s'``); a backslash is an ordinary character. Numbers are ``-?`` then
``1``, ``1.5``, ``1.``, ``.5``, ``1e5``, ``1.5E-3``.

**Extension.** MLflow accepts only ``AND``; mltrack also accepts ``OR`` and parentheses, with
AND binding tighter than OR: ``a AND b OR c`` is ``(a AND b) OR c``.

**Semantics**, as MLflow's file and SQL stores:

- Each entity has its own keys and comparators (see ``_SPECS``); metrics compare numbers
  (the latest value), params and tags compare strings, ``LIKE``/``ILIKE`` are SQL patterns
  (``%`` any run, ``_`` one character; LIKE case-sensitive, ILIKE not; no escape character).
- A comparison on a missing key or a ``None`` attribute is false, ``!=`` included; find runs
  without a param or tag with ``IS NULL``. A NaN metric satisfies only ``!=``.
- ``datasets.name|digest|context`` match when any of the run's datasets matches.
- Registered models and model versions without the ``mlflow.prompt.is_prompt`` tag satisfy
  ``tags.`mlflow.prompt.is_prompt` != 'true'`` and ``= 'false'`` (the MLflow client adds it).
- Sorting puts NaN and then None after all values in both directions, then applies the
  entity's tie-break (runs: ``start_time DESC, run_id``; experiments: ``experiment_id``;
  registered models: ``name``; model versions: ``name, version_number DESC``; logged
  models: ``model_id``). With no order_by, experiments sort by ``creation_time DESC``,
  model versions by ``last_updated_timestamp DESC`` and logged models by
  ``creation_timestamp DESC`` first.

**Deliberate differences from MLflow** (whose lexer is sqlparse; these are its artifacts):

- Rejected here, accepted by MLflow: a dangling or doubled ``AND`` (``AND a = 1``); two
  comparisons with no ``AND`` between them; a list after ``=`` (``run_id = ('a')``); strings
  juxtaposed in a list (``('a' 'b')``, which MLflow concatenates); ``metrics. a`` (space after
  the dot); quote marks inside an unquoted key (``metrics."a".b``); a backslash before a
  closing quote (``'it\\'s'``; double the quote instead).
- Accepted here, rejected by MLflow: unquoted keys that sqlparse splits, such as
  ``metrics.in``, ``metrics.from``, ``metrics.a.1``; quoted attribute keys and the ``attribute.``
  prefix in registry order_by; whitespace-only filters and whitespace around an order_by
  clause; ``IS NOT  NULL`` with several spaces.
- Values: ``''`` inside a string means one quote (MLflow keeps both, so ``'it''s'`` could
  never match "it's"); lists follow the same rules as single values (MLflow reads them
  with Python's ``ast.literal_eval``).
- Experiment ids are compared as strings and need not be integers (MLflow's SQL store
  requires integers); ``experiment_id`` sorts numerically when it is all digits.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol, TypeAlias, TypeVar

from mltrack.exceptions import FilterSyntaxError

__all__ = [
    "ATTRIBUTE",
    "DATASET",
    "ENTITY_EXPERIMENTS",
    "ENTITY_LOGGED_MODELS",
    "ENTITY_MODEL_VERSIONS",
    "ENTITY_REGISTERED_MODELS",
    "ENTITY_RUNS",
    "METRIC",
    "PARAM",
    "TAG",
    "And",
    "Comparison",
    "ExperimentRecord",
    "Expr",
    "Filter",
    "ModelVersionRecord",
    "Or",
    "OrderKey",
    "RegisteredModelRecord",
    "RunRecord",
    "parse_filter",
    "parse_order_by",
    "sort_records",
]

ENTITY_RUNS = "runs"
ENTITY_EXPERIMENTS = "experiments"
ENTITY_REGISTERED_MODELS = "registered_models"
ENTITY_MODEL_VERSIONS = "model_versions"
ENTITY_LOGGED_MODELS = "logged_models"

# The canonical entity prefixes a comparison or order key refers to.
METRIC = "metric"
PARAM = "param"
TAG = "tag"
ATTRIBUTE = "attribute"
DATASET = "dataset"

T = TypeVar("T")
Predicate: TypeAlias = Callable[[Any], bool]


# --- What the evaluator reads from records ------------------------------------------------


class RunRecord(Protocol):
    """A run as a filter sees it: metrics hold each key's latest value."""

    @property
    def run_id(self) -> str: ...
    @property
    def run_name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def artifact_uri(self) -> str: ...
    @property
    def start_time(self) -> int: ...
    @property
    def end_time(self) -> int | None: ...
    @property
    def metrics(self) -> Mapping[str, float]: ...
    @property
    def params(self) -> Mapping[str, str]: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def datasets(self) -> Sequence[tuple[str, str, str | None]]:
        """(name, digest, context) of each logged input."""
        ...


class ExperimentRecord(Protocol):
    @property
    def experiment_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def creation_time(self) -> int | None: ...
    @property
    def last_update_time(self) -> int | None: ...


class RegisteredModelRecord(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def creation_timestamp(self) -> int | None: ...
    @property
    def last_updated_timestamp(self) -> int | None: ...


class LoggedModelRecord(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def source_run_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def params(self) -> Mapping[str, str]: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def creation_timestamp(self) -> int: ...


class ModelVersionRecord(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def run_id(self) -> str | None: ...
    @property
    def source(self) -> str: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def creation_timestamp(self) -> int | None: ...
    @property
    def last_updated_timestamp(self) -> int | None: ...


# --- The parsed form ----------------------------------------------------------------------

Value: TypeAlias = "str | int | float | tuple[str, ...] | None"
Expr: TypeAlias = "Comparison | And | Or"


@dataclass(frozen=True)
class Comparison:
    """``<prefix>.<key> <op> <value>`` with aliases resolved (``created`` is ``start_time``).

    ``op`` is upper-case (``LIKE``, ``NOT IN``, ``IS NULL``); ``value`` is a float for
    metrics, an int or float for numeric attributes, a tuple for IN lists, None for IS NULL.
    """

    prefix: str
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class And:
    terms: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    terms: tuple[Expr, ...]


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` clause, e.g. ``OrderKey("metric", "rmse", ascending=False)``."""

    prefix: str
    key: str
    ascending: bool = True


# --- What each entity accepts -------------------------------------------------------------

_NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
_NULL_OPS = ("IS NULL", "IS NOT NULL")
_LIST_OPS = ("IN", "NOT IN")


@dataclass(frozen=True)
class _Field:
    """The comparators and value type of one searchable key."""

    ops: tuple[str, ...]
    numeric: bool = False  # the value is a number literal
    integer: bool = False  # ... a whole number
    quoted_integer: bool = False  # ... or a quoted whole number ('3')


_STRING = _Field(_STRING_OPS)
_STRING_OR_LIST = _Field(_STRING_OPS + _LIST_OPS)
_NUMBER = _Field(_NUMERIC_OPS, numeric=True)
_INTEGER = _Field(_NUMERIC_OPS, numeric=True, integer=True)
_VERSION_NUMBER = _Field(_NUMERIC_OPS, numeric=True, integer=True, quoted_integer=True)


@dataclass(frozen=True)
class _Spec:
    noun: str
    prefixes: Mapping[str, str]  # spelling -> canonical prefix
    prefix_hint: str  # the spellings an error message suggests
    keyed: Mapping[str, _Field]  # canonical prefix -> field, for any key (metrics, tags, ...)
    fixed: Mapping[str, Mapping[str, tuple[str, _Field]]]  # prefix -> spelling -> (key, field)
    order_prefixes: frozenset[str]  # canonical prefixes order_by accepts
    order_attributes: Mapping[str, str]  # order_by spelling -> canonical key
    record_attrs: Mapping[str, str]  # canonical key -> record attribute, where they differ
    default_order: tuple[OrderKey, ...]  # when order_by is empty
    tiebreak: tuple[OrderKey, ...]  # appended unless the key is already ordered on
    unique_order: bool  # reject order_by naming one key twice (MLflow's SQL stores do)


_RUN_NAME = ("run_name", _STRING)
_START_TIME = ("start_time", _NUMBER)
_RUNS = _Spec(
    noun="runs",
    prefix_hint="metrics., params., tags., attributes. or datasets.",
    prefixes={
        **dict.fromkeys(("metric", "metrics"), METRIC),
        **dict.fromkeys(("parameter", "parameters", "param", "params"), PARAM),
        **dict.fromkeys(("tag", "tags"), TAG),
        **dict.fromkeys(("attribute", "attributes", "attr", "run"), ATTRIBUTE),
        **dict.fromkeys(("dataset", "datasets"), DATASET),
    },
    keyed={
        METRIC: _NUMBER,
        PARAM: _Field(_STRING_OPS + _NULL_OPS),
        TAG: _Field(_STRING_OPS + _NULL_OPS),
    },
    fixed={
        ATTRIBUTE: {
            "run_id": ("run_id", _STRING_OR_LIST),
            "run_name": _RUN_NAME,
            **dict.fromkeys(("run name", "Run name", "Run Name"), _RUN_NAME),
            "status": ("status", _STRING),
            "user_id": ("user_id", _STRING),
            "artifact_uri": ("artifact_uri", _STRING),
            "start_time": _START_TIME,
            **dict.fromkeys(("created", "Created"), _START_TIME),
            "end_time": ("end_time", _NUMBER),
        },
        DATASET: {key: (key, _STRING_OR_LIST) for key in ("name", "digest", "context")},
    },
    order_prefixes=frozenset({METRIC, PARAM, TAG, ATTRIBUTE}),
    order_attributes={
        **{key: key for key in ("run_id", "run_name", "status", "user_id", "artifact_uri")},
        **{key: key for key in ("start_time", "end_time")},
        **dict.fromkeys(("created", "Created"), "start_time"),
    },
    record_attrs={},
    default_order=(),
    tiebreak=(OrderKey(ATTRIBUTE, "start_time", False), OrderKey(ATTRIBUTE, "run_id")),
    unique_order=True,
)
_EXPERIMENTS = _Spec(
    noun="experiments",
    prefix_hint="tags. or attribute.",
    prefixes={"attribute": ATTRIBUTE, "tag": TAG, "tags": TAG},
    keyed={TAG: _Field(_STRING_OPS + _NULL_OPS)},
    fixed={
        ATTRIBUTE: {
            "name": ("name", _STRING),
            "experiment_id": ("experiment_id", _Field(("=", "!=", *_LIST_OPS))),
            "creation_time": ("creation_time", _INTEGER),
            "last_update_time": ("last_update_time", _INTEGER),
        }
    },
    order_prefixes=frozenset({ATTRIBUTE}),
    order_attributes={k: k for k in ("name", "experiment_id", "creation_time", "last_update_time")},
    record_attrs={},
    default_order=(
        OrderKey(ATTRIBUTE, "creation_time", False),
        OrderKey(ATTRIBUTE, "experiment_id"),
    ),
    tiebreak=(OrderKey(ATTRIBUTE, "experiment_id", False),),
    unique_order=False,
)
_REGISTERED_MODELS = _Spec(
    noun="registered models",
    prefix_hint="tags. or attribute.",
    prefixes={"attribute": ATTRIBUTE, "tag": TAG, "tags": TAG},
    keyed={TAG: _STRING},
    fixed={ATTRIBUTE: {"name": ("name", _STRING_OR_LIST)}},
    order_prefixes=frozenset({ATTRIBUTE}),
    order_attributes={
        "name": "name",
        "timestamp": "last_updated_timestamp",  # MLflow's SQL store orders it so
        "last_updated_timestamp": "last_updated_timestamp",
    },
    record_attrs={},
    default_order=(),
    tiebreak=(OrderKey(ATTRIBUTE, "name"),),
    unique_order=True,
)
_MODEL_VERSIONS = _Spec(
    noun="model versions",
    prefix_hint="tags. or attribute.",
    prefixes={"attribute": ATTRIBUTE, "tag": TAG, "tags": TAG},
    keyed={TAG: _STRING},
    fixed={
        ATTRIBUTE: {
            "name": ("name", _STRING_OR_LIST),
            "run_id": ("run_id", _STRING_OR_LIST),
            "source_path": ("source_path", _STRING),
            "version_number": ("version_number", _VERSION_NUMBER),
        }
    },
    order_prefixes=frozenset({ATTRIBUTE}),
    order_attributes={
        k: k for k in ("name", "version_number", "creation_timestamp", "last_updated_timestamp")
    },
    record_attrs={"version_number": "version", "source_path": "source"},
    default_order=(
        OrderKey(ATTRIBUTE, "last_updated_timestamp", False),
        OrderKey(ATTRIBUTE, "name"),
        OrderKey(ATTRIBUTE, "version_number", False),
    ),
    tiebreak=(OrderKey(ATTRIBUTE, "name"), OrderKey(ATTRIBUTE, "version_number", False)),
    unique_order=True,
)
_LOGGED_MODEL_TIMESTAMPS = ("creation_timestamp", "last_updated_timestamp")
_LOGGED_MODELS = _Spec(
    noun="logged models",
    prefix_hint="params., tags. or attributes.",
    prefixes={
        **dict.fromkeys(("attribute", "attributes"), ATTRIBUTE),
        **dict.fromkeys(("param", "params"), PARAM),
        **dict.fromkeys(("tag", "tags"), TAG),
    },
    keyed={PARAM: _STRING, TAG: _STRING},
    fixed={
        ATTRIBUTE: {
            **{
                key: (key, _STRING_OR_LIST)
                for key in ("name", "model_id", "source_run_id", "status", "model_type")
            },
            **{key: (key, _INTEGER) for key in _LOGGED_MODEL_TIMESTAMPS},
        }
    },
    order_prefixes=frozenset({ATTRIBUTE}),
    order_attributes={
        key: key for key in ("name", "model_id", "status", "model_type", *_LOGGED_MODEL_TIMESTAMPS)
    },
    record_attrs={},
    default_order=(OrderKey(ATTRIBUTE, "creation_timestamp", False),),
    tiebreak=(OrderKey(ATTRIBUTE, "model_id"),),
    unique_order=True,
)
_SPECS = {
    ENTITY_RUNS: _RUNS,
    ENTITY_EXPERIMENTS: _EXPERIMENTS,
    ENTITY_REGISTERED_MODELS: _REGISTERED_MODELS,
    ENTITY_MODEL_VERSIONS: _MODEL_VERSIONS,
    ENTITY_LOGGED_MODELS: _LOGGED_MODELS,
}
_PREFIX_NOUNS = {METRIC: "metrics", PARAM: "params", TAG: "tags", DATASET: "datasets"}
_PROMPT_TAG = "mlflow.prompt.is_prompt"


def _spec(entity: str) -> _Spec:
    try:
        return _SPECS[entity]
    except KeyError:
        raise ValueError(f"Unknown search entity {entity!r}: use one of {sorted(_SPECS)}") from None


# --- Tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # NAME NUMBER STRING OP LPAREN RPAREN COMMA DOT END
    text: str  # as written
    start: int
    value: str = ""  # a STRING's content, quotes undone
    quote: str = ""  # a STRING's quote character

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def is_word(self, *words: str) -> bool:
        return self.kind == "NAME" and self.text.upper() in words

    def describe(self) -> str:
        if self.kind == "END":
            return "the end of the text"
        return self.text if self.kind == "STRING" else f"'{self.text}'"


_SPACE = re.compile(r"\s+")
_NUMBER_RE = re.compile(r"-?(?:\d+(?:\.\d+)?[eE]-?\d+|\d+\.\d*|\.\d+|\d+)(?![\w.])")
_NAME_RE = re.compile(r"\w+(?:\.\w*)*")
_OP_RE = re.compile(r"[<>=!~]+")
_INTEGER_RE = re.compile(r"-?\d+")
_PLAIN_KEY = re.compile(r"\w+(?:\.\w+)*")
_PUNCTUATION = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA", ".": "DOT"}


def _fail(message: str, text: str, position: int) -> NoReturn:
    raise FilterSyntaxError(message, text=text, position=position)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while True:
        space = _SPACE.match(text, position)
        if space:
            position = space.end()
        if position >= len(text):
            tokens.append(_Token("END", "", len(text)))
            return tokens
        token = _next_token(text, position)
        tokens.append(token)
        position = token.end


def _next_token(text: str, position: int) -> _Token:
    char = text[position]
    if char in "'\"`":
        return _quoted(text, position)
    for kind, pattern in (("NUMBER", _NUMBER_RE), ("NAME", _NAME_RE), ("OP", _OP_RE)):
        match = pattern.match(text, position)
        if match:
            return _Token(kind, match.group(), position)
    if char in _PUNCTUATION:
        return _Token(_PUNCTUATION[char], char, position)
    hint = ""
    if char == "-" and _NUMBER_RE.match(text[position + 1 :].lstrip()):
        hint = " (write a negative number without a space: -1)"
    _fail(f"Unexpected character {char!r}{hint}", text, position)


def _quoted(text: str, start: int) -> _Token:
    """A quoted string or key; the quote character doubled stands for itself."""
    quote = text[start]
    parts: list[str] = []
    position = start + 1
    while True:
        close = text.find(quote, position)
        if close < 0:
            what = "quoted key" if quote == "`" else "string"
            _fail(f"Unterminated {what}: add the closing {quote}", text, start)
        parts.append(text[position:close])
        if text.startswith(quote, close + 1):
            parts.append(quote)
            position = close + 2
            continue
        end = close + 1
        break
    touching = end < len(text) and not text[end].isspace() and text[end] not in "),"
    if touching and close > start + 1 and text[close - 1] == "\\":
        _fail(
            f"A backslash does not escape a quote; write the quote twice instead, "
            f"e.g. {quote}it{quote}{quote}s{quote}",
            text,
            close - 1,
        )
    return _Token("STRING", text[start:end], start, "".join(parts), quote)


# --- Parser -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """A resolved identifier: what a comparison reads and how it may be compared."""

    prefix: str
    key: str
    rule: _Field
    written: str  # as in the text, for messages

    @property
    def noun(self) -> str:
        """'params' or "attribute 'status'", for comparator messages."""
        if self.prefix in (ATTRIBUTE, DATASET):
            return f"{self.prefix} '{self.key}'"
        return _PREFIX_NOUNS[self.prefix]

    @property
    def label(self) -> str:
        """ "metric 'rmse'", for value messages."""
        return f"{self.prefix} '{self.key}'"


class _Parser:
    def __init__(self, text: str, spec: _Spec) -> None:
        self.text = text
        self.spec = spec
        self.tokens = _tokenize(text)
        self.index = 0

    # token stream

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def adjacent(self, before: _Token) -> _Token | None:
        """The next token if it touches ``before`` (no space between), else None."""
        token = self.peek()
        return token if token.start == before.end and token.kind != "END" else None

    def fail(self, message: str, at: _Token | int) -> NoReturn:
        _fail(message, self.text, at if isinstance(at, int) else at.start)

    # filter := [or_expr]

    def parse_filter(self) -> Expr | None:
        if self.peek().kind == "END":
            return None
        expr = self.or_expr()
        token = self.peek()
        if token.kind == "RPAREN":
            self.fail("Unmatched ')'", token)
        if token.kind != "END":
            self.fail(f"Expected AND, OR or the end of the filter, got {token.describe()}", token)
        return expr

    def or_expr(self) -> Expr:
        terms = [self.and_expr()]
        while self.peek().is_word("OR"):
            self.advance()
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def and_expr(self) -> Expr:
        terms = [self.primary()]
        while self.peek().is_word("AND"):
            self.advance()
            terms.append(self.primary())
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def primary(self) -> Expr:
        token = self.peek()
        if token.kind != "LPAREN":
            return self.comparison()
        self.advance()
        expr = self.or_expr()
        if self.peek().kind != "RPAREN":
            self.fail(
                f"Expected ')' to close the '(' at position {token.start}, "
                f"got {self.peek().describe()}",
                self.peek(),
            )
        self.advance()
        return expr

    def comparison(self) -> Comparison:
        target = self.target()
        op, op_token = self.comparator(target)
        if op not in target.rule.ops:
            self.fail(self.bad_comparator(target, op), op_token)
        return Comparison(target.prefix, target.key, op, self.value(target, op, op_token))

    # identifiers

    def identifier(self) -> tuple[str | None, str, _Token]:
        """(entity as written or None, key, first token) of ``[entity.]key``."""
        first = self.peek()
        if first.kind == "NAME" and not first.is_word("AND", "OR"):
            self.advance()
            entity, dot, key = first.text.partition(".")
            if dot and not key:
                key = self.quoted_key(first, first.text)
            return (entity, key, first) if dot else (None, first.text, first)
        if first.kind == "STRING" and first.quote != "'":
            self.advance()
            return self.quoted_identifier(first)
        previous = self.tokens[self.index - 1] if self.index else None
        after = ""
        if previous is not None and previous.is_word("AND", "OR"):
            after = f" after {previous.text.upper()!r}"
        self.fail(
            f"Expected a comparison such as metrics.rmse < 1{after}, got {first.describe()}",
            first,
        )

    def quoted_identifier(self, first: _Token) -> tuple[str | None, str, _Token]:
        """`entity`.key, `entity`.`key` or a quoted attribute key alone."""
        dot = self.adjacent(first)
        if dot is None or dot.kind != "DOT":
            return None, first.value, first
        if first.quote != "`":
            self.fail("Only backticks can quote an entity name, e.g. `tags`.key", first)
        self.advance()
        key = self.adjacent(dot)
        if key is not None and key.kind == "NAME":
            self.advance()
            return first.value, key.text, first
        return first.value, self.quoted_key(dot, f"{first.text}."), first

    def quoted_key(self, before: _Token, written: str) -> str:
        token = self.adjacent(before)
        if token is None or token.kind != "STRING":
            self.fail(f"Expected a key right after '{written}'", before.end)
        self.advance()
        return token.value

    def target(self) -> _Target:
        entity, key, first = self.identifier()
        written = self.text[first.start : self.tokens[self.index - 1].end]
        prefix = ATTRIBUTE if entity is None else self.prefix(entity, first)
        if prefix in self.spec.keyed:
            return _Target(prefix, key, self.spec.keyed[prefix], written)
        try:
            canonical, rule = self.spec.fixed[prefix][key]
        except KeyError:
            self.fail(_invalid_key(self.spec, prefix, key, self.spec.fixed[prefix]), first)
        return _Target(prefix, canonical, rule, written)

    def prefix(self, entity: str, at: _Token) -> str:
        if entity not in self.spec.prefixes:
            self.fail(f"Unknown entity '{entity}' (use {self.spec.prefix_hint})", at)
        return self.spec.prefixes[entity]

    # comparators and values

    def comparator(self, target: _Target) -> tuple[str, _Token]:
        token = self.advance()
        if token.kind == "OP":
            return token.text, token
        if token.is_word("LIKE", "ILIKE", "IN"):
            return token.text.upper(), token
        if token.is_word("NOT") and self.peek().kind == "NAME":
            return f"NOT {self.advance().text.upper()}", token
        if token.is_word("IS"):
            words = [token.text]
            if self.peek().is_word("NOT"):
                words.append(self.advance().text)
            if not self.peek().is_word("NULL"):
                self.fail(
                    f"Expected NULL or NOT NULL after IS, got {self.peek().describe()}", self.peek()
                )
            self.advance()
            return " ".join(words).upper() + " NULL", token
        self.fail(
            f"Expected a comparator after {target.written} "
            f"({', '.join(target.rule.ops)}), got {token.describe()}",
            token,
        )

    def bad_comparator(self, target: _Target, op: str) -> str:
        message = f"Invalid comparator '{op}' for {target.noun} (use {', '.join(target.rule.ops)})"
        if op in _LIST_OPS:
            lists = [
                key if prefix == ATTRIBUTE else f"{_PREFIX_NOUNS[prefix]}.{key}"
                for prefix, keys in self.spec.fixed.items()
                for key, (canonical, rule) in keys.items()
                if key == canonical and "IN" in rule.ops
            ]
            message += f"; IN and NOT IN work only on {', '.join(lists)}"
        return message

    def value(self, target: _Target, op: str, op_token: _Token) -> Value:
        if op in _NULL_OPS:
            return None
        if op in _LIST_OPS:
            return self.string_list(op)
        token = self.advance()
        if token.kind == "NUMBER":
            return self.number(target, token)
        if token.kind == "STRING" and token.quote != "`":
            return self.string(target, token)
        if token.kind == "STRING":
            self.fail("Backticks quote keys, not values; quote the value with ' or \"", token)
        if token.kind == "LPAREN":
            self.fail(f"A list of values needs IN or NOT IN, not '{op}'", token)
        if token.kind == "NAME" and target.rule.numeric:
            self.fail(f"Expected numeric value type for {target.label}, got {token.text}", token)
        if token.kind == "NAME":
            self.fail(
                f"Expected a quoted string value for {target.label}, got {token.text} "
                f"(write '{token.text}')",
                token,
            )
        self.fail(f"Expected a value after '{op_token.text}', got {token.describe()}", token)

    def number(self, target: _Target, token: _Token) -> int | float:
        if not target.rule.numeric:
            self.fail(
                f"Expected a quoted string value for {target.label}, got {token.text} "
                f"(write '{token.text}')",
                token,
            )
        whole = _INTEGER_RE.fullmatch(token.text) is not None
        if target.rule.integer and not whole:
            self.fail(
                f"Invalid value for numeric attribute '{target.key}': {token.text} "
                "(use a whole number)",
                token,
            )
        if target.prefix == METRIC or not whole:
            return float(token.text)
        return int(token.text)

    def string(self, target: _Target, token: _Token) -> str | int:
        if not target.rule.numeric:
            return token.value
        if target.rule.quoted_integer and _INTEGER_RE.fullmatch(token.value):
            return int(token.value)
        hint = " (remove the quotes)" if _NUMBER_RE.fullmatch(token.value) else ""
        self.fail(f"Expected numeric value type for {target.label}, got {token.text}{hint}", token)

    def string_list(self, op: str) -> tuple[str, ...]:
        opening = self.advance()
        if opening.kind != "LPAREN":
            self.fail(
                f"Expected a list of quoted strings after {op}, e.g. ('a', 'b'), "
                f"got {opening.describe()}",
                opening,
            )
        items: list[str] = []
        while self.peek().kind != "RPAREN":
            item = self.advance()
            if item.kind != "STRING" or item.quote == "`":
                self.fail(
                    f"Expected a quoted string in the list after {op}, got {item.describe()}", item
                )
            items.append(item.value)
            if self.peek().kind == "COMMA":
                self.advance()
            elif self.peek().kind != "RPAREN":
                self.fail(
                    f"Expected ',' or ')' in the list, got {self.peek().describe()}", self.peek()
                )
        if not items:
            self.fail(f"The list after {op} is empty; give at least one quoted string", opening)
        self.advance()
        return tuple(items)

    # order_by := identifier [ASC | DESC]

    def parse_order_key(self) -> OrderKey:
        if self.peek().kind == "END":
            self.fail("Empty order_by clause; write '<key> [ASC|DESC]'", 0)
        entity, key, first = self.identifier()
        prefix = ATTRIBUTE if entity is None else self.prefix(entity, first)
        if prefix not in self.spec.order_prefixes:
            self.fail(
                f"{self.spec.noun.capitalize()} cannot be ordered by {entity}.* "
                f"(use {_order_choices(self.spec)})",
                first,
            )
        if prefix == ATTRIBUTE:
            if key not in self.spec.order_attributes:
                self.fail(_invalid_key(self.spec, prefix, key, self.spec.order_attributes), first)
            key = self.spec.order_attributes[key]
        ascending = True
        if self.peek().kind == "NAME":
            direction = self.advance()
            if not direction.is_word("ASC", "DESC"):
                self.fail(f"Invalid ordering {direction.text!r}: use ASC or DESC", direction)
            ascending = direction.is_word("ASC")
        if self.peek().kind != "END":
            self.fail(
                f"Unexpected {self.peek().describe()}: each order_by item is one "
                "'<key> [ASC|DESC]'",
                self.peek(),
            )
        return OrderKey(prefix, key, ascending)


def _invalid_key(spec: _Spec, prefix: str, key: str, valid: Iterable[str]) -> str:
    what = "attribute" if prefix == ATTRIBUTE else "dataset"
    keys = ", ".join(sorted(k for k in valid if " " not in k and not k[0].isupper()))
    message = f"Invalid {what} key '{key}' (valid keys: {keys})"
    if prefix == ATTRIBUTE and spec.keyed:
        kinds = _join_or(list(spec.keyed))
        written = key if _PLAIN_KEY.fullmatch(key) else f"`{key}`"
        spellings = _join_or([f"{_PREFIX_NOUNS[p]}.{written}" for p in spec.keyed])
        message += f"; to use a {kinds} write {spellings}"
    return message


def _join_or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _order_choices(spec: _Spec) -> str:
    prefixes = sorted(f"{_PREFIX_NOUNS[p]}.<key>" for p in spec.order_prefixes if p != ATTRIBUTE)
    return ", ".join([*prefixes, *sorted(k for k in spec.order_attributes if k.islower())])


# --- Evaluation ---------------------------------------------------------------------------


def _like(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """SQL LIKE as a regex: % any run of characters, _ exactly one."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


# ``value OP lhs`` with the operator mirrored, so that partial() can bind the constant.
_MIRRORED: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.gt,
    "<=": operator.ge,
    ">": operator.lt,
    ">=": operator.le,
}


def _value_test(op: str, value: Value) -> Predicate:
    """A test of a present (non-None) left-hand side."""
    if op in ("LIKE", "ILIKE"):
        fullmatch = _like(str(value), op == "ILIKE").fullmatch
        return lambda lhs: fullmatch(lhs) is not None
    if op in _LIST_OPS:
        members = frozenset(value if isinstance(value, tuple) else ())
        return members.__contains__ if op == "IN" else lambda lhs: lhs not in members
    return functools.partial(_MIRRORED[op], value)


def _getter(spec: _Spec, prefix: str, key: str) -> Callable[[Any], Any]:
    if prefix == METRIC:
        return lambda record: record.metrics.get(key)
    if prefix == PARAM:
        return lambda record: record.params.get(key)
    if prefix == TAG:
        return lambda record: record.tags.get(key)
    if prefix == ATTRIBUTE:
        return operator.attrgetter(spec.record_attrs.get(key, key))
    raise ValueError(f"No getter for {prefix}.{key} in {spec.noun}")


def _compile_comparison(spec: _Spec, comparison: Comparison) -> Predicate:
    prefix, key, op, value = comparison.prefix, comparison.key, comparison.op, comparison.value
    if prefix == DATASET:
        index = ("name", "digest", "context").index(key)
        test = _value_test(op, value)
        return lambda record: any(d[index] is not None and test(d[index]) for d in record.datasets)
    get = _getter(spec, prefix, key)
    if op == "IS NULL":
        return lambda record: get(record) is None
    if op == "IS NOT NULL":
        return lambda record: get(record) is not None
    test = _value_test(op, value)
    # Models without the prompt tag are not prompts (MLflow's registry stores agree).
    missing = (
        prefix == TAG
        and key == _PROMPT_TAG
        and spec in (_REGISTERED_MODELS, _MODEL_VERSIONS)
        and (op, value) in (("=", "false"), ("!=", "true"))
    )

    def check(record: Any) -> bool:
        lhs = get(record)
        return missing if lhs is None else test(lhs)

    return check


def _compile(spec: _Spec, expr: Expr) -> Predicate:
    if isinstance(expr, Comparison):
        return _compile_comparison(spec, expr)
    parts = [_compile(spec, term) for term in expr.terms]
    return functools.reduce(_both if isinstance(expr, And) else _either, parts)


def _both(first: Predicate, second: Predicate) -> Predicate:
    return lambda record: first(record) and second(record)


def _either(first: Predicate, second: Predicate) -> Predicate:
    return lambda record: first(record) or second(record)


def _comparisons(expr: Expr | None) -> Iterable[Comparison]:
    if isinstance(expr, Comparison):
        yield expr
    elif expr is not None:
        for term in expr.terms:
            yield from _comparisons(term)


def _match_all(record: Any) -> bool:
    return True


@dataclass(frozen=True)
class Filter:
    """A parsed, compiled filter. ``expr`` is the AST (None: match everything)."""

    text: str
    entity: str
    expr: Expr | None
    predicate: Predicate = field(repr=False, compare=False)

    def matches(self, record: Any) -> bool:
        """Whether ``record`` (see the ``*Record`` protocols) satisfies the filter."""
        return self.predicate(record)

    def select(self, records: Iterable[T]) -> list[T]:
        """The records that match, in their order."""
        return list(filter(self.predicate, records))

    def comparisons(self) -> tuple[Comparison, ...]:
        return tuple(_comparisons(self.expr))

    def references(self) -> frozenset[tuple[str, str]]:
        """Every ``(prefix, key)`` the filter reads, e.g. ``("metric", "rmse")``."""
        return frozenset((c.prefix, c.key) for c in _comparisons(self.expr))


def parse_filter(text: str | None, entity: str = ENTITY_RUNS) -> Filter:
    """Parse and compile a ``filter_string``; raise FilterSyntaxError naming the position."""
    spec = _spec(entity)
    source = text or ""
    expr = _Parser(source, spec).parse_filter()
    predicate = _match_all if expr is None else _compile(spec, expr)
    return Filter(source, entity, expr, predicate)


# --- Ordering -----------------------------------------------------------------------------


def parse_order_by(clauses: Sequence[str] | None, entity: str = ENTITY_RUNS) -> list[OrderKey]:
    """Parse ``["metrics.rmse DESC", "start_time"]``; a lone string counts as one clause."""
    spec = _spec(entity)
    if isinstance(clauses, str):
        clauses = [clauses]
    keys: list[OrderKey] = []
    for clause in clauses or ():
        key = _Parser(clause, spec).parse_order_key()
        if spec.unique_order and any((k.prefix, k.key) == (key.prefix, key.key) for k in keys):
            _fail(f"order_by names {key.prefix} '{key.key}' twice; keep one clause", clause, 0)
        keys.append(key)
    return keys


def _numeric_id(value: str) -> tuple[int, int, str]:
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _sort_value(spec: _Spec, key: OrderKey) -> Callable[[Any], Any]:
    get = _getter(spec, key.prefix, key.key)
    if spec is _EXPERIMENTS and key.key == "experiment_id":
        return lambda record: None if get(record) is None else _numeric_id(str(get(record)))
    return get


def _stable_sort(records: list[T], get: Callable[[T], Any], ascending: bool) -> list[T]:
    """Sort on one key: values first (stable), then NaN, then None, in both directions."""
    present: list[tuple[Any, T]] = []
    nans: list[T] = []
    missing: list[T] = []
    for record in records:
        value = get(record)
        if value is None:
            missing.append(record)
        elif isinstance(value, float) and math.isnan(value):
            nans.append(record)
        else:
            present.append((value, record))
    present.sort(key=operator.itemgetter(0), reverse=not ascending)
    return [record for _, record in present] + nans + missing


def sort_records(records: Sequence[T], order: list[OrderKey], entity: str = ENTITY_RUNS) -> list[T]:
    """Sort by ``order`` (from parse_order_by), then by the entity's tie-break."""
    spec = _spec(entity)
    keys = list(order) or list(spec.default_order)
    ordered = {(k.prefix, k.key) for k in keys}
    keys += [k for k in spec.tiebreak if (k.prefix, k.key) not in ordered]
    result = list(records)
    for key in reversed(keys):
        result = _stable_sort(result, _sort_value(spec, key), key.ascending)
    return result
