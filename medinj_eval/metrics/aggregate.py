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
