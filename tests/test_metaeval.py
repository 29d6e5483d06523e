"""Judge meta-evaluation: inputs, statistics against references, the command end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import REPO, cli
from scipy import stats

from medinj_eval.data.errors import DataValidationError
from medinj_eval.metaeval.human_agreement import agreement, cluster_bootstrap_ci
from medinj_eval.metaeval.pairs import load_pairs, write_generic

CALIBRATION = REPO / "lm_eval_tasks" / "medinj_fr_sample" / "data" / "judge_calibration"
FILES = [CALIBRATION / "modele_a.json", CALIBRATION / "modele_b.json"]


def test_calibration_format_and_generic_jsonl_give_the_same_pairs(tmp_path):
    pairs = load_pairs(FILES)
    assert len(pairs) == 32 and {p.generator for p in pairs} == {"modele_a", "modele_b"}
    assert {p.human for p in pairs} == {0.0, 1.0}
    first = pairs[0]
    raw = json.loads(FILES[0].read_text())[0]
    assert (first.question, first.reference, first.candidate) == (
        raw["Question"], raw["verite_terrain"], raw["modele_a"],
    )  # fmt: skip
    assert first.human == (1.0 if raw["equivalence"] == "Oui" else 0.0)
    write_generic(pairs, tmp_path / "pairs.jsonl")
    assert load_pairs([tmp_path / "pairs.jsonl"]) == pairs


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"id": "q", "Question": "Q", "verite_terrain": "R", "g": "A", "equivalence": "Bof"},
         "'equivalence'"),
        ({"id": "q", "Question": "Q", "verite_terrain": "R", "equivalence": "Oui"}, "generator"),
    ],
)  # fmt: skip
def test_bad_calibration_row_names_file_row_and_field(tmp_path, row, field):
    path = tmp_path / "gen.json"
    path.write_text(json.dumps([row]))
    with pytest.raises(DataValidationError) as err:
        load_pairs([path])
    assert "gen.json" in str(err.value) and "row 0" in str(err.value) and field in str(err.value)


def test_generic_human_score_must_be_a_number(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"question": "Q", "reference": "R", "candidate": "C", "human_score": "bon"}\n')
    with pytest.raises(DataValidationError, match="p.jsonl, row 0, field 'human_score'"):
        load_pairs([path])


def test_statistics_match_scipy_and_kappa_by_hand():
    judge = [1, 1, 0, 1, 0, 0, 1, 1]
    human = [1, 0, 0, 1, 0, 1, 1, 1]
    out = agreement(judge, human, [str(i) for i in range(8)], resamples=50)
    assert out["pearson"] == pytest.approx(stats.pearsonr(judge, human).statistic)
    assert out["spearman"] == pytest.approx(stats.spearmanr(judge, human).statistic)
    assert out["kendall_tau_b"] == pytest.approx(stats.kendalltau(judge, human).statistic)
    # kappa: observed agreement 6/8; chance (5/8 * 5/8 + 3/8 * 3/8) = 34/64
    po, pe = 6 / 8, 34 / 64
    assert out["cohen_kappa"] == pytest.approx((po - pe) / (1 - pe))
    assert agreement(human, human, list("abcdefgh"), resamples=10)["krippendorff_alpha"] == 1.0


def test_ratings_on_another_scale_get_no_kappa_and_missing_verdicts_are_left_out():
    out = agreement([7, 3, None, 9], [1, 0, 1, 1], ["a", "b", "c", "d"], resamples=20)
    assert "cohen_kappa" not in out and out["n"] == 3 and out["n_missing"] == 1


def test_constant_scorer_has_undefined_correlation_not_zero():
    out = agreement([1, 1, 1, 1], [1, 0, 1, 0], list("abcd"), resamples=20)
    assert math.isnan(out["pearson"]) and out["cohen_kappa"] == 0.0


def test_bootstrap_resamples_questions_not_pairs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=12)
    y = x + rng.normal(size=12)
    ids = [str(i) for i in range(12)]
    stat = lambda a, b: float(np.corrcoef(a, b)[0, 1])  # noqa: E731
    single = cluster_bootstrap_ci(stat, x, y, ids, resamples=300, seed=3)
    # each question answered twice with the same scores: clusters make it the same sample
    doubled = cluster_bootstrap_ci(
        stat, np.repeat(x, 2), np.repeat(y, 2), np.repeat(ids, 2), 300, 3
    )
    assert doubled == pytest.approx(single)
    as_pairs = cluster_bootstrap_ci(
        stat, np.repeat(x, 2), np.repeat(y, 2), [str(i) for i in range(24)], 300, 3
    )
    assert as_pairs[1] - as_pairs[0] < single[1] - single[0]  # naive pairs: too narrow
    assert cluster_bootstrap_ci(stat, x, y, ids, 300, 3) == single  # seeded


@pytest.mark.slow
def test_meta_eval_command_with_a_judge_on_a_real_server(judge_server, tmp_path):
    out = tmp_path / "metaeval"
    done = cli(
        "meta-eval", *map(str, FILES), "--prompt", "medinjection-binary",
        "--base-url", judge_server.base_url, "--judge-model", "smollm2",
        "--server", judge_server.family, "--cache", str(tmp_path / "c.sqlite"),
        "--resamples", "200", "--seed", "7", "--out", str(out), "--no-progress",
    )  # fmt: skip
    result = json.loads((out / "metaeval.json").read_text())  # standard JSON: no NaN
    assert set(result["scorers"]) == {
        "bleu", "rouge1", "rouge2", "rougeL", "bertscore_f1", "judge:medinjection-binary",
    }  # fmt: skip
    judge = result["scorers"]["judge:medinjection-binary"]
    assert judge["n"] + judge["n_missing"] == 32
    assert "cohen_kappa" in judge and "krippendorff_alpha" in judge
    assert set(result["per_generator"]) == {"modele_a", "modele_b"}
    assert {"human", "bleu"} <= set(result["verbosity"])
    assert result["seed"] == 7 and result["resamples"] == 200
    # the overlap metrics agree with the authors' labels on this sample
    assert result["scorers"]["rouge1"]["pearson"] > 0.3
    table = (out / "metaeval.md").read_text()
    assert "judge:medinjection-binary" in table and "Generator modele_b" in table
    for png in ("correlations.png", "verbosity.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "judge:medinjection-binary" in done.stdout
