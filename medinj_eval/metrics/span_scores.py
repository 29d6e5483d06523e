"""Per-item scores of an extracted passage against the gold passages (SQuAD style, French).

Source: the SQuAD v1.1 evaluation script's token F1 and exact match (Rajpurkar et al.,
2016), with EnMed's French normalisation of both strings before comparing them.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

FRENCH_ARTICLES = ("le", "la", "les", "l", "un", "une", "des", "du", "de", "d")
_ARTICLE = re.compile(r"\b(?:" + "|".join(FRENCH_ARTICLES) + r")\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)


def is_punctuation(char: str) -> bool:
    """SQuAD's ``string.punctuation`` (ASCII, symbols such as ``$+<=>^`|~`` included), and
    every character of a Unicode punctuation category (``P*``: « » … – • ¿ ...)."""
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def normalize_french(text: str) -> str:
    """Lower case, accents removed (NFKD, combining marks dropped), punctuation
    (:func:`is_punctuation`) replaced by spaces, the articles le, la, les, l', un, une, des,
    du, de, d' dropped, whitespace collapsed. Punctuation becomes a space so that
    ``l'artère`` -> ``l artere`` -> ``artere``.

    Source: EnMed's ExtQA normalisation (SQuAD's ``normalize_answer`` for French).
    """
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = "".join(" " if is_punctuation(c) else c for c in text)
    text = _ARTICLE.sub(" ", text)
    return " ".join(text.split())


def token_f1_one(prediction: str, gold: str) -> float:
    """Token F1 of one gold: with common = |tokens(P) ∩ tokens(G)| as multisets,
    precision = common / |P|, recall = common / |G|, F1 = 2PR / (P + R), and 0 when
    common = 0 (also when both normalise to nothing: v1.1 has no empty-answer rule).

    Source: SQuAD v1.1 evaluation script (``f1_score``), French normalisation (EnMed).
    """
    pred, ref = normalize_french(prediction).split(), normalize_french(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """``max_g token_f1_one(prediction, g)`` over the gold passages (SQuAD v1.1: the best
    match among the annotated answers)."""
    return max(token_f1_one(prediction, g) for g in golds)


def span_exact_match(prediction: str, golds: Sequence[str]) -> float:
    """``1.0`` if ``normalize_french(prediction)`` equals the normalised form of any gold,
    else ``0.0``.

    Source: SQuAD v1.1 evaluation script (``exact_match_score``), French normalisation (EnMed).
    """
    pred = normalize_french(prediction)
    return 1.0 if any(pred == normalize_french(g) for g in golds) else 0.0
