"""Parser: tokens → syntax tree, by precedence climbing.

Binding powers, loosest first: OR 1, AND 2, NOT 3, comparisons/membership 4, + - 5, * / 6,
unary minus 7. Recursion happens only through nesting ('(', '[', calls, prefix operators) and
nesting is capped at MAX_NESTING_DEPTH, so deep input raises ConditionLimitError long before
Python's recursion limit.
"""

from __future__ import annotations

from typing import Final

from .errors import ConditionLimitError, ConditionSyntaxError
from .lexer import Kind, Token, describe, tokenize
from .limits import MAX_EXPRESSION_LENGTH, MAX_NESTING_DEPTH, MAX_REGEX_LENGTH
from .nodes import (
    FUNCTIONS,
    And,
    Arithmetic,
    Call,
    Compare,
    Exists,
    IsNull,
    ListExpr,
    Literal,
    Negate,
    Node,
    Not,
    Or,
    Variable,
)
from .regex import PatternError, compile_pattern

_OR, _AND, _NOT, _CMP, _ADD, _MUL, _UNARY = 1, 2, 3, 4, 5, 6, 7

_COMPARISON_OPS: Final = frozenset({"==", "!=", ">", ">=", "<", "<="})
_MEMBERSHIP_KEYWORDS: Final = frozenset({"in", "contains", "starts_with", "ends_with", "matches"})
_LITERAL_KEYWORDS: Final[dict[str, bool | None]] = {"true": True, "false": False, "null": None}
_OPERAND: Final = "an operand"
_AFTER_OPERAND: Final = "an operator, AND, OR or end of expression"


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    # --- helpers ----------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        index = min(self.pos + ahead, len(self.tokens) - 1)
        return self.tokens[index]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind is not Kind.EOF:
            self.pos += 1
        return token

    def fail(self, token: Token, expected: str | None, problem: str | None = None) -> None:
        what = "end of expression" if token.kind is Kind.EOF else describe(token.text)
        message = f"{problem or 'unexpected ' + what} at column {token.column}"
        if expected:
            message += f", expected {expected}"
        raise ConditionSyntaxError(message, token.column, expected)

    def expect_op(self, op: str, expected: str) -> Token:
        token = self.advance()
        if token.kind is not Kind.OP or token.value != op:
            self.fail(token, expected)
        return token

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise ConditionLimitError(
                f"expression nested too deeply at column {token.column} "
                f"(limit {MAX_NESTING_DEPTH} levels of parentheses, brackets, calls "
                "and prefix operators)"
            )

    def leave(self) -> None:
        self.depth -= 1

    # --- grammar ------------------------------------------------------------------------------

    def parse(self) -> Node:
        node = self.expression(0)
        token = self.peek()
        if token.kind is not Kind.EOF:
            self.fail(token, _AFTER_OPERAND)
        return node

    def infix_power(self) -> int:
        """Binding power of the token at the cursor as an infix/postfix operator, else 0."""
        token = self.peek()
        if token.kind is Kind.OP:
            op = token.value
            if op in _COMPARISON_OPS:
                return _CMP
            if op in ("+", "-"):
                return _ADD
            if op in ("*", "/"):
                return _MUL
            return 0
        if token.kind is Kind.KEYWORD:
            word = token.value
            if word == "or":
                return _OR
            if word == "and":
                return _AND
            if word in _MEMBERSHIP_KEYWORDS or word in ("exists", "is"):
                return _CMP
            if word == "not":
                follow = self.peek(1)
                if follow.kind is Kind.KEYWORD and (
                    follow.value in _MEMBERSHIP_KEYWORDS or follow.value == "exists"
                ):
                    return _CMP
        return 0

    def expression(self, min_power: int) -> Node:
        left = self.prefix(min_power)
        chain: Node | None = None  # the n-ary node built by this loop, extended in place
        compared = False
        while True:
            power = self.infix_power()
            if power == 0 or power < min_power:
                break
            token = self.advance()
            if compared and power >= _CMP:
                # `a < b < c`, or `$x EXISTS + 1`: a comparison's result takes no more operators.
                self.fail(
                    token,
                    "AND, OR or parentheses",
                    f"comparisons cannot be chained ({describe(token.text)})",
                )
            if power == _CMP:
                left = self.comparison(left, token)
                compared = True
                continue
            if power in (_OR, _AND):
                right = self.expression(power + 1)
                kind = Or if power == _OR else And
                if chain is not None and isinstance(chain, kind):
                    chain = kind((*chain.operands, right), column=chain.column)
                else:
                    chain = kind((left, right), column=left.column)
                left = chain
                continue
            right = self.expression(power + 1)
            op = str(token.value)
            if isinstance(chain, Arithmetic) and (op in "+-") == (chain.ops[0] in "+-"):
                chain = Arithmetic((*chain.operands, right), (*chain.ops, op), column=chain.column)
            else:
                chain = Arithmetic((left, right), (op,), column=left.column)
            left = chain
        return left

    def comparison(self, left: Node, token: Token) -> Node:
        column = left.column
        if token.kind is Kind.OP:
            right = self.expression(_ADD)
            return Compare(str(token.value), left, right, column=column)
        word = token.value
        negated = False
        if word == "not":
            negated = True
            token = self.advance()
            word = token.value
        if word == "exists":
            return Exists(left, negated, column=column)
        if word == "is":
            follow = self.advance()
            if follow.kind is Kind.KEYWORD and follow.value == "not":
                negated = True
                follow = self.advance()
            if follow.kind is not Kind.KEYWORD or follow.value != "null":
                self.fail(follow, "NULL or NOT NULL after IS")
            return IsNull(left, negated, column=column)
        right = self.expression(_ADD)
        if word == "matches" and isinstance(right, Literal):
            self.check_pattern(right)
        return Compare(str(word), left, right, negated, column=column)

    def check_pattern(self, literal: Literal) -> None:
        if not isinstance(literal.value, str):
            return  # a non-string pattern is a type mismatch at evaluation time
        if len(literal.value) > MAX_REGEX_LENGTH:
            raise ConditionLimitError(
                f"regular expression at column {literal.column} is {len(literal.value)} "
                f"characters long (limit {MAX_REGEX_LENGTH})"
            )
        try:
            compile_pattern(literal.value)
        except PatternError as exc:
            raise ConditionSyntaxError(
                f"{exc} at column {literal.column}", literal.column, "a valid RE2 pattern"
            ) from None

    def prefix(self, min_power: int) -> Node:
        """An operand, or a prefix operator and its operand: one flat case per form.

        Literals are built here and each recursive descent starts here, rather than in
        helpers per form: a helper would add a stack frame per level of nesting (or to the
        innermost literal, the deepest call of a parse), so deep input would reach Python's
        recursion limit sooner.
        """
        token = self.advance()
        kind = token.kind
        value = token.value
        column = token.column
        if kind is Kind.NUMBER:
            assert isinstance(value, int | float)
            return Literal(value, token.text, column=column)
        if kind is Kind.STRING:
            return Literal(str(value), token.text, column=column)
        if kind is Kind.VARIABLE:
            assert isinstance(value, tuple)
            return Variable(value, column=column)
        if kind is Kind.WORD:
            follow = self.peek()
            if follow.kind is Kind.OP and follow.value == "(":
                return self.call(token)
            return Literal(str(value), token.text, bare=True, column=column)
        if kind is Kind.KEYWORD and value in _LITERAL_KEYWORDS:
            word = str(value)
            return Literal(_LITERAL_KEYWORDS[word], word, column=column)
        if kind is Kind.KEYWORD and value == "not" and min_power <= _NOT:
            self.enter(token)
            operand = self.expression(_NOT)  # a comparison, or another NOT
            self.leave()
            return Not(operand, column=column)
        if kind is Kind.OP and value in ("-", "+"):
            self.enter(token)
            operand = self.expression(_UNARY)
            self.leave()
            return _signed(token, operand)
        if kind is Kind.OP and value == "(":
            self.enter(token)
            inner = self.expression(0)
            self.expect_op(")", "')'")
            self.leave()
            return inner
        if kind is Kind.OP and value == "[":
            self.enter(token)
            items = self.items("]")
            self.leave()
            return ListExpr(items, column=column)
        self.fail(token, _OPERAND)
        raise AssertionError("unreachable")  # pragma: no cover

    def items(self, closer: str) -> tuple[Node, ...]:
        """Comma-separated expressions up to `closer` (a trailing comma is allowed)."""
        items: list[Node] = []
        while True:
            token = self.peek()
            if token.kind is Kind.OP and token.value == closer:
                self.advance()
                return tuple(items)
            items.append(self.expression(0))
            token = self.advance()
            if token.kind is Kind.OP and token.value == closer:
                return tuple(items)
            if token.kind is not Kind.OP or token.value != ",":
                self.fail(token, f"',' or '{closer}'")

    def call(self, name_token: Token) -> Node:
        name = str(name_token.value).lower()
        if name not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            self.fail(
                name_token,
                f"one of {known}",
                f"unknown function {describe(name_token.text)}",
            )
        open_token = self.advance()  # the '('
        self.enter(open_token)
        args = self.items(")")
        self.leave()
        low, high = FUNCTIONS[name]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = f"exactly {low}" if high == low else f"at least {low}"
            plural = "" if low == 1 else "s"
            self.fail(
                name_token,
                f"{wanted} argument{plural}",
                f"{name}() given {len(args)} argument{'' if len(args) == 1 else 's'}",
            )
        return Call(name, args, column=name_token.column)


def _signed(sign: Token, operand: Node) -> Node:
    """`+operand` is the operand; `-number` folds into a negative number literal."""
    if sign.value == "+":
        return operand
    if isinstance(operand, Literal) and type(operand.value) in (int, float):
        assert isinstance(operand.value, int | float)
        return Literal(-operand.value, "-" + operand.text, column=sign.column)
    return Negate(operand, column=sign.column)


def parse(text: str) -> Node:
    """Parse condition text into a syntax tree.

    Raises ConditionSyntaxError (with a 1-based column) or ConditionLimitError.
    """
    if not isinstance(text, str):
        raise ConditionSyntaxError(
            f"a condition must be text, not {type(text).__name__}", 1, "a string"
        )
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ConditionLimitError(
            f"condition is {len(text)} characters long (limit {MAX_EXPRESSION_LENGTH})"
        )
    if not text.strip():
        raise ConditionSyntaxError("empty condition at column 1, expected an operand", 1, _OPERAND)
    return _Parser(text).parse()
