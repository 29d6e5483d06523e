"""The tree scorer: the trie and its mask (pure functions), and log-likelihoods that equal
stock ``hf``'s request by request on real items and on a ten-option item of the test's own."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from conftest import evaluate
from hypothesis import given
from hypothesis import strategies as st

from medinj_eval.models.tree_scorer import build_trie, tree_mask, tree_positions

CONTINUATIONS = st.lists(
    st.lists(st.integers(0, 5), min_size=1, max_size=5), min_size=1, max_size=8
)


@given(CONTINUATIONS, st.integers(1, 4))
def test_each_node_sees_the_context_its_ancestors_and_itself(conts, ctx):
    trie = build_trie(conts)
    mask = tree_mask(ctx, trie)
    positions = tree_positions(ctx, trie)
    for cont, path in zip(conts, trie.paths):
        assert [trie.tokens[n] for n in path] == cont
        for depth, node in enumerate(path, 1):
            row = mask[ctx + node]
            assert row[:ctx].all()
            assert set(row[ctx:].nonzero().flatten().tolist()) == set(path[:depth])
            assert positions[ctx + node] == ctx + depth - 1
    assert torch.equal(mask[:ctx, :ctx], torch.tril(torch.ones(ctx, ctx, dtype=torch.bool)))
    assert not mask[:ctx, ctx:].any()


def plain_loglikelihood(model, ctx: list[int], cont: list[int]) -> tuple[float, bool]:
    """One causal forward pass over context + continuation, as stock ``hf`` scores it."""
    logits = model(torch.tensor([ctx + cont[:-1]])).logits[0, len(ctx) - 1 :]
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    target = torch.tensor(cont)
    picked = logprobs.gather(1, target.unsqueeze(1)).sum()
    return float(picked), bool((logprobs.argmax(dim=-1) == target).all())


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize(
    "continuations",
    [
        [[330], [389], [356]],  # single tokens: no trie node, a plain causal batch
        [[330], [330, 11, 389], [330, 11, 356], [389, 11, 356, 11, 423]],  # answer sets
    ],
    ids=["letters", "sets"],
)
def test_each_mask_kind_equals_one_pass_per_request(default_model, attention, continuations):
    """sdpa takes a boolean mask, eager an additive one; letters need none. Two contexts of
    different lengths share the batch, so padding is exercised too."""
    from transformers import AutoModelForCausalLM

    from medinj_eval.models.tree_scorer import tree_loglikelihoods

    model = AutoModelForCausalLM.from_pretrained(default_model, attn_implementation=attention)
    contexts = [[1, 4093, 314, 253, 3522, 30], [1, 1524, 28]]
    requests = [(("c", "x"), ctx, cont) for ctx in contexts for cont in continuations]
    tree = tree_loglikelihoods(model, requests, torch.device("cpu"), 2048, disable_tqdm=True)
    for (_, ctx, cont), (ll, greedy) in zip(requests, tree):
        ll_plain, greedy_plain = plain_loglikelihood(model, ctx, cont)
        assert ll == pytest.approx(ll_plain, abs=1e-4)
        assert greedy == greedy_plain


@pytest.mark.parametrize(("attention", "tolerance"), [("eager", 1e-3), ("sdpa", 0.5)])
@pytest.mark.parametrize("precision", ["bf16 weights", "bf16 autocast"])
def test_bf16_runs_each_mask_kind(default_model, attention, tolerance, precision):
    """In bfloat16 (weights, or float32 weights under autocast, as lm-eval's mixed precision
    runs) the boolean and additive masks work. Eager attention gives the per-request passes'
    figures; sdpa with a mask takes another kernel than its causal path, whose bfloat16
    rounding differs by up to a few tenths of a nat on these sums (0.33 of 86 seen)."""
    import contextlib

    from transformers import AutoModelForCausalLM

    from medinj_eval.models.tree_scorer import tree_loglikelihoods

    dtype = torch.bfloat16 if precision == "bf16 weights" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(
        default_model, attn_implementation=attention, dtype=dtype
    )
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if precision == "bf16 autocast"
        else contextlib.nullcontext()
    )
    contexts = [[1, 4093, 314, 253, 3522, 30], [1, 1524, 28]]
    continuations = [[330], [330, 11, 389], [330, 11, 356], [389, 11, 356, 11, 423]]
    requests = [(("c", "x"), ctx, cont) for ctx in contexts for cont in continuations]
    with autocast, torch.no_grad():
        tree = tree_loglikelihoods(model, requests, torch.device("cpu"), 2048, disable_tqdm=True)
        plain = [plain_loglikelihood(model, ctx, cont)[0] for _, ctx, cont in requests]
    assert [ll for ll, _ in tree] == pytest.approx(plain, abs=tolerance)


def test_shared_prefixes_share_nodes():
    trie = build_trie([[1], [1, 2], [1, 2, 3], [1, 3]])
    assert trie.tokens == [1, 2, 3, 3] and trie.parents == [-1, 0, 1, 0]


def responses(results, task):
    """Per item, (log-likelihood, is_greedy) of each request."""
    return [s["filtered_resps"] for s in results["samples"][task]]


def assert_same_loglikelihoods(task, default_model, **kw):
    stock = evaluate("hf", f"pretrained={default_model}", [task], **kw)
    tree = evaluate("medinj-hf", f"pretrained={default_model},prefix_cache=true", [task], **kw)
    n = 0
    for a, b in zip(responses(stock, task), responses(tree, task)):
        assert len(a) == len(b)
        for (ll_a, greedy_a), (ll_b, greedy_b) in zip(a, b):
            assert abs(float(ll_a) - float(ll_b)) < 1e-4
            assert bool(greedy_a) == bool(greedy_b)
            n += 1
    return n


def test_real_frenchmedmcqa_items_equal_stock_hf(default_model, shared_data):
    n = assert_same_loglikelihoods(
        "frenchmedmcqa_loglik",
        default_model,
        limit=4,
        metadata={"data_dir": str(shared_data)},
        apply_chat_template=True,
    )
    assert n == 4 * 31


TEN_OPTIONS = "Sodium Potassium Calcium Fer Zinc Lithium Rein Rate Muscle Os".split()


def ten_option_item(data_dir: Path) -> Path:
    """One MedInjection-FR multi-answer item with ten one-token options under ``data_dir``.
    Its prompt is short on purpose: stock ``hf`` runs one forward pass over the whole prompt
    for each of the 1,023 answer sets, so their cost grows with its length."""
    letters = list("ABCDEFGHIJ")
    stem = "Électrolytes ?\n" + "\n".join(f"{x}. {o}" for x, o in zip(letters, TEN_OPTIONS))
    item = {
        "id": "ten-options",
        "classes": letters,
        "answer": ["A", "B", "C"],
        "messages": [
            {"role": "system", "content": "Réponds par les lettres."},
            {"role": "user", "content": stem},
            {"role": "assistant", "content": "A, B, C"},
        ],
    }
    path = data_dir / "medinjection-fr" / "Native" / "Test" / "mcq" / "mcq_test.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps([item], ensure_ascii=False), encoding="utf-8")
    return data_dir


def test_ten_options_1023_answer_sets_equal_stock_hf(default_model, tmp_path):
    data_dir = ten_option_item(tmp_path)
    n = assert_same_loglikelihoods(
        "medinjfr_native_mcq_loglik",
        default_model,
        metadata={"data_dir": str(data_dir)},
        batch_size=16,  # one thread does sixteen short sequences faster together than apart
    )
    assert n == 1023


def test_attention_without_custom_masks_falls_back_with_a_log_line(
    default_model, monkeypatch, caplog
):
    from medinj_eval.models import medinj_hf

    task = "medinj_fr_sample_frenchmedmcqa_loglik"
    tree = evaluate("medinj-hf", f"pretrained={default_model},prefix_cache=true", [task], limit=2)
    monkeypatch.setattr(medinj_hf, "MASKABLE", ())
    with caplog.at_level(logging.INFO, logger=medinj_hf.__name__):
        plain = evaluate(
            "medinj-hf", f"pretrained={default_model},prefix_cache=true", [task], limit=2
        )
    assert "takes no tree mask" in caplog.text
    for a, b in zip(responses(tree, task), responses(plain, task)):
        assert [float(ll) for ll, _ in a] == pytest.approx([float(ll) for ll, _ in b], abs=1e-4)


def test_option_text_mode_equals_stock_hf_on_real_items(default_model, shared_data):
    n = assert_same_loglikelihoods(
        "frenchmedmcqa_optiontext",
        default_model,
        limit=4,
        metadata={"data_dir": str(shared_data)},
        apply_chat_template=True,
    )
    assert n == 4 * 5


@pytest.mark.parametrize(
    ("gold", "lls", "expected"),
    [
        # single gold B; B most likely, and per character too
        (["B"], [-9.0, -1.0, -5.0], {"acc": 1.0, "acc_any": 1.0, "acc_norm": 1.0}),
        # two golds: choosing one of them is right only for the _any count
        (["A", "B"], [-9.0, -1.0, -5.0], {"acc": 0.0, "acc_any": 1.0}),
        # A wins on the sum (-2), C per character (-3 / 10 chars against -2 / 1)
        (["A"], [-2.0, -9.0, -3.0], {"acc": 1.0, "acc_norm": 0.0, "acc_norm_any": 0.0}),
        (["C"], [-2.0, -9.0, -3.0], {"acc": 0.0, "acc_norm": 1.0}),
    ],
)
def test_option_text_scores(gold, lls, expected):
    from medinj_eval.tasks.mcq import option_text_scores

    doc = {"letters": ["A", "B", "C"], "options": ["a", "bb", "cccccccccc"], "gold": gold}
    scores = option_text_scores(doc, lls)
    assert {k: scores[k] for k in expected} == expected
