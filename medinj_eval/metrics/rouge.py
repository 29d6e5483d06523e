"""ROUGE-1/2/L F-measure with a tokenizer that keeps French words whole.

rouge_score's default tokenizer lower-cases and replaces every character outside
``[a-z0-9]`` by a space, so "fièvre" becomes "fi vre" and accented words never match
whole. :class:`FrenchTokenizer` keeps Unicode letters and digits (NFC-normalised,
lower-cased), no stemming. F = (1 + b^2) P R / (R + b^2 P) with b = 1, P and R over
n-gram (ROUGE-N) or longest-common-subsequence (ROUGE-L) matches (Lin 2004; MediQAl
reports ROUGE-1 F).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_WORD = re.compile(r"[^\W_]+")


class FrenchTokenizer:
    """The ``tokenize(text) -> list[str]`` object rouge_score accepts."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(unicodedata.normalize("NFC", text).lower())


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(list(ROUGE_TYPES), tokenizer=FrenchTokenizer())


def rouge_f(candidate: str, reference: str) -> dict[str, float]:
    """``{"rouge1": F, "rouge2": F, "rougeL": F}`` of ``candidate`` against ``reference``."""
    scores = _scorer().score(reference, candidate)
    return {name: scores[name].fmeasure for name in ROUGE_TYPES}
