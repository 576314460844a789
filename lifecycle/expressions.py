r"""Endpoint expressions: select storage endpoints by name and attributes (Rucio RSE expressions).

An expression combines terms with ``|`` (union), ``&`` (intersection) and ``\`` (difference). As in
Rucio, the three operators have *equal* precedence and apply strictly left to right: ``A|B&C`` is
``(A|B)&C``, not ``A|(B&C)``; parentheses say anything else. The terms are:

* ``*``: every endpoint;
* ``word``: endpoints whose attribute ``word`` is boolean true. Every endpoint carries its own name as
  such an attribute, so one rule makes ``CERN-PROD_DATATAPE`` select that endpoint and ``archival``
  select the archival ones;
* ``key=value``: the attribute's string form equals ``value`` (case-sensitive, except that ``true``
  and ``false`` compare case-insensitively);
* ``key<n`` and ``key>n``: strict comparison with the integer ``n``; endpoints whose attribute is not
  a number are skipped.

Words are letters and digits in groups joined by single ``_`` or ``-``; keys may also use ``.``;
values are letters, digits, ``_`` and ``-``. Whitespace is not allowed anywhere. Errors name the
1-based position of the offending character.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, cast

from lifecycle.errors import InvalidExpression

__all__ = [
    "Expression",
    "Everything",
    "Flag",
    "Equals",
    "Compare",
    "SetOperation",
    "parse",
    "select",
]

Attributes = Mapping[str, object]
Operator = Literal["|", "&", "\\"]
Comparator = Literal["<", ">"]

_OPERATORS = frozenset("|&\\")
_COMPARATORS = frozenset("=<>")
_PUNCTUATION = _OPERATORS | _COMPARATORS | frozenset("()*")
_WORD = re.compile(r"[A-Za-z0-9_.\-]+")
_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_EXPECTED_TERM = "expected an endpoint or attribute name, '*' or '('"
# Evaluation and printing recurse over the tree: a tree deeper than this (operators chained, or
# parentheses nested) is refused rather than left to hit Python's recursion limit. Real
# expressions are a few terms deep; select many endpoints with an attribute instead.
MAX_DEPTH = 200
_TOO_DEEP = (
    f"is nested too deeply (more than {MAX_DEPTH} operators or parentheses deep); "
    "select such endpoint sets with an attribute instead"
)


# ---------------------------------------------------------------------------------------- the AST
class Expression:
    """A parsed endpoint expression; ``str()`` gives its canonical form, which parses back to it.

    Nodes are evaluated one endpoint at a time: over a fixed endpoint list, union, intersection and
    difference are simply ``or``, ``and`` and ``and not``.
    """

    def matches(self, attributes: Attributes) -> bool:
        """Whether an endpoint with these attributes (its name included, as true) is selected."""
        raise NotImplementedError


@dataclass(frozen=True)
class Everything(Expression):
    """``*``."""

    def matches(self, attributes: Attributes) -> bool:
        return True

    def __str__(self) -> str:
        return "*"


@dataclass(frozen=True)
class Flag(Expression):
    """A bare word: the attribute ``name`` is boolean true."""

    name: str

    def matches(self, attributes: Attributes) -> bool:
        return _text(attributes.get(self.name)) == "true"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Equals(Expression):
    """``key=value``; ``value`` is stored with ``true``/``false`` lower-cased."""

    key: str
    value: str

    def matches(self, attributes: Attributes) -> bool:
        return _text(attributes.get(self.key)) == self.value

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


@dataclass(frozen=True)
class Compare(Expression):
    """``key<number`` or ``key>number``; attributes that are not numbers never match."""

    key: str
    operator: Comparator
    number: int

    def matches(self, attributes: Attributes) -> bool:
        value = _number(attributes.get(self.key))
        if value is None:
            return False
        return value < self.number if self.operator == "<" else value > self.number

    def __str__(self) -> str:
        return f"{self.key}{self.operator}{self.number}"


@dataclass(frozen=True)
class SetOperation(Expression):
    r"""``left | right``, ``left & right`` or ``left \ right``."""

    operator: Operator
    left: Expression
    right: Expression

    def matches(self, attributes: Attributes) -> bool:
        if self.operator == "|":
            return self.left.matches(attributes) or self.right.matches(attributes)
        if self.operator == "&":
            return self.left.matches(attributes) and self.right.matches(attributes)
        return self.left.matches(attributes) and not self.right.matches(attributes)

    def __str__(self) -> str:
        # Evaluation runs left to right, so only a compound right operand needs parentheses.
        right = f"({self.right})" if isinstance(self.right, SetOperation) else str(self.right)
        return f"{self.left}{self.operator}{right}"


# ------------------------------------------------------------------------------------- the parser
class _Token(NamedTuple):
    kind: str  # "word", "end", or the punctuation character itself
    text: str
    position: int  # 1-based; the end token sits one past the last character


def _tokenize(expression: str) -> list[_Token]:
    """Split into tokens, rejecting stray characters and unbalanced parentheses first."""
    tokens: list[_Token] = []
    open_parens: list[int] = []
    index = 0
    while index < len(expression):
        char, position = expression[index], index + 1
        if word := _WORD.match(expression, index):
            tokens.append(_Token("word", word.group(), position))
            index = word.end()
            continue
        if char.isspace():
            raise InvalidExpression(expression, "whitespace is not allowed", position)
        if char not in _PUNCTUATION:
            reason = f"unexpected character {char!r}"
            if expression.startswith("!=", index):
                reason += " (there is no '!=' comparison)"
            raise InvalidExpression(expression, reason, position)
        if char == "(":
            open_parens.append(position)
            if len(open_parens) > MAX_DEPTH:
                raise InvalidExpression(expression, _TOO_DEEP)
        elif char == ")":
            if not open_parens:
                reason = "unexpected ')' without a matching '('"
                raise InvalidExpression(expression, reason, position)
            open_parens.pop()
        tokens.append(_Token(char, char, position))
        index += 1
    if open_parens:
        raise InvalidExpression(expression, "unclosed '('", open_parens[-1])
    tokens.append(_Token("end", "", len(expression) + 1))
    return tokens


class _Parser:
    """Recursive descent over ``expression := term (operator term)*``, folded to the left."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokenize(expression)
        self.index = 0

    def error(self, reason: str, position: int) -> InvalidExpression:
        return InvalidExpression(self.expression, reason, position)

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Expression:
        tree = self.sequence()
        token = self.peek()
        if token.kind != "end":
            raise self.error(r"expected an operator '|', '&' or '\'", token.position)
        return tree

    def sequence(self) -> Expression:
        tree = self.term()
        while self.peek().kind in _OPERATORS:
            operator = cast(Operator, self.advance().kind)
            tree = SetOperation(operator, tree, self.term())
        return tree

    def term(self) -> Expression:
        token = self.advance()
        if token.kind == "(":
            tree = self.sequence()
            closing = self.advance()
            if closing.kind != ")":
                raise self.error(r"expected an operator '|', '&' or '\', or ')'", closing.position)
            return tree
        if token.kind == "*":
            return Everything()
        if token.kind != "word":
            ending = "unexpected end of expression; " if token.kind == "end" else ""
            raise self.error(ending + _EXPECTED_TERM, token.position)
        if self.peek().kind not in _COMPARATORS:
            self.check_name(token, is_key=False)
            return Flag(token.text)
        self.check_name(token, is_key=True)
        comparator = self.advance().kind
        value = self.advance()
        if value.kind != "word":
            hint = f" (there is no '{comparator}=' comparison)" if value.kind == "=" else ""
            raise self.error("expected a value" + hint, value.position)
        if (dot := value.text.find(".")) >= 0:
            reason = "a value may hold only letters, digits, '_' and '-'"
            raise self.error(reason, value.position + dot)
        if comparator == "=":
            lowered = value.text.lower()
            return Equals(token.text, lowered if lowered in ("true", "false") else value.text)
        if not _INTEGER.fullmatch(value.text):
            raise self.error(f"expected an integer after {comparator!r}", value.position)
        return Compare(token.text, cast(Comparator, comparator), int(value.text))

    def check_name(self, token: _Token, *, is_key: bool) -> None:
        """Names are letters and digits in groups joined by single '_', '-' (or '.' in keys)."""
        text = token.text
        for offset, char in enumerate(text):
            if char.isalnum():
                continue
            position = token.position + offset
            if char == "." and not is_key:
                raise self.error("'.' is only allowed in a key before '=', '<' or '>'", position)
            if offset in (0, len(text) - 1) or not text[offset - 1].isalnum():
                raise self.error(f"{char!r} must stand between letters or digits", position)


def parse(expression: str) -> Expression:
    """Parse an endpoint expression; raise :class:`InvalidExpression` saying where it is wrong."""
    if expression == "":
        raise InvalidExpression(expression, "is empty")
    tree = _Parser(expression).parse()
    if _depth(tree) > MAX_DEPTH:
        raise InvalidExpression(expression, _TOO_DEEP)
    return tree


def _depth(tree: Expression) -> int:
    """How many nodes deep the tree is, counted without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, SetOperation):
            stack += [(node.left, depth + 1), (node.right, depth + 1)]
    return deepest


# ----------------------------------------------------------------------------------- evaluation
def _text(value: object) -> str | None:
    """The string form ``=`` compares: booleans as ``true``/``false``, integral numbers as ints."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value)
    return text.lower() if text.lower() in ("true", "false") else text


def _number(value: object) -> int | float | None:
    """The value ``<`` and ``>`` compare: a number, or a string holding a decimal number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str):
        value = float(value) if _DECIMAL.fullmatch(value) else None
    if not isinstance(value, numbers.Real) or math.isnan(value):
        return None
    return float(value)


def select(
    expression: str | Expression,
    endpoints: Sequence[Attributes],
    *,
    allow_empty: bool = False,
) -> list[str]:
    """Names of the endpoints an expression selects, in input order.

    Each endpoint is a flat mapping of its attributes: ``name``, ``site``, ``media`` and optionally
    ``tier``, ``country``, ``cloud`` and any catalog attributes; None and NaN count as missing. The
    endpoint's own name is added as a true attribute. Selecting nothing raises
    :class:`InvalidExpression` unless ``allow_empty``: a mistyped name must not pass silently.
    """
    tree = parse(expression) if isinstance(expression, str) else expression
    selected = []
    for endpoint in endpoints:
        name = str(endpoint["name"])
        if tree.matches({**endpoint, name: True}):
            selected.append(name)
    if not selected and not allow_empty:
        reason = "matches no endpoint; check the spelling (names and values are case-sensitive)"
        raise InvalidExpression(str(expression), reason)
    return selected
