"""Paired tests of one system against a baseline on the same items.

Every function takes two equal-length arrays of item scores, ``a`` (system) and ``b``
(baseline), aligned item by item, and returns a plain float or tuple. Degenerate inputs
(every difference zero) give p = 1.0 rather than NaN: no evidence of a difference.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests


def _diff(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores differ in length: {a.shape} vs {b.shape}")
    return a - b


def paired_t_test(a, b) -> tuple[float, float]:
    """Student's paired t-test (EnMed's per-cell test): t = mean(d) / (sd(d) / sqrt(n)).

    ``scipy.stats.ttest_rel``; (0.0, 1.0) when every difference is zero, (±inf, 0.0) when
    the differences are a non-zero constant.
    """
    d = _diff(a, b)
    if len(d) < 2 or np.all(d == d[0]):
        if len(d) and d[0] != 0:
            return (float(np.sign(d[0]) * np.inf), 0.0)
        return (0.0, 1.0)
    result = stats.ttest_rel(a, b)
    return float(result.statistic), float(result.pvalue)


def mcnemar_exact(a, b) -> float:
    """Exact McNemar test for binary scores: two-sided binomial test on the discordant pairs.

    With n01 = items right only for the baseline and n10 = right only for the system,
    p = P(X <= min(n01, n10)) x 2 under X ~ Bin(n01 + n10, 1/2), capped at 1
    (``statsmodels.stats.contingency_tables.mcnemar(exact=True)``; McNemar 1947).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not np.isin(a, (0.0, 1.0)).all() or not np.isin(b, (0.0, 1.0)).all():
        raise ValueError("McNemar needs binary (0/1) scores")
    table = [
        [int(((a == 1) & (b == 1)).sum()), int(((a == 1) & (b == 0)).sum())],
        [int(((a == 0) & (b == 1)).sum()), int(((a == 0) & (b == 0)).sum())],
    ]
    if table[0][1] + table[1][0] == 0:
        return 1.0
    return float(mcnemar(table, exact=True).pvalue)


def wilcoxon_signed_rank(a, b) -> float:
    """Two-sided Wilcoxon signed-rank p-value on the differences (zero differences dropped,
    ``zero_method="wilcox"``; ``scipy.stats.wilcoxon``). 1.0 when every difference is zero."""
    d = _diff(a, b)
    if not np.any(d != 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="wilcox").pvalue)


def paired_bootstrap_ci(
    a, b, *, n_resamples: int = 10_000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile CI of mean(a - b), resampling items with replacement (paired bootstrap,
    as in the MedInjection-FR model comparisons: 10,000 draws). Seeded: same inputs, same CI."""
    d = _diff(a, b)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(n_resamples, len(d)))
    means = d[idx].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def benjamini_hochberg(pvalues, q: float = 0.05) -> tuple[list[bool], list[float]]:
    """Benjamini-Hochberg step-up at FDR q: (rejected, adjusted p) per test
    (``statsmodels.stats.multitest.multipletests(method="fdr_bh")``)."""
    return _multitest(pvalues, q, "fdr_bh")


def bonferroni(pvalues, alpha: float = 0.05) -> tuple[list[bool], list[float]]:
    """Bonferroni: reject where p x m <= alpha; adjusted p = min(1, p x m)."""
    return _multitest(pvalues, alpha, "bonferroni")


def _multitest(pvalues, alpha: float, method: str) -> tuple[list[bool], list[float]]:
    p = np.asarray(list(pvalues), dtype=float)
    if p.size == 0:
        return [], []
    rejected, adjusted, _, _ = multipletests(p, alpha=alpha, method=method)
    return [bool(r) for r in rejected], [float(x) for x in adjusted]
