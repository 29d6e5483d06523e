"""Rankings across evaluation cells: min-max normalisation, average ranks, Friedman and the
Nemenyi critical difference (Demšar 2006), as in EnMed's global ranking and CD diagram.

``scores`` is a systems x cells matrix (higher is better); NaN cells are not allowed here.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def min_max_normalise(scores) -> np.ndarray:
    """Per cell (column): (x - min) / (max - min); a column where all systems tie gets 0.5."""
    s = np.asarray(scores, dtype=float)
    low, high = s.min(axis=0), s.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return np.where(high > low, (s - low) / span, 0.5)


def average_ranks(scores) -> np.ndarray:
    """Mean rank of each system over the cells; rank 1 is the best, ties share the mean rank."""
    s = np.asarray(scores, dtype=float)
    ranks = np.column_stack([stats.rankdata(-s[:, j]) for j in range(s.shape[1])])
    return ranks.mean(axis=1)


def friedman(scores) -> tuple[float, float]:
    """Friedman chi-square and p-value over cells (blocks) for k >= 3 systems
    (``scipy.stats.friedmanchisquare``). (0.0, 1.0) when every system ties in every cell."""
    s = np.asarray(scores, dtype=float)
    if s.shape[0] < 3:
        raise ValueError("the Friedman test needs at least 3 systems")
    if np.all(s == s[0]):
        return 0.0, 1.0
    result = stats.friedmanchisquare(*s)
    return float(result.statistic), float(result.pvalue)


def nemenyi_critical_difference(k: int, n: int, alpha: float = 0.05) -> float:
    """CD = q_alpha * sqrt(k (k + 1) / (6 N)), q_alpha = studentized range quantile / sqrt(2)
    for k systems and infinite degrees of freedom, N blocks (Demšar 2006, eq. 6)."""
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6 * n)))
