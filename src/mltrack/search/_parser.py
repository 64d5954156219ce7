"""The recursive-descent parser: tokens to a checked AST, with positioned errors."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

from mltrack.search._entities import (
    COMPARATOR_WORDS,
    LIST_OPS,
    NULL_OPS,
    PREFIX_NOUNS,
    Field,
    Spec,
)
from mltrack.search._nodes import (
    ATTRIBUTE,
    DATASET,
    METRIC,
    And,
    Comparison,
    Expr,
    Or,
    OrderKey,
    Value,
)
from mltrack.search._tokens import (
    INTEGER_RE,
    NUMBER_RE,
    PLAIN_KEY_RE,
    Token,
    raise_syntax_error,
    tokenize,
)


@dataclass(frozen=True)
class _Target:
    """A resolved identifier: what a comparison reads and how it may be compared."""

    prefix: str
    key: str
    rule: Field
    written: str  # as in the text, for messages

    @property
    def noun(self) -> str:
        """For comparator messages: params, or attribute 'status'."""
        if self.prefix in (ATTRIBUTE, DATASET):
            return f"{self.prefix} '{self.key}'"
        return PREFIX_NOUNS[self.prefix]

    @property
    def label(self) -> str:
        """For value messages: metric 'rmse'."""
        return f"{self.prefix} '{self.key}'"


class Parser:
    """One filter or one order_by clause: ``parse_filter()`` or ``parse_order_key()``."""

    def __init__(self, text: str, spec: Spec) -> None:
        self.text = text
        self.spec = spec
        self.tokens = tokenize(text)
        self.index = 0

    # token stream

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def adjacent(self, before: Token) -> Token | None:
        """The next token if it touches ``before`` (no space between), else None."""
        token = self.peek()
        return token if token.start == before.end and token.kind != "END" else None

    def fail(self, message: str, at: Token | int) -> NoReturn:
        raise_syntax_error(message, self.text, at if isinstance(at, int) else at.start)

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

    def identifier(self, expected: str) -> tuple[str | None, str, Token]:
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
        self.fail(f"Expected {expected}{after}, got {first.describe()}", first)

    def quoted_identifier(self, first: Token) -> tuple[str | None, str, Token]:
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

    def quoted_key(self, before: Token, written: str) -> str:
        token = self.adjacent(before)
        if token is None or token.kind != "STRING":
            self.fail(f"Expected a key right after '{written}'", before.end)
        self.advance()
        return token.value

    def target(self) -> _Target:
        entity, key, first = self.identifier("a comparison such as metrics.rmse < 1")
        written = self.text[first.start : self.tokens[self.index - 1].end]
        prefix = ATTRIBUTE if entity is None else self.prefix(entity, first)
        if prefix in self.spec.keyed:
            return _Target(prefix, key, self.spec.keyed[prefix], written)
        try:
            canonical, rule = self.spec.fixed[prefix][key]
        except KeyError:
            message = _invalid_key(self.spec, prefix, key, self.spec.fixed[prefix])
            following = self.peek()
            if following.kind == "NAME" and not following.is_word(*COMPARATOR_WORDS):
                message += f"; quote a key that has spaces: `{key} {following.text}`"
            self.fail(message, first)
        return _Target(prefix, canonical, rule, written)

    def prefix(self, entity: str, at: Token) -> str:
        if entity not in self.spec.prefixes:
            self.fail(f"Unknown entity '{entity}' (use {self.spec.prefix_hint})", at)
        return self.spec.prefixes[entity]

    # comparators and values

    def comparator(self, target: _Target) -> tuple[str, Token]:
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
        if op in LIST_OPS:
            lists = [
                key if prefix == ATTRIBUTE else f"{PREFIX_NOUNS[prefix]}.{key}"
                for prefix, keys in self.spec.fixed.items()
                for key, (canonical, rule) in keys.items()
                if key == canonical and "IN" in rule.ops
            ]
            message += f"; IN and NOT IN work only on {', '.join(lists)}"
        return message

    def value(self, target: _Target, op: str, op_token: Token) -> Value:
        if op in NULL_OPS:
            return None
        if op in LIST_OPS:
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

    def number(self, target: _Target, token: Token) -> int | float:
        if not target.rule.numeric:
            self.fail(
                f"Expected a quoted string value for {target.label}, got {token.text} "
                f"(write '{token.text}')",
                token,
            )
        whole = INTEGER_RE.fullmatch(token.text) is not None
        if target.rule.integer and not whole:
            self.fail(
                f"Invalid value for numeric attribute '{target.key}': {token.text} "
                "(use a whole number)",
                token,
            )
        if target.prefix == METRIC or not whole:
            return float(token.text)
        return int(token.text)

    def string(self, target: _Target, token: Token) -> str | int:
        if not target.rule.numeric:
            return token.value
        if target.rule.quoted_integer and INTEGER_RE.fullmatch(token.value):
            return int(token.value)
        hint = " (remove the quotes)" if NUMBER_RE.fullmatch(token.value) else ""
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
        entity, key, first = self.identifier("a key such as metrics.rmse")
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


def _invalid_key(spec: Spec, prefix: str, key: str, valid: Iterable[str]) -> str:
    what = "attribute" if prefix == ATTRIBUTE else "dataset"
    keys = ", ".join(sorted(k for k in valid if " " not in k and not k[0].isupper()))
    message = f"Invalid {what} key '{key}' (valid keys: {keys})"
    if prefix == ATTRIBUTE and spec.keyed:
        kinds = _join_or(list(spec.keyed))
        written = key if PLAIN_KEY_RE.fullmatch(key) else f"`{key}`"
        spellings = _join_or([f"{PREFIX_NOUNS[p]}.{written}" for p in spec.keyed])
        message += f"; to use a {kinds} write {spellings}"
    return message


def _join_or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _order_choices(spec: Spec) -> str:
    prefixes = sorted(f"{PREFIX_NOUNS[p]}.<key>" for p in spec.order_prefixes if p != ATTRIBUTE)
    return ", ".join([*prefixes, *sorted(k for k in spec.order_attributes if k.islower())])
