"""Few-shot and answer-order variants, group aggregates: checked on real runs."""

from __future__ import annotations

import pytest
from conftest import evaluate

from medinj_eval.paths import sample_data_dir


def test_few_shot_demos_come_from_train_and_are_seeded(shared_data, default_model):
    kw = dict(limit=2, metadata={"data_dir": str(shared_data)})
    first = evaluate(
        "medinj-hf", f"pretrained={default_model}", ["frenchmedmcqa_greedy_3shot"], **kw
    )
    again = evaluate(
        "medinj-hf", f"pretrained={default_model}", ["frenchmedmcqa_greedy_3shot"], **kw
    )
    prompts = [s["arguments"][0][0] for s in first["samples"]["frenchmedmcqa_greedy_3shot"]]
    assert all(p.count("Question :") == 4 for p in prompts)
    assert prompts == [s["arguments"][0][0] for s in again["samples"]["frenchmedmcqa_greedy_3shot"]]
    assert first["configs"]["frenchmedmcqa_greedy_3shot"]["num_fewshot"] == 3


def test_pooled_answer_order_em(default_model):
    results = evaluate(
        "medinj-hf",
        f"pretrained={default_model},prefix_cache=true",
        ["frenchmedmcqa_loglik_pooled"],
        limit=3,
        metadata={"data_dir": str(sample_data_dir())},
    )
    names = ["frenchmedmcqa_loglik"] + [f"frenchmedmcqa_loglik_perm{k}" for k in (1, 2)]
    ems = [s["em"] for n in names for s in results["samples"][n]]
    assert len(ems) == 9
    pooled = results["results"]["frenchmedmcqa_loglik_pooled"]["em,none"]
    assert pooled == pytest.approx(sum(ems) / 9)
    golds = [[s["doc"]["gold"] for s in results["samples"][n]] for n in names]
    assert golds[0] != golds[1] or golds[0] != golds[2]


def test_medinjection_aggregate_is_mean_of_mcq_and_mcqu(default_model):
    group = "medinj_fr_sample_medinjfr_loglik_em"
    results = evaluate(
        "medinj-hf",
        f"pretrained={default_model},prefix_cache=true",
        [group],
        limit=2,
        apply_chat_template=True,
    )
    r = results["results"]
    fam = {}
    for sub in ("mcq", "mcqu"):
        items = [
            s["em"]
            for src in ("native", "translated")
            for s in results["samples"][f"medinj_fr_sample_medinjfr_{src}_{sub}_loglik"]
        ]
        fam[sub] = sum(items) / len(items)
        assert r[f"medinj_fr_sample_medinjfr_{sub}_loglik"]["em,none"] == pytest.approx(fam[sub])
    assert r[group]["em,none"] == pytest.approx((fam["mcq"] + fam["mcqu"]) / 2)
