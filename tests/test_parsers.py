"""Answer parsers: raw model output -> letter set, hand-checked cases and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medinj_eval.metrics import parse_lenient, parse_strict

ABCDE = list("ABCDE")


@pytest.mark.parametrize(
    ("text", "single", "expected"),
    [
        ("A", True, {"A"}),
        (" b\n", True, {"B"}),
        ("A, C", False, {"A", "C"}),
        ("a;c/ e", False, {"A", "C", "E"}),
        ("(B).", True, {"B"}),
        ("A+B|C", False, {"A", "B", "C"}),
        ("A, A", True, {"A"}),
        ("A, C", True, set()),  # single answer needs exactly one letter
        ("F", True, set()),  # letter outside the options
        ("A, F", False, set()),
        ("Réponse : A", True, set()),  # strict: other letters invalidate
        ("A!", True, set()),  # symbol outside the allowed set
        ("", False, set()),
        ("  ", True, set()),
    ],
)
def test_strict_parser_cases(text, single, expected):
    assert parse_strict(text, ABCDE, single) == frozenset(expected)


@pytest.mark.parametrize(
    ("text", "single", "expected"),
    [
        ("Le patient présente... Réponse : B", True, {"B"}),
        ("réponses : A, C et E", False, {"A", "C", "E"}),
        ("Réponse : A\nRéponse : D", True, {"D"}),  # the last marker wins
        ("Réponse : F", True, set()),
        ("Réponse : A, B", True, set()),
        ("C", True, {"C"}),  # no marker: strict fall-back
        ("Je ne sais pas", True, set()),
    ],
)
def test_lenient_parser_cases(text, single, expected):
    assert parse_lenient(text, ABCDE, single) == frozenset(expected)


letter_sets = st.sets(st.sampled_from(ABCDE), min_size=1)
separators = st.sampled_from([",", ", ", " ", ";", "/", "\n", " | "])


@given(letter_sets, separators)
def test_strict_parser_reads_back_any_joined_answer(letters, sep):
    text = sep.join(sorted(letters)).lower()
    assert parse_strict(text, ABCDE, single=False) == frozenset(letters)


@given(st.text())
def test_strict_parser_returns_only_valid_options(text):
    result = parse_strict(text, ABCDE, single=False)
    assert result <= set(ABCDE)
    assert len(parse_strict(text, ABCDE, single=True)) in (0, 1)


@given(st.text())
def test_lenient_parser_returns_only_valid_options(text):
    assert parse_lenient(text, ABCDE, single=False) <= set(ABCDE)
