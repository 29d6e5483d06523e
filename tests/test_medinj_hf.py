"""The medinj-hf backend on the real default model: parity with hf, constraint, adapters."""

from __future__ import annotations

import pytest
from conftest import evaluate, make_adapter
from lm_eval.api.instance import Instance

from medinj_eval.metrics import parse_strict

GREEDY_MULTI = "medinj_fr_sample_mediqal_mcqm_greedy"
LOGLIK_SINGLE = "medinj_fr_sample_mediqal_mcqu_loglik"
LOGLIK_MULTI = "medinj_fr_sample_medinjfr_native_mcq_loglik"
CONSTRAINED = [
    "medinj_fr_sample_mediqal_mcqm_constrained",
    "medinj_fr_sample_medinjfr_native_mcqu_constrained",
]


def responses(results, task: str) -> list:
    return [s["filtered_resps"] for s in results["samples"][task]]


MODES = [GREEDY_MULTI, LOGLIK_SINGLE, *CONSTRAINED]


@pytest.fixture(scope="module")
def mode_runs(default_model) -> dict[str, dict]:
    """Each backend on one task of every mode, six items each, run once for the module."""
    return {
        backend: evaluate(
            backend, f"pretrained={default_model}", MODES, limit=6, apply_chat_template=True
        )
        for backend in ("hf", "medinj-hf")
    }


def test_medinj_hf_matches_hf_on_every_mode(mode_runs):
    stock, ours = mode_runs["hf"], mode_runs["medinj-hf"]
    for task in MODES:
        assert responses(ours, task) == responses(stock, task)
        assert ours["results"][task]["em,none"] == stock["results"][task]["em,none"]


@pytest.mark.parametrize("backend", ["hf", "medinj-hf"])
def test_constrained_generation_only_writes_option_letters(mode_runs, backend):
    results = mode_runs[backend]
    for task in CONSTRAINED:
        for sample in results["samples"][task]:
            doc, text = sample["doc"], sample["filtered_resps"][0]
            allowed = set("".join(doc["letters"])) | set(", \n")
            assert set(text) <= allowed, text
            if not doc["multi"]:
                assert len(parse_strict(text, doc["letters"], single=True)) == 1, text
    single = results["results"][CONSTRAINED[1]]
    assert single["valid,none"] == 1.0


def test_constraint_changes_what_the_model_writes(default_model):
    """Same prompts, greedy vs constrained: the mask must turn invalid answers into valid ones."""
    greedy, constrained = (
        "medinj_fr_sample_mediqal_mcqu_greedy",
        "medinj_fr_sample_mediqal_mcqu_constrained",
    )
    results = evaluate(
        "hf", f"pretrained={default_model}", [greedy, constrained], apply_chat_template=True
    )
    assert results["results"][greedy]["valid,none"] < 1.0
    assert results["results"][constrained]["valid,none"] == 1.0


def test_prefix_cache_agrees_with_hf_loglikelihoods(default_model):
    stock = evaluate(
        "hf", f"pretrained={default_model}", [LOGLIK_MULTI], limit=3, apply_chat_template=True
    )
    ours = evaluate(
        "medinj-hf",
        f"pretrained={default_model},prefix_cache=true",
        [LOGLIK_MULTI],
        limit=3,
        apply_chat_template=True,
    )
    for a, b in zip(responses(stock, LOGLIK_MULTI), responses(ours, LOGLIK_MULTI)):
        assert len(a) == len(b) >= 7
        for (ll_a, _), (ll_b, _) in zip(a, b):
            assert abs(ll_a - ll_b) < 1e-4


@pytest.fixture(scope="module")
def adapters(default_model, tmp_path_factory):
    """A LoRA and a DoRA adapter on the default model, with non-zero (random) updates."""
    return {
        kind: make_adapter(default_model, tmp_path_factory.mktemp(kind), dora=kind == "dora")
        for kind in ("lora", "dora")
    }


@pytest.fixture(scope="module")
def base_loglik(default_model) -> dict[str, dict]:
    """The base model's log-likelihoods on five items, once per backend."""
    return {
        backend: evaluate(backend, f"pretrained={default_model}", [LOGLIK_SINGLE], limit=5)
        for backend in ("hf", "medinj-hf")
    }


@pytest.mark.parametrize("kind", ["lora", "dora"])
@pytest.mark.parametrize("backend", ["hf", "medinj-hf"])
def test_peft_adapter_changes_the_scores(default_model, adapters, base_loglik, kind, backend):
    base = base_loglik[backend]
    tuned = evaluate(
        backend, f"pretrained={default_model},peft={adapters[kind]}", [LOGLIK_SINGLE], limit=5
    )
    before = [ll for resp in responses(base, LOGLIK_SINGLE) for ll, _ in resp]
    after = [ll for resp in responses(tuned, LOGLIK_SINGLE) for ll, _ in resp]
    assert max(abs(a - b) for a, b in zip(before, after)) > 1e-2


def test_dora_is_merged_and_agrees_with_unmerged(default_model, adapters):
    from peft import PeftModel

    from medinj_eval.models.medinj_hf import MedinjHFLM

    merged = MedinjHFLM(pretrained=default_model, peft=adapters["dora"], device="cpu")
    unmerged = MedinjHFLM(
        pretrained=default_model, peft=adapters["dora"], device="cpu", merge_adapter="false"
    )
    assert not isinstance(merged.model, PeftModel)
    assert isinstance(unmerged.model, PeftModel)
    context = "Question : Quel organe produit l'insuline ?\nA. Foie\nB. Pancréas\nRéponse :"
    requests = [
        Instance("loglikelihood", {}, (context, f" {c}"), i)
        for i, c in enumerate(["A", "B", "A, B", "Le pancréas"])
    ]
    for (a, _), (b, _) in zip(merged.loglikelihood(requests), unmerged.loglikelihood(requests)):
        assert abs(a - b) < 1e-4
