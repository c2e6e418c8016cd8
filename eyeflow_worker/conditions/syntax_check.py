"""Is a condition clearly an expression, and if so, is it a well-formed one?

The gateway asks this at submission so that `$metrics.cpu >> 80 AND` is a 422 naming the column,
not a job that fails later; plain English must still reach the tenant's LLM. The rule
(docs/conditions.md, "Refused at submission"):

A condition is **clearly an expression** when
1. the lexer reads it as tokens of the language — it stops on no character that begins no token
   (`?`, `;`, `:`, `@`, `#`, a stray `.`, a lone `&`, `|` or `%`), though it may stop on a
   malformed token (an unterminated string, a `$` without a name, a bad `[index]`); and
2. among the tokens read (up to a malformed one) is a `$variable` whose name starts with a
   letter or `_` (`$500` is money) — a malformed one counts too (`$a[x]`, `$metrics.`) — or
   one of the operator symbols `== = != <> > >= < <= && ||` (outside quotes).

Every text this calls clearly an expression is one the `evaluate` job also reads as an
expression (`looks_like_expression`: a `$` or an operator symbol anywhere), so refusing it at
submission only moves a certain failure earlier. Cost: one parse of the text (≤ 4096 characters);
English without `$` or an operator symbol does not even get that far (one regex search), and
only a text the parser refuses is lexed a second time to classify it. Nothing is cached.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import ConditionError, ConditionLimitError, ConditionSyntaxError, UnexpectedCharacter
from .lexer import Kind, Token, tokenize
from .parser import parse

# The symbols that make a text clearly an expression; the same ones `looks_like_expression`
# reacts to, so what is refused here would have failed in the job.
_SYMBOLS: Final = frozenset({"==", "=", "!=", "<>", ">", ">=", "<", "<=", "&&", "||"})
_HINT: Final = re.compile(r"\$|[<>=]|!=|&&|\|\|")
# A `$` and a letter or "_": `$500` in "the bill is over $500" is money, not a variable.
_NAMED_VARIABLE: Final = re.compile(r"\$[^\W\d]")


def malformed_expression(text: str) -> ConditionError | None:
    """The parse error of `text` when it is clearly an expression and does not parse, else None.

    None for a valid expression and for anything not clearly an expression (plain English,
    which the `evaluate` job hands to the LLM)."""
    if not _HINT.search(text):
        return None  # no `$` and no operator symbol: never clearly an expression
    try:
        parse(text)
    except ConditionLimitError as over:
        return over  # nested deeper than the language allows, a number beyond a float, ...
    except ConditionSyntaxError as invalid:
        return invalid if _clearly_an_expression(text, invalid) else None
    return None


def names_a_variable(text: str) -> bool:
    """Does `text` name a `$variable` anywhere (`$500` is money, not one)?"""
    return _NAMED_VARIABLE.search(text) is not None


def _clearly_an_expression(text: str, failure: ConditionSyntaxError) -> bool:
    if isinstance(failure, UnexpectedCharacter):
        return False  # a character outside the language: most likely prose ("is cpu > 80?")
    if failure.tokens_before is None:  # the parser failed: every token was read
        tokens: tuple[Token, ...] = tuple(tokenize(text))
    else:  # a malformed token: what was read before it, and the token itself if a `$name…`
        tokens = failure.tokens_before
        start = (failure.token_column or 1) - 1
        if _NAMED_VARIABLE.match(text, start):
            return True
    return any(_marks_an_expression(token) for token in tokens)


def _marks_an_expression(token: Token) -> bool:
    if token.kind is Kind.VARIABLE:
        return _NAMED_VARIABLE.match(token.text) is not None
    return token.kind is not Kind.STRING and token.text in _SYMBOLS
