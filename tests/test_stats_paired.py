"""Paired tests, corrections and rankings against independently computed reference values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from medinj_eval.stats import paired, ranking


def test_mcnemar_matches_a_hand_computed_exact_binomial():
    # 2x2 table: both right 20, system only 10, baseline only 2, both wrong 5.
    a = [1] * 20 + [1] * 10 + [0] * 2 + [0] * 5
    b = [1] * 20 + [0] * 10 + [1] * 2 + [0] * 5
    # Exact two-sided: 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * (1 + 12 + 66) / 4096.
    assert paired.mcnemar_exact(a, b) == pytest.approx(2 * 79 / 4096)


def test_mcnemar_without_discordant_pairs_and_on_non_binary_scores():
    assert paired.mcnemar_exact([1, 0, 1], [1, 0, 1]) == 1.0
    with pytest.raises(ValueError, match="binary"):
        paired.mcnemar_exact([0.5, 1], [1, 1])


def test_paired_t_and_wilcoxon_equal_scipy_on_the_same_arrays():
    rng = np.random.default_rng(3)
    a, b = rng.random(40), rng.random(40)
    t, p = paired.paired_t_test(a, b)
    ref = stats.ttest_rel(a, b)
    assert (t, p) == pytest.approx((ref.statistic, ref.pvalue))
    assert paired.wilcoxon_signed_rank(a, b) == pytest.approx(stats.wilcoxon(a - b).pvalue)


def test_paired_t_by_hand():
    d = np.array([1.0, 2.0, 0.0, 3.0])  # mean 1.5, sd 1.2910, t = 1.5 / (1.2910 / 2)
    t, p = paired.paired_t_test(d, np.zeros(4))
    assert t == pytest.approx(1.5 / (np.std(d, ddof=1) / 2))
    assert p == pytest.approx(2 * stats.t.sf(t, df=3))


def test_ties_and_all_equal_inputs_do_not_crash():
    same = [1.0, 0.0, 1.0, 1.0]
    assert paired.paired_t_test(same, same) == (0.0, 1.0)
    assert paired.wilcoxon_signed_rank(same, same) == 1.0
    assert paired.paired_bootstrap_ci(same, same) == (0.0, 0.0)
    assert paired.paired_t_test([1, 1, 1], [0, 0, 0]) == (math.inf, 0.0)
    # Ties among non-zero differences: scipy's normal approximation, as scipy computes it.
    a, b = [1, 1, 1, 0, 1, 1], [0, 0, 0, 0, 1, 0]
    assert paired.wilcoxon_signed_rank(a, b) == pytest.approx(
        stats.wilcoxon(np.subtract(a, b), zero_method="wilcox").pvalue
    )


def test_bootstrap_is_seeded_and_covers_the_mean_difference():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    first = paired.paired_bootstrap_ci(a, b, seed=7)
    assert first == paired.paired_bootstrap_ci(a, b, seed=7)
    assert first != paired.paired_bootstrap_ci(a, b, seed=8)
    assert first[0] < np.mean(a - b) < first[1]
    # Standard error check: the 95% width is close to 2 x 1.96 x sd(d) / sqrt(n).
    width = first[1] - first[0]
    assert width == pytest.approx(2 * 1.96 * np.std(a - b) / np.sqrt(200), rel=0.1)


def test_benjamini_hochberg_and_bonferroni_by_hand():
    p = [0.01, 0.04, 0.03, 0.5]
    # BH: sorted 0.01, 0.03, 0.04, 0.5 -> p * m / rank = 0.04, 0.06, 0.0533, 0.5, then the
    # running minimum from the top: 0.04, 0.0533, 0.0533, 0.5 (0.04 and 0.03 both 0.0533).
    rejected, adjusted = paired.benjamini_hochberg(p, 0.05)
    assert adjusted == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])
    assert rejected == [True, False, False, False]
    rejected, adjusted = paired.bonferroni(p, 0.05)
    assert adjusted == pytest.approx([0.04, 0.16, 0.12, 1.0])
    assert rejected == [True, False, False, False]
    assert stats.false_discovery_control(p) == pytest.approx(paired.benjamini_hochberg(p)[1])


def test_critical_difference_reproduces_published_values():
    # Demšar (2006), k = 4 classifiers over N = 14 data sets: CD = 1.25 at alpha 0.05.
    assert ranking.nemenyi_critical_difference(4, 14) == pytest.approx(1.25, abs=0.005)
    # EnMed: 8 systems over 3 tasks, reported CD 6.06.
    assert ranking.nemenyi_critical_difference(8, 3) == pytest.approx(6.06, abs=0.005)


def test_ranks_normalisation_and_friedman():
    scores = np.array([[0.9, 0.5, 0.7], [0.8, 0.5, 0.9], [0.1, 0.2, 0.3]])
    assert ranking.average_ranks(scores) == pytest.approx([(1 + 1.5 + 2) / 3, (2 + 1.5 + 1) / 3, 3])
    normalised = ranking.min_max_normalise(scores)
    assert normalised[:, 1] == pytest.approx([1.0, 1.0, 0.0])
    assert normalised[0, 0] == pytest.approx(1.0) and normalised[2, 0] == pytest.approx(0.0)
    assert ranking.min_max_normalise([[0.5], [0.5]]).ravel() == pytest.approx([0.5, 0.5])
    stat, p = ranking.friedman(scores)
    ref = stats.friedmanchisquare(*scores)
    assert (stat, p) == pytest.approx((ref.statistic, ref.pvalue))
    assert ranking.friedman(np.ones((3, 4))) == (0.0, 1.0)
