"""Which judge agrees best with the human labels, and is the difference real?

For judges A and B scored on the same labelled pairs, the difference in agreement is
``d = r(A, human) - r(B, human)`` for each correlation r (Pearson, Spearman, Kendall tau-b),
over the pairs both judges scored. Its 95% CI and two-sided p-value come from one paired
cluster bootstrap: each draw resamples questions (all pairs of a drawn question, as the
single-judge CIs do) and computes both correlations on the same draw, so the judges'
shared noise cancels. ``p = min(1, 2 * min(P*(d <= 0), P*(d >= 0)))`` over the draws
(the percentile-bootstrap test of Efron and Tibshirani, An Introduction to the Bootstrap,
ch. 16); the pairs' p-values are adjusted by Benjamini-Hochberg at q = 0.05 across all pairs
of judges, as the paired model comparisons are.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from medinj_eval.metaeval.human_agreement import CORRELATIONS
from medinj_eval.stats.paired import benjamini_hochberg

SELECTION_STAT = "pearson"  # the statistic judges are ranked by (MedInjection-FR's choice)


def _question_groups(clusters: Sequence[str]) -> list[np.ndarray]:
    labels = np.asarray(clusters)
    return [np.flatnonzero(labels == c) for c in dict.fromkeys(labels.tolist())]


def paired_difference(
    stat_name: str,
    a: np.ndarray,
    b: np.ndarray,
    human: np.ndarray,
    clusters: Sequence[str],
    resamples: int,
    seed: int,
) -> dict[str, float]:
    """``delta`` = stat(a, human) - stat(b, human), its percentile CI and bootstrap p-value."""
    stat = CORRELATIONS[stat_name]
    groups = _question_groups(clusters)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        idx = np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
        value = stat(a[idx], human[idx]) - stat(b[idx], human[idx])
        if not math.isnan(value):
            draws.append(value)
    delta = stat(a, human) - stat(b, human)
    if not draws or math.isnan(delta):
        return {"delta": math.nan, "ci95": (math.nan, math.nan), "p": math.nan}
    values = np.asarray(draws)
    low, high = np.percentile(values, [2.5, 97.5])
    p = min(1.0, 2 * min(float(np.mean(values <= 0)), float(np.mean(values >= 0))))
    return {"delta": float(delta), "ci95": (float(low), float(high)), "p": p}


def compare_judges(
    judges: dict[str, Sequence[float | None]],
    human: Sequence[float],
    clusters: Sequence[str],
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, object]:
    """Every pair of judges on every correlation, over the pairs both scored; the judges
    ranked by :data:`SELECTION_STAT` and each pair's BH-adjusted significance."""
    pairs = []
    for name_a, name_b in itertools.combinations(judges, 2):
        keep = [
            i
            for i, (x, y) in enumerate(zip(judges[name_a], judges[name_b]))
            if x is not None and y is not None
        ]
        a = np.asarray([judges[name_a][i] for i in keep], dtype=float)
        b = np.asarray([judges[name_b][i] for i in keep], dtype=float)
        h = np.asarray([human[i] for i in keep], dtype=float)
        groups = [clusters[i] for i in keep]
        row: dict[str, object] = {"a": name_a, "b": name_b, "n": len(keep)}
        for stat_name in CORRELATIONS:
            row[stat_name] = paired_difference(stat_name, a, b, h, groups, resamples, seed)
        pairs.append(row)
    pvalues = [_p_or_one(row[SELECTION_STAT]["p"]) for row in pairs]  # type: ignore[index]
    significant, adjusted = benjamini_hochberg(pvalues) if pairs else ([], [])
    for row, sig, p_adj in zip(pairs, significant, adjusted):
        row["p_bh"] = float(p_adj)
        row["significant"] = bool(sig)
    return {"statistic": SELECTION_STAT, "pairs": pairs}


def _p_or_one(p: float) -> float:
    return 1.0 if math.isnan(p) else p


def rank_judges(scorers: dict[str, dict[str, object]], judges: Sequence[str]) -> list[str]:
    """The judges, best agreement first (undefined agreement last)."""

    def key(name: str) -> float:
        value = scorers[name][SELECTION_STAT]
        return -math.inf if value is None or math.isnan(value) else value  # type: ignore[arg-type]

    return sorted(judges, key=key, reverse=True)
