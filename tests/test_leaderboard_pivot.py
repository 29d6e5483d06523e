"""The leaderboard's pivot: headline cells from reported rows and from a run's tasks, pooled
and averaged as the papers do, counts never scored, variants grouped."""

from __future__ import annotations

import math

import pytest

from medinj_eval.benchmarks import headlines
from medinj_eval.leaderboard.pivot import (
    MEAN_KEY,
    columns,
    headline_cell,
    is_count,
    pivot,
    scale_of,
    task_parts,
)


def row(task, metric, value, n=None, stderr=None, model="m", kind="run", **extra):
    return {"model": model, "kind": kind, "source": "", "task": task, "metric": metric,
            "value": value, "n": n, "stderr": stderr, **extra}  # fmt: skip


HEADLINE = {h.key: h for h in headlines()}


def test_medinjection_em_from_leaf_tasks_is_the_mean_of_pooled_mcq_and_mcqu():
    """MedInjection-FR's aggregated EM: MCQU and MCQ each pooled over Native and Translated
    (item-weighted), then their unweighted mean: the lm-eval group's own formula."""
    rows = [
        row("medinjfr_native_mcqu_constrained", "em", 0.5, n=10, stderr=0.1),
        row("medinjfr_translated_mcqu_constrained", "em", 0.2, n=30, stderr=0.05),
        row("medinjfr_native_mcq_constrained", "em", 0.1, n=20, stderr=0.02),
        row("medinjfr_translated_mcq_constrained", "em", 0.4, n=20, stderr=0.04),
    ]
    cell = headline_cell(HEADLINE["medinjfr_em"], rows)
    mcqu, mcq = (0.5 * 10 + 0.2 * 30) / 40, (0.1 * 20 + 0.4 * 20) / 40
    assert cell["value"] == pytest.approx((mcqu + mcq) / 2)
    se_mcqu = math.sqrt((10 * 0.1) ** 2 + (30 * 0.05) ** 2) / 40
    se_mcq = math.sqrt((20 * 0.02) ** 2 + (20 * 0.04) ** 2) / 40
    assert cell["stderr"] == pytest.approx(math.sqrt(se_mcqu**2 + se_mcq**2) / 2)
    assert cell["n"] == 80 and len(cell["tasks"]) == 4


def test_the_group_row_wins_over_its_leaves_and_a_missing_leaf_gives_no_cell():
    group = row("medinj_fr_sample_medinjfr_constrained_em", "em", 0.3, n=40, stderr=0.05)
    leaves = [row("medinjfr_native_mcqu_constrained", "em", 0.9, n=10)]
    cell = headline_cell(HEADLINE["medinjfr_em"], [group, *leaves])
    assert (cell["value"], cell["stderr"], cell["n"]) == (0.3, 0.05, 40)
    assert headline_cell(HEADLINE["medinjfr_em"], leaves) is None  # three of four: no figure


def test_the_judge_headline_reads_reported_rows_and_pools_a_runs_two_oeq_tasks():
    reported = [row("medinjfr_oeq_judge", "judge_binary", 0.36, kind="reported")]
    assert headline_cell(HEADLINE["medinjfr_judge"], reported)["value"] == 0.36
    run = [
        row("medinjfr_native_oeq", "judge_medinjection-binary", 1.0, n=3),
        row("medinjfr_translated_oeq", "judge_medinjection-binary", 0.0, n=1),
    ]
    assert headline_cell(HEADLINE["medinjfr_judge"], run)["value"] == 0.75


def test_scores_of_two_judges_get_a_column_each_and_a_self_judged_cell_is_flagged():
    medgemma = "MedGemma-27B, binary equivalence (as published)"
    reported = [row("medinjfr_oeq_judge", "judge_binary", 0.36, model="base", kind="reported",
                    judge=medgemma)]  # fmt: skip
    smol = "medinjection-binary · HuggingFaceTB/SmolLM2-135M-Instruct@x · in-process"
    run = [row(f"medinjfr_{s}_oeq", "judge_medinjection-binary", 1.0, n=3, judge=smol,
               self_judged=True) for s in ("native", "translated")]  # fmt: skip
    entries = {e["model"]: e for e in pivot(reported + run)}
    judged = [c for c in columns(list(entries.values())) if c["key"].startswith("medinjfr_judge")]
    assert sorted(c["judge"] for c in judged) == sorted([medgemma, smol])
    assert all(c["label"].endswith(f"(judge: {c['judge']})") for c in judged)
    by_judge = {c["judge"]: c["key"] for c in judged}
    assert set(entries["base"]["cells"]) == {by_judge[medgemma]}  # never in one column
    cell = entries["m"]["cells"][by_judge[smol]]
    assert cell["value"] == 1.0 and cell["self_judged"] and cell["judge"] == smol
    assert not entries["base"]["cells"][by_judge[medgemma]]["self_judged"]


def test_pivot_has_one_entry_per_model_and_a_mean_only_over_every_mcq_headline():
    full = [
        row("medinjfr_constrained_em", "em", 0.4),
        row("frenchmedmcqa_constrained", "em", 0.2),
        row("mediqal_mcqu_constrained", "em", 0.3, n=1),
        row("mediqal_mcqm_constrained", "em", 0.3, n=1),
        row("frbmedqa", "acc", 0.5),
    ]
    partial = [row("medinjfr_constrained_em", "em", 0.9, model="other", kind="reported")]
    entries = {e["model"]: e for e in pivot(full + partial)}
    assert set(entries) == {"m", "other"}
    assert entries["m"]["cells"][MEAN_KEY]["value"] == pytest.approx((0.4 + 0.2 + 0.3 + 0.5) / 4)
    assert MEAN_KEY not in entries["other"]["cells"]  # one of four is no mean
    assert entries["other"]["cells"]["medinjfr_em"]["value"] == 0.9


@pytest.mark.parametrize(
    ("metric", "count"),
    [("judge_medinjection-binary_n_judged", True), ("n_missing", True), ("sample_len", True),
     ("em", False), ("judge_medinjection-binary", False), ("token_f1", False)],
)  # fmt: skip
def test_counts_are_not_scores(metric, count):
    assert is_count(metric) is count


def test_scales_and_variants():
    assert scale_of("judge_enmed-4dim") == 5 and scale_of("judge_mediqal-10") == 10
    assert scale_of("judge_4dim") == 5 and scale_of("em") == 1
    assert task_parts("medinj_fr_sample_frenchmedmcqa_loglik_3shot") == {
        "group": "frenchmedmcqa_loglik",
        "variant": "3shot",
    }
    assert task_parts("frenchmedmcqa_constrained_perm2")["variant"] == "perm2"
    assert task_parts("frbmedqa") == {"group": "frbmedqa", "variant": "0shot"}
