"""Tokenizer: condition text → tokens. Iterative, linear time, never recursive."""

from __future__ import annotations

import enum
import re
from typing import Final, NamedTuple

from .errors import ConditionLimitError, ConditionSyntaxError, UnexpectedCharacter

PathSegment = str | int


class Kind(enum.Enum):
    NUMBER = "number"
    STRING = "string"
    WORD = "word"  # a bare word: a string literal, or a function name before '('
    VARIABLE = "variable"
    KEYWORD = "keyword"  # value is the lower-case canonical keyword ('and', 'or', 'not', ...)
    OP = "operator"  # value is the canonical operator ('==', '(', ...)
    EOF = "end of expression"


class Token(NamedTuple):
    kind: Kind
    value: object  # int | float | str | tuple[PathSegment, ...] | None
    text: str  # the exact source text of the token
    column: int  # 1-based


KEYWORDS: Final[dict[str, str]] = {
    "and": "and",
    "or": "or",
    "not": "not",
    "in": "in",
    "contains": "contains",
    "starts_with": "starts_with",
    "startswith": "starts_with",
    "ends_with": "ends_with",
    "endswith": "ends_with",
    "matches": "matches",
    "exists": "exists",
    "is": "is",
    "null": "null",
    "true": "true",
    "false": "false",
}

_TWO_CHAR_OPS: Final[dict[str, str]] = {
    "==": "==",
    "!=": "!=",
    "<>": "!=",
    ">=": ">=",
    "<=": "<=",
    "&&": "and",
    "||": "or",
}
_ONE_CHAR_OPS: Final[dict[str, str]] = {
    "(": "(",
    ")": ")",
    "[": "[",
    "]": "]",
    ",": ",",
    "=": "==",
    ">": ">",
    "<": "<",
    "+": "+",
    "-": "-",
    "*": "*",
    "/": "/",
    "!": "not",
}
_KEYWORD_OPS: Final = frozenset({"and", "or", "not"})

_NUMBER_RE: Final = re.compile(r"(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_WORD_RE: Final = re.compile(r"\w+(?:[.\-]\w+)*")
_NAME_RE: Final = re.compile(r"\w+")
_INDEX_RE: Final = re.compile(r"-?\d+", re.ASCII)
_HEX4_RE: Final = re.compile(r"[0-9a-fA-F]{4}")
_SIMPLE_ESCAPES: Final[dict[str, str]] = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


def describe(text: str) -> str:
    """How a token is named in an error message: quoted and bounded."""
    if len(text) > 20:
        text = text[:20] + "…"
    return repr(text)


def _error(message: str, column: int, expected: str | None = None) -> ConditionSyntaxError:
    full = f"{message} at column {column}"
    if expected:
        full += f", expected {expected}"
    return ConditionSyntaxError(full, column, expected)


def _number_value(text: str, column: int) -> int | float:
    if "." in text or "e" in text or "E" in text:
        value = float(text)
        if value == float("inf"):
            raise ConditionLimitError(
                f"number {describe(text)} at column {column} is too large (above 1.8e308)"
            )
        return value
    try:
        return int(text)
    except ValueError as exc:  # more digits than Python converts to int
        raise ConditionLimitError(
            f"number at column {column} has too many digits ({len(text)})"
        ) from exc


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Read a quoted string starting at `start` (the quote); return (value, end index)."""
    quote = text[start]
    parts: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == quote:
            return "".join(parts), i + 1
        if ch == "\\":
            if i + 1 >= n:
                break
            nxt = text[i + 1]
            if nxt in _SIMPLE_ESCAPES:
                parts.append(_SIMPLE_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "u":
                digits = _HEX4_RE.match(text, i + 2)
                code = int(digits.group(), 16) if digits else -1
                if digits is None or 0xD800 <= code <= 0xDFFF:
                    raise _error("invalid \\u escape", i + 1, "four hex digits (not a surrogate)")
                parts.append(chr(code))
                i += 6
                continue
            # Unknown escapes are kept verbatim so regexes like "\d+" read naturally.
            parts.append(ch)
            parts.append(nxt)
            i += 2
            continue
        parts.append(ch)
        i += 1
    raise _error("unterminated string", start + 1, f"a closing {quote}")


def _read_variable(text: str, start: int) -> tuple[tuple[PathSegment, ...], int]:
    """Read `$root.key[0]["k"]...` starting at `start` (the '$'); return (path, end index)."""
    name = _NAME_RE.match(text, start + 1)
    if name is None:
        raise _error("'$' without a variable name", start + 1, "a variable name after '$'")
    path: list[PathSegment] = [name.group()]
    i = name.end()
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == ".":
            key = _NAME_RE.match(text, i + 1)
            if key is None:
                raise _error("'.' without a key", i + 1, "a key name after '.'")
            path.append(key.group())
            i = key.end()
        elif ch == "[":
            j = i + 1
            while j < n and text[j].isspace():
                j += 1
            if j < n and text[j] in "'\"":
                key_text, j = _read_string(text, j)
                path.append(key_text)
            else:
                index = _INDEX_RE.match(text, j)
                if index is None:
                    raise _error("invalid path index", j + 1, "an integer index or a quoted key")
                if len(index.group()) > 18:
                    raise _error("path index too large", j + 1, "an index of at most 18 digits")
                path.append(int(index.group()))
                j = index.end()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != "]":
                raise _error(
                    "unclosed path index" if j >= n else f"unexpected {describe(text[j])}",
                    j + 1,
                    "']'",
                )
            i = j + 1
        else:
            break
    return tuple(path), i


def _starts_number(text: str, i: int) -> bool:
    ch = text[i]
    return ch.isdigit() or (ch == "." and i + 1 < len(text) and text[i + 1].isdigit())


def _read_number_or_word(text: str, i: int, col: int) -> tuple[Token, int]:
    """At a digit (or '.' and a digit): a number (with an optional '%'), or a bare word when
    the digits run on into one; return (token, end index)."""
    n = len(text)
    number = _NUMBER_RE.match(text, i)
    if number is not None:
        end = number.end()
        follow = text[end] if end < n else ""
        # "5xx", "1.2.3" and "10.0.0.1" are bare words, not numbers.
        joins_word = bool(follow) and (
            _NAME_RE.match(follow) is not None
            or (follow == "." and _NAME_RE.match(text, end + 1) is not None)
        )
        if not joins_word:
            number_value = _number_value(number.group(), col)
            if follow == "%":
                end += 1
            return Token(Kind.NUMBER, number_value, text[i:end], col), end
    word = _WORD_RE.match(text, i)
    if word is None:  # a lone '.' followed by a digit cannot fail here, but be safe
        raise _error(f"unexpected {describe(text[i])}", col, "an operand")
    return Token(Kind.WORD, word.group(), word.group(), col), word.end()


def _word_token(value: str, col: int) -> Token:
    """A keyword (canonical, lower-case value) or, failing that, a bare word."""
    keyword = KEYWORDS.get(value.lower())
    if keyword is not None:
        return Token(Kind.KEYWORD, keyword, value, col)
    return Token(Kind.WORD, value, value, col)


def _read_operator(text: str, i: int, col: int) -> tuple[Token, int]:
    """A two- or one-character operator ('&&', '!' ... read as keywords); return (token, end
    index). Raises ConditionSyntaxError for any other character."""
    pair = text[i : i + 2]
    if pair in _TWO_CHAR_OPS:
        spelled, op = pair, _TWO_CHAR_OPS[pair]
    else:
        spelled = text[i]
        if spelled not in _ONE_CHAR_OPS:
            hint = {"&": "'&&'", "|": "'||'", "%": "a number before '%'"}.get(spelled, "an operand")
            message = f"unexpected character {describe(spelled)} at column {col}, expected {hint}"
            raise UnexpectedCharacter(message, col, hint)
        op = _ONE_CHAR_OPS[spelled]
    kind = Kind.KEYWORD if op in _KEYWORD_OPS else Kind.OP
    return Token(kind, op, spelled, col), i + len(spelled)


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, ending with an EOF token. Raises ConditionSyntaxError."""
    tokens: list[Token] = []
    append = tokens.append
    i = 0
    n = len(text)
    try:
        while i < n:
            ch = text[i]
            if ch.isspace():
                i += 1
                continue
            col = i + 1
            token: Token
            if ch == "$":
                path, end = _read_variable(text, i)
                token = Token(Kind.VARIABLE, path, text[i:end], col)
            elif ch in "'\"":
                value, end = _read_string(text, i)
                token = Token(Kind.STRING, value, text[i:end], col)
            elif _starts_number(text, i):
                token, end = _read_number_or_word(text, i, col)
            elif (word := _WORD_RE.match(text, i)) is not None:
                token, end = _word_token(word.group(), col), word.end()
            else:
                token, end = _read_operator(text, i, col)
            append(token)
            i = end
    except ConditionSyntaxError as malformed:
        # What was read before the token that failed (it began at index `i`): enough for
        # `syntax_check` to tell a malformed expression from prose without lexing again.
        malformed.tokens_before = tuple(tokens)
        malformed.token_column = i + 1
        raise
    append(Token(Kind.EOF, None, "", n + 1))
    return tokens
