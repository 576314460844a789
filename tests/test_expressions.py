r"""Endpoint expressions: every term kind, left-to-right evaluation, errors with their positions.

The grid mixes the value types a catalog hands over (str, int, float, bool, None, NaN) so that the
normalisation rules are exercised: ``tier`` is 1, '1' and 1.0 on different endpoints, ``archival`` is
'true', True, 'TRUE' and 'True'.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.errors import InvalidExpression, LifecycleError
from lifecycle.expressions import (
    Compare,
    Equals,
    Everything,
    Flag,
    SetOperation,
    parse,
    select,
)

CT, CD = "CERN-PROD_DATATAPE", "CERN-PROD_DATADISK"
BT, BM = "BNL-OSG2_DATATAPE", "BNL-OSG2_MCTAPE"
FT, FD = "FZK-LCG2_DATATAPE", "FZK-LCG2_DATADISK"
DD, MD = "DESY-HH_DATADISK", "MWT2_DATADISK"
NAMES = [CT, CD, BT, BM, FT, FD, DD, MD]

ABSENT = object()  # the endpoint has no such attribute at all (None and NaN are present but empty)
COLUMNS = (
    *("name", "site", "tier", "country", "cloud", "media"),  # built in
    *("archival", "type", "freespace_tb", "weight", "site.region"),  # from the catalog
)
ROWS = [
    (CT, "CERN-PROD", 0, "ch", "CERN", "tape", "true", "DATATAPE", "120", ABSENT, "eu"),
    (CD, "CERN-PROD", 0, "ch", "CERN", "disk", "false", "DATADISK", "5.5", ABSENT, "eu"),
    (BT, "BNL-OSG2", 1, "us", "US", "tape", True, "DATATAPE", 300, ABSENT, ABSENT),
    (BM, "BNL-OSG2", "1", "us", "US", "tape", "TRUE", "MCTAPE", None, ABSENT, ABSENT),
    (FT, "FZK-LCG2", 1, "de", "DE", "tape", "True", "DATATAPE", 12.5, ABSENT, "eu"),
    (FD, "FZK-LCG2", 1.0, "de", "DE", "disk", False, "DATADISK", float("nan"), ABSENT, "eu"),
    (DD, "DESY-HH", 2, "de", "DE", "disk", ABSENT, "DATADISK", "unknown", 7, "eu"),
    (MD, "MWT2", 2, "us", "US", "disk", ABSENT, "DATADISK", ABSENT, "-3", ABSENT),
]
GRID = [
    {column: value for column, value in zip(COLUMNS, row, strict=True) if value is not ABSENT}
    for row in ROWS
]


SELECTIONS = [
    # *, bare endpoint names and the name attribute
    ("*", NAMES),
    (CT, [CT]),
    (MD, [MD]),
    (f"name={BM}", [BM]),
    # built-in attributes
    ("site=CERN-PROD", [CT, CD]),
    ("tier=0", [CT, CD]),
    ("tier=1", [BT, BM, FT, FD]),  # int 1, string '1' and float 1.0 alike
    ("country=de", [FT, FD, DD]),
    ("cloud=DE", [FT, FD, DD]),
    ("media=tape", [CT, BT, BM, FT]),
    # catalog attributes, including a dotted key
    ("type=MCTAPE", [BM]),
    ("site.region=eu", [CT, CD, FT, FD, DD]),
    # booleans: bare words and true/false in any case on either side
    ("archival", [CT, BT, BM, FT]),
    ("archival=true", [CT, BT, BM, FT]),
    ("archival=TRUE", [CT, BT, BM, FT]),
    ("archival=False", [CD, FD]),
    # numeric comparisons: strict, negatives, non-numbers ('unknown', None, NaN) skipped
    ("tier<1", [CT, CD]),
    ("tier>1", [DD, MD]),
    ("freespace_tb>100", [CT, BT]),
    ("freespace_tb>12", [CT, BT, FT]),
    ("freespace_tb<10", [CD]),
    ("weight<0", [MD]),
    ("weight>-5", [DD, MD]),
    ("weight>-3", [DD]),
    ("tier>0&tier<2", [BT, BM, FT, FD]),
    # set operations
    ("country=us|cloud=CERN", [CT, CD, BT, BM, MD]),
    ("media=tape&country=us", [BT, BM]),
    ("*\\media=tape", [CD, FD, DD, MD]),
    (f"site=CERN-PROD\\{CD}", [CT]),
    # equal precedence, left to right, and parentheses overriding it
    (f"{CT}|{BT}&country=us", [BT]),
    (f"{CT}|({BT}&country=us)", [CT, BT]),
    (f"country=us\\{MD}|cloud=CERN", [CT, CD, BT, BM]),
    (f"country=us\\({MD}|cloud=CERN)", [BT, BM]),
    ("media=disk&country=de|cloud=CERN", [CT, CD, FD, DD]),
    ("media=disk&(country=de|cloud=CERN)", [CD, FD, DD]),
    ("((country=de|country=ch)&(media=disk\\(tier=2)))", [CD, FD]),
    ("(((*)))", NAMES),
]


@pytest.mark.parametrize(("expression", "expected"), SELECTIONS)
def test_select(expression, expected):
    assert select(expression, GRID) == expected


def test_left_to_right_differs_from_conventional_precedence():
    assert select(f"{CT}|{BT}&country=us", GRID) != select(f"{CT}|({BT}&country=us)", GRID)


def test_parse_folds_to_the_left():
    assert parse("a|b&c\\d") == SetOperation(
        "\\", SetOperation("&", SetOperation("|", Flag("a"), Flag("b")), Flag("c")), Flag("d")
    )
    assert parse("a|(b&c)") == SetOperation("|", Flag("a"), SetOperation("&", Flag("b"), Flag("c")))


def test_parse_builds_terms():
    assert parse("*") == Everything()
    assert parse("site.region=eu") == Equals("site.region", "eu")
    assert parse("archival=TRUE") == Equals("archival", "true")
    assert parse("weight>-5") == Compare("weight", ">", -5)


@pytest.mark.parametrize(
    ("expression", "position", "reason"),
    [
        # unbalanced parentheses, both ways
        ("(archival", 1, "unclosed '('"),
        ("archival|(tier=1&(media=disk)", 10, "unclosed '('"),
        ("archival)", 9, "unexpected ')' without a matching '('"),
        ("(a))", 4, "unexpected ')' without a matching '('"),
        # operators in the wrong place
        ("archival|", 10, "unexpected end of expression; expected an endpoint or attribute"),
        ("|archival", 1, "expected an endpoint or attribute name, '*' or '('"),
        ("archival||tier=1", 10, "expected an endpoint or attribute name"),
        ("archival&\\tier=1", 10, "expected an endpoint or attribute name"),
        ("()", 2, "expected an endpoint or attribute name"),
        ("=value", 1, "expected an endpoint or attribute name"),
        ("archival(tier=1)", 9, "expected an operator '|', '&' or '\\'"),
        ("tier=1=2", 7, "expected an operator"),
        ("(archival*)", 10, "expected an operator '|', '&' or '\\', or ')'"),
        # whitespace and unknown characters
        ("archival | tape", 9, "whitespace is not allowed"),
        (" archival", 1, "whitespace is not allowed"),
        ("archival\t", 9, "whitespace is not allowed"),
        ("archival#", 9, "unexpected character '#'"),
        ("tier!=1", 5, "unexpected character '!' (there is no '!=' comparison)"),
        # malformed names, keys and values
        ("archival_", 9, "'_' must stand between letters or digits"),
        ("_archival", 1, "'_' must stand between letters or digits"),
        ("a--b", 3, "'-' must stand between letters or digits"),
        ("a_-b", 3, "'-' must stand between letters or digits"),
        ("site.region", 5, "'.' is only allowed in a key"),
        ("site..region=eu", 6, "'.' must stand between letters or digits"),
        (".x=1", 1, "'.' must stand between letters or digits"),
        ("x=a.b", 4, "a value may hold only letters, digits, '_' and '-'"),
        ("x>1.5", 4, "a value may hold only letters, digits, '_' and '-'"),
        # comparisons that do not exist, and missing or non-numeric values
        ("tier<=1", 6, "expected a value (there is no '<=' comparison)"),
        ("tier>=1", 6, "expected a value (there is no '>=' comparison)"),
        ("tier==1", 6, "expected a value (there is no '==' comparison)"),
        ("tier<<1", 6, "expected a value"),
        ("tier=", 6, "expected a value"),
        ("tier=|x", 6, "expected a value"),
        ("tier<abc", 6, "expected an integer after '<'"),
        ("tier>5-", 6, "expected an integer after '>'"),
        ("tier>--5", 6, "expected an integer after '>'"),
    ],
)
def test_syntax_errors(expression, position, reason):
    with pytest.raises(InvalidExpression) as caught:
        parse(expression)
    error = caught.value
    assert (error.expression, error.position) == (expression, position)
    assert error.reason.startswith(reason)
    assert (
        str(error)
        == f"invalid endpoint expression {expression!r} at position {position}: {error.reason}"
    )
    assert "\n" not in str(error)


def test_error_message_example():
    with pytest.raises(InvalidExpression) as caught:
        parse("tier<<1")
    assert (
        str(caught.value) == "invalid endpoint expression 'tier<<1' at position 6: expected a value"
    )


def test_empty_expression():
    with pytest.raises(InvalidExpression) as caught:
        select("", GRID)
    assert caught.value.position is None
    assert str(caught.value) == "endpoint expression '' is empty"


@pytest.mark.parametrize(
    "expression",
    [
        "CERN-PROD_DATATAP",  # a typo
        "cern-prod_datatape",  # names are case-sensitive
        "country=DE",  # values are case-sensitive
        "tape",  # a value, not a boolean attribute
        "weight<-3",
        "freespace_tb>1000",
        "media=tape\\archival",
    ],
)
def test_matching_nothing_is_an_error(expression):
    with pytest.raises(InvalidExpression) as caught:
        select(expression, GRID)
    assert caught.value.position is None
    assert str(caught.value).startswith(f"endpoint expression {expression!r} matches no endpoint")
    assert select(expression, GRID, allow_empty=True) == []


def test_matching_nothing_on_an_empty_grid():
    assert select("*", [], allow_empty=True) == []
    with pytest.raises(InvalidExpression, match="matches no endpoint"):
        select("*", [])


def test_invalid_expression_is_bad_input():
    assert issubclass(InvalidExpression, LifecycleError)
    assert InvalidExpression.exit_code == 2


def test_select_takes_a_parsed_expression():
    tree = parse("(country=de|country=ch)&media=disk")
    assert select(tree, GRID) == [CD, FD, DD]
    with pytest.raises(InvalidExpression, match=r"'country=DE&media=disk' matches no endpoint"):
        select(SetOperation("&", Equals("country", "DE"), Equals("media", "disk")), GRID)


def test_numpy_scalars_normalise_like_python_ones():
    """Callers may hand over rows from pandas, whose scalars are numpy types."""
    endpoints = [
        {"name": "A", "tier": np.int64(1), "archival": np.bool_(True), "free": np.float64(2.0)},
        {"name": "B", "tier": np.float64(1.0), "archival": np.bool_(False), "free": np.nan},
    ]
    assert select("tier=1", endpoints) == ["A", "B"]
    assert select("archival", endpoints) == ["A"]
    assert select("archival=false", endpoints) == ["B"]
    assert select("free>1", endpoints) == ["A"]
    assert select("free<3", endpoints) == ["A"]
    assert select("free=2", endpoints) == ["A"]


@pytest.mark.parametrize(
    ("expression", "canonical"),
    [
        ("(a|b)&c", "a|b&c"),
        ("a|(b&c)", "a|(b&c)"),
        ("((a))", "a"),
        ("a\\(b\\(c|d))", "a\\(b\\(c|d))"),
        ("((a|b)|c)&(d)", "a|b|c&d"),
        ("archival=TRUE", "archival=true"),
        ("x>-05", "x>-5"),
        ("site.region=eu", "site.region=eu"),
        ("*\\CERN-PROD_DATATAPE", "*\\CERN-PROD_DATATAPE"),
    ],
)
def test_canonical_form_round_trips(expression, canonical):
    tree = parse(expression)
    assert str(tree) == canonical
    assert parse(str(tree)) == tree


# -------------------------------------------------------------------- property: a naive oracle
TERMS = {
    "*": set(NAMES),
    CT: {CT},
    "archival": {CT, BT, BM, FT},
    "country=de": {FT, FD, DD},
    "cloud=US": {BT, BM, MD},
    "media=disk": {CD, FD, DD, MD},
    "tier<1": {CT, CD},
    "tier>1": {DD, MD},
    "weight>-5": {DD, MD},
    "freespace_tb>10": {CT, BT, FT},
    "country=DE": set(),
}
APPLY = {
    "|": set.union,
    "&": set.intersection,
    "\\": set.difference,
}


def naive(expression: str) -> set[str]:
    """Read the tokens once, left to right, applying each operator as soon as its right side is known."""
    stack: list[tuple[set[str] | None, str | None]] = [(None, None)]
    for token in re.findall(r"[()|&\\]|[^()|&\\]+", expression):
        if token == "(":
            stack.append((None, None))
            continue
        if token in APPLY:
            stack[-1] = (stack[-1][0], token)
            continue
        value = stack.pop()[0] if token == ")" else TERMS[token]
        left, operator = stack[-1]
        stack[-1] = (value if operator is None else APPLY[operator](left, value), None)
    assert len(stack) == 1
    return stack[0][0]


expressions = st.recursive(
    st.sampled_from(sorted(TERMS)),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(sorted(APPLY)), inner).map("".join),
        inner.map(lambda expression: f"({expression})"),
    ),
    max_leaves=12,
)


# conftest's autouse isolation fixture is function-scoped; examples here touch no shared state.
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expressions)
def test_select_agrees_with_a_naive_left_to_right_oracle(expression):
    expected = naive(expression)
    assert select(expression, GRID, allow_empty=True) == [n for n in NAMES if n in expected]
    tree = parse(expression)
    assert parse(str(tree)) == tree
    assert select(str(tree), GRID, allow_empty=True) == [n for n in NAMES if n in expected]
