"""Per-item scores of a predicted letter set against the gold letter set."""

from __future__ import annotations

from collections.abc import Collection


def exact_match(pred: Collection[str], gold: Collection[str]) -> float:
    """Exact match (EMR item score): ``1.0 if set(P) == set(G) else 0.0``.

    Source: MedInjection-FR evaluation code, FrenchMedMCQA/DEFT 2023 "EMR",
    MediQAl. An unparsable answer (empty P) scores 0 whenever G is non-empty.
    """
    return 1.0 if set(pred) == set(gold) else 0.0


def hamming_score(pred: Collection[str], gold: Collection[str]) -> float:
    """Hamming score: ``|P ∩ G| / |P ∪ G|``, and 1.0 when both sets are empty.

    Source: MedInjection-FR evaluation code; FrenchMedMCQA (DEFT 2023) and DrBenchmark
    use the same per-item formula, averaged over all items (unparsable answers score 0).
    """
    p, g = set(pred), set(gold)
    union = p | g
    if not union:
        return 1.0
    return len(p & g) / len(union)


def is_valid(pred: Collection[str]) -> float:
    """Valid-answer indicator: 1.0 when the parser extracted at least one letter."""
    return 1.0 if len(pred) > 0 else 0.0
