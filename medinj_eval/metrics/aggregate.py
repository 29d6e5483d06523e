"""Aggregations used by the task YAMLs (lm-eval calls them on the list of item scores)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def mean_ignoring_none(values: Iterable[float | None]) -> float:
    """Mean of the item scores that apply, ``sum(v) / n`` over the non-``None`` values.

    Items return ``None`` for a metric that does not concern them (an Understanding item
    for ``em_reasoning``, a single-answer item for ``hamming``); MediQAl reports every
    metric split by question type this way. Returns NaN when no item applies.
    """
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else math.nan


QUESTION_TYPES = ("understanding", "reasoning")


def split_by_question_type(
    scores: dict[str, float | None], question_type: str | None
) -> dict[str, float | None]:
    """``scores`` plus ``<metric>_understanding`` / ``<metric>_reasoning`` copies.

    MediQAl's evaluation protocol reports every metric split by question type: the copy of
    the item's own type holds its score, the other one ``None`` (left out by
    ``mean_ignoring_none``).
    """
    qtype = (question_type or "").strip().lower()
    out = dict(scores)
    for split in QUESTION_TYPES:
        for name, value in scores.items():
            out[f"{name}_{split}"] = value if qtype == split else None
    return out
