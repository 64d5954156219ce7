"""The tokenizer: names, numbers, quoted strings and keys, comparison operators, punctuation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn

from mltrack.exceptions import FilterSyntaxError


@dataclass(frozen=True)
class Token:
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
NUMBER_RE = re.compile(r"-?(?:\d+(?:\.\d+)?[eE]-?\d+|\d+\.\d*|\.\d+|\d+)(?![\w.])")
_NAME_RE = re.compile(r"\w+(?:\.\w*)*")
_OP_RE = re.compile(r"[<>=!~]+")
INTEGER_RE = re.compile(r"-?\d+")
PLAIN_KEY_RE = re.compile(r"\w+(?:\.\w+)*")
_PUNCTUATION = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA", ".": "DOT"}


def raise_syntax_error(message: str, text: str, position: int) -> NoReturn:
    raise FilterSyntaxError(message, text=text, position=position)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while True:
        space = _SPACE.match(text, position)
        if space:
            position = space.end()
        if position >= len(text):
            tokens.append(Token("END", "", len(text)))
            return tokens
        token = _next_token(text, position)
        tokens.append(token)
        position = token.end


def _next_token(text: str, position: int) -> Token:
    char = text[position]
    if char in "'\"`":
        return _quoted(text, position)
    for kind, pattern in (("NUMBER", NUMBER_RE), ("NAME", _NAME_RE), ("OP", _OP_RE)):
        match = pattern.match(text, position)
        if match:
            return Token(kind, match.group(), position)
    if char in _PUNCTUATION:
        return Token(_PUNCTUATION[char], char, position)
    hint = ""
    if char == "-" and NUMBER_RE.match(text[position + 1 :].lstrip()):
        hint = " (write a negative number without a space: -1)"
    raise_syntax_error(f"Unexpected character {char!r}{hint}", text, position)


def _quoted(text: str, start: int) -> Token:
    """A quoted string or key; the quote character doubled stands for itself."""
    quote = text[start]
    parts: list[str] = []
    position = start + 1
    while True:
        close = text.find(quote, position)
        if close < 0:
            what = "quoted key" if quote == "`" else "string"
            raise_syntax_error(f"Unterminated {what}: add the closing {quote}", text, start)
        parts.append(text[position:close])
        if text.startswith(quote, close + 1):
            parts.append(quote)
            position = close + 2
            continue
        end = close + 1
        break
    touching = end < len(text) and not text[end].isspace() and text[end] not in "),"
    if touching and close > start + 1 and text[close - 1] == "\\":
        raise_syntax_error(
            f"A backslash does not escape a quote; write the quote twice instead, "
            f"e.g. {quote}it{quote}{quote}s{quote}",
            text,
            close - 1,
        )
    return Token("STRING", text[start:end], start, "".join(parts), quote)
