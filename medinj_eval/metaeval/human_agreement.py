"""Agreement of a scorer with human labels, with cluster-bootstrap confidence intervals.

* Pearson r, Spearman rho, Kendall tau-b (scipy.stats; tau-b corrects for ties, which
  binary labels are full of).
* Categorical scorers on the human labels' scale (a 0/1 judge against Oui/Non): Cohen's kappa
  (scikit-learn) and Krippendorff's alpha at the nominal level (``krippendorff``).
* 95% CIs: percentile bootstrap resampling questions, not pairs (the answers of several
  generators to one question are not independent), ``resamples`` draws from
  ``numpy.random.default_rng(seed)``. MedInjection-FR reports Pearson r with a physician.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np

Stat = Callable[[np.ndarray, np.ndarray], float]


def _quiet(fn: Stat, constant_ok: bool = False) -> Stat:
    """NaN where the statistic is undefined (fewer than 2 pairs; a constant input for a
    correlation), without the warnings scipy prints there."""

    def wrapped(x: np.ndarray, y: np.ndarray) -> float:
        if len(x) < 2 or (not constant_ok and (np.ptp(x) == 0 or np.ptp(y) == 0)):
            return math.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(fn(x, y))

    return wrapped


def _pearson(x, y):
    from scipy.stats import pearsonr

    return pearsonr(x, y).statistic


def _spearman(x, y):
    from scipy.stats import spearmanr

    return spearmanr(x, y).statistic


def _kendall(x, y):
    from scipy.stats import kendalltau

    return kendalltau(x, y, variant="b").statistic


def _kappa(x, y):
    from sklearn.metrics import cohen_kappa_score

    return cohen_kappa_score(x.astype(int).astype(str), y.astype(int).astype(str))


def _alpha(x, y):
    import krippendorff

    if len(np.unique(np.concatenate([x, y]))) < 2:
        return math.nan  # one category in all: no disagreement to measure
    return krippendorff.alpha(reliability_data=np.vstack([x, y]), level_of_measurement="nominal")


CORRELATIONS: dict[str, Stat] = {
    "pearson": _quiet(_pearson),
    "spearman": _quiet(_spearman),
    "kendall_tau_b": _quiet(_kendall),
}
CATEGORICAL: dict[str, Stat] = {
    "cohen_kappa": _quiet(_kappa, constant_ok=True),
    "krippendorff_alpha": _quiet(_alpha, constant_ok=True),
}


def is_categorical(values: Sequence[float]) -> bool:
    """Integer-valued with few levels."""
    arr = np.asarray(values, dtype=float)
    return bool(len(arr)) and bool(np.all(arr == np.round(arr))) and len(set(arr)) <= 10


def same_categorical_scale(scores: np.ndarray, human: np.ndarray) -> bool:
    """Kappa and alpha compare labels: both must be categorical, the scorer's labels within
    the range of the human ones (a 0/1 judge against Oui/Non, not a 1-10 rating)."""
    return (
        is_categorical(scores)
        and is_categorical(human)
        and human.min() <= scores.min()
        and scores.max() <= human.max()
    )


def cluster_bootstrap_ci(
    stat: Stat,
    x: np.ndarray,
    y: np.ndarray,
    clusters: Sequence[str],
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """95% percentile interval of ``stat`` over resampled clusters (NaN draws dropped)."""
    labels = np.asarray(clusters)
    groups = [np.flatnonzero(labels == c) for c in dict.fromkeys(labels.tolist())]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        picked = rng.integers(0, len(groups), len(groups))
        idx = np.concatenate([groups[i] for i in picked])
        value = stat(x[idx], y[idx])
        if not math.isnan(value):
            draws.append(value)
    if not draws:
        return (math.nan, math.nan)
    low, high = np.percentile(draws, [2.5, 97.5])
    return (float(low), float(high))


def agreement(
    scores: Sequence[float | None],
    human: Sequence[float],
    clusters: Sequence[str],
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, object]:
    """Every statistic with its CI, over the pairs the scorer scored (``n``, ``n_missing``)."""
    keep = [i for i, s in enumerate(scores) if s is not None]
    x = np.asarray([scores[i] for i in keep], dtype=float)
    y = np.asarray([human[i] for i in keep], dtype=float)
    groups = [clusters[i] for i in keep]
    stats = dict(CORRELATIONS)
    if len(x) and same_categorical_scale(x, y):
        stats.update(CATEGORICAL)
    out: dict[str, object] = {"n": len(keep), "n_missing": len(scores) - len(keep)}
    for name, fn in stats.items():
        out[name] = fn(x, y)
        out[f"{name}_ci95"] = cluster_bootstrap_ci(fn, x, y, groups, resamples, seed)
    return out
