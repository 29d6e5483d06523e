"""Greedy decoding that sheds finished rows, and next-token logits kept across modes: the
same outputs as ``model.generate`` and stock ``hf`` on the real default model."""

from __future__ import annotations

import pytest
import torch
from conftest import evaluate

from medinj_eval.models.greedy import shrinking_greedy
from medinj_eval.models.next_token import NextTokenLogits, prompt_logits

PROMPTS = [
    "Quelle est la cause la plus fréquente de l'anémie chez l'adulte ?",
    "Citez un antibiotique de la famille des pénicillines.",
    "Réponds par une seule lettre. Question : le foie produit-il la bile ? A. oui B. non",
]


@pytest.fixture(scope="module")
def model_and_tokenizer(default_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_model, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(default_model).eval()
    return model, tokenizer


def batch(tokenizer):
    texts = [
        tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                      add_generation_prompt=True)
        for p in PROMPTS
    ]  # fmt: skip
    return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)


@pytest.mark.parametrize("stop", [[], ["."]])
def test_shrinking_greedy_equals_generate(model_and_tokenizer, stop):
    """Rows end at different steps (an end token, a stop string, the budget); each row's
    text, cut at its first stop string as lm-eval cuts it, is the one ``model.generate``
    gives for the whole batch (lm-eval's stop criterion ends a batch only when every row
    has stopped)."""
    from lm_eval.models.utils_hf import stop_sequences_criteria

    model, tokenizer = model_and_tokenizer
    enc = batch(tokenizer)
    width = enc.input_ids.shape[1]
    pad = tokenizer.pad_token_id
    criteria = stop_sequences_criteria(tokenizer, stop, width, len(PROMPTS)) if stop else None
    with torch.no_grad():
        stock = model.generate(**enc, max_new_tokens=40, do_sample=False, pad_token_id=pad,
                               stopping_criteria=criteria)  # fmt: skip
    ours = shrinking_greedy(
        model, tokenizer, enc.input_ids, enc.attention_mask, width + 40, stop, pad
    )

    def texts(out):
        decoded = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        return [text.split(stop[0])[0] if stop else text for text in decoded]

    assert texts(ours) == texts(stock)
    lengths = (ours[:, width:] != pad).sum(dim=1).tolist()
    assert len(set(lengths)) > 1  # the rows did end at different steps


def test_prompt_logits_are_kept_and_read_back(model_and_tokenizer, monkeypatch):
    model, tokenizer = model_and_tokenizer
    enc = batch(tokenizer)
    memo = NextTokenLogits()
    first = prompt_logits(model, enc.input_ids, enc.attention_mask, memo)
    for i, prompt in enumerate(PROMPTS):  # each row as a batch of one: the same logits
        row = enc.input_ids[i][enc.attention_mask[i].bool()][None]
        with torch.no_grad():
            expected = model(row).logits[0, -1]
        assert torch.allclose(first[i], expected, atol=1e-4), prompt

    def no_forward(*args, **kwargs):
        raise AssertionError("a known prompt was encoded again")

    assert memo.hits == 0
    monkeypatch.setattr(model, "forward", no_forward)
    again = prompt_logits(model, enc.input_ids, enc.attention_mask, memo)
    assert torch.equal(first, again) and memo.hits == len(PROMPTS)


def test_modes_sharing_prompts_equal_stock_hf(default_model):
    """Greedy, constrained and letter log-likelihood of the same items, then open-ended
    answers: ``medinj-hf`` with ``prefix_cache=true`` against stock ``hf``."""
    tasks = [
        "medinj_fr_sample_mediqal_mcqu_greedy",
        "medinj_fr_sample_mediqal_mcqu_constrained",
        "medinj_fr_sample_mediqal_mcqu_loglik",
        "medinj_fr_sample_medinjfr_native_oeq",
    ]
    # open-ended answers cut at 64 tokens (512 by default): the same decoding, fewer steps
    kw = dict(limit=3, apply_chat_template=True, batch_size=8, gen_kwargs="max_gen_toks=64")
    stock = evaluate("hf", f"pretrained={default_model}", tasks, **kw)
    ours = evaluate("medinj-hf", f"pretrained={default_model},prefix_cache=true", tasks, **kw)
    for task in tasks:
        a = [s["resps"] for s in stock["samples"][task]]
        b = [s["resps"] for s in ours["samples"][task]]
        if task.endswith("loglik"):
            for x, y in zip(a, b):
                assert [float(r[0][0]) for r in x] == pytest.approx(
                    [float(r[0][0]) for r in y], abs=1e-4
                )
                assert [r[0][1] for r in x] == [r[0][1] for r in y]
        else:
            assert a == b, task
