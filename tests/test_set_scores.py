"""EM, Hamming and validity: hand-computed cases and algebraic properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medinj_eval.metrics import exact_match, hamming_score, is_valid, mean_ignoring_none


@pytest.mark.parametrize(
    ("pred", "gold", "em", "hamming"),
    [
        ({"A"}, {"A"}, 1.0, 1.0),
        ({"A", "C"}, {"A", "C"}, 1.0, 1.0),
        ({"A"}, {"A", "C"}, 0.0, 0.5),
        ({"A", "B"}, {"A", "C"}, 0.0, 1 / 3),
        ({"B", "D"}, {"A", "C"}, 0.0, 0.0),
        (set(), {"A"}, 0.0, 0.0),  # unparsable answer scores 0
        (set(), set(), 1.0, 1.0),  # both empty: 1.0 by definition
        ({"A", "B", "C", "D"}, {"A", "B", "C", "D", "E"}, 0.0, 0.8),
    ],
)
def test_scores_by_hand(pred, gold, em, hamming):
    assert exact_match(pred, gold) == em
    assert hamming_score(pred, gold) == pytest.approx(hamming)


letters = st.sets(st.sampled_from("ABCDEFGHIJ"))


@given(letters, letters)
def test_hamming_properties(p, g):
    h = hamming_score(p, g)
    assert 0.0 <= h <= 1.0
    assert h == hamming_score(g, p)
    assert (h == 1.0) == (p == g)
    assert exact_match(p, g) <= h


@given(letters)
def test_validity(p):
    assert is_valid(p) == (1.0 if p else 0.0)


def test_mean_ignoring_none():
    assert mean_ignoring_none([1.0, None, 0.0, None, 0.5]) == pytest.approx(0.5)
    assert math.isnan(mean_ignoring_none([None, None]))
