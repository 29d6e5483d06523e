"""Pure scoring functions: answer parsers, set scores and their aggregations."""

from medinj_eval.metrics.aggregate import mean_ignoring_none
from medinj_eval.metrics.parsers import parse_lenient, parse_strict
from medinj_eval.metrics.set_scores import exact_match, hamming_score, is_valid

__all__ = [
    "exact_match",
    "hamming_score",
    "is_valid",
    "mean_ignoring_none",
    "parse_lenient",
    "parse_strict",
]
