"""Greedy decoding of a batch in which a row leaves as soon as it ends.

``model.generate`` keeps every row of a batch until the last one ends: when half the answers
of an open-ended batch stop after 50 tokens and the rest run to 512, half of every later
step is spent on padding. Here a row that emits an end token or a stop string leaves the
batch, its key/value cache rows with it, so each step computes only the rows still running.
Same inputs and outputs as ``model.generate`` in greedy mode: a left-padded batch in, the
context followed by the new tokens out, rows that ended early padded with ``pad_id``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from medinj_eval.models.kv_cache import CACHE
from medinj_eval.models.next_token import (
    NextTokenLogits,
    keeps_logits,
    left_padded_positions,
    prompt_logits,
    unpadded,
)


def plain_greedy(generation_config) -> bool:
    """Whether the model's generation config leaves greedy decoding as a plain argmax (no
    repetition penalty, banned or forced tokens, or minimum length)."""
    changes = (
        (getattr(generation_config, "repetition_penalty", None) or 1.0) != 1.0,
        getattr(generation_config, "no_repeat_ngram_size", None),
        getattr(generation_config, "bad_words_ids", None),
        getattr(generation_config, "suppress_tokens", None),
        getattr(generation_config, "begin_suppress_tokens", None),
        getattr(generation_config, "forced_bos_token_id", None),
        getattr(generation_config, "forced_eos_token_id", None),
        getattr(generation_config, "min_new_tokens", None),
        getattr(generation_config, "min_length", None),
    )
    return not any(changes)


def end_ids(generation_config) -> set[int]:
    configured = getattr(generation_config, "eos_token_id", None)
    if configured is None:
        return set()
    return set(configured) if isinstance(configured, list) else {int(configured)}


@torch.no_grad()
def shrinking_greedy(
    model: torch.nn.Module,
    tokenizer,
    context: torch.Tensor,
    attention_mask: torch.Tensor,
    max_length: int,
    stop: Sequence[str],
    pad_id: int,
    memo: NextTokenLogits | None = None,
) -> torch.Tensor:
    """``[B, L + T]``: ``context`` (left-padded) and up to ``max_length - L`` greedy tokens
    per row; a row ends at an end token of the model's generation config or once the text
    of its last tokens holds one of ``stop`` (as lm-eval's stopping criteria look). With
    ``memo``, the prompts' next-token logits are kept, and a one-token answer whose
    prompts are all known takes no forward pass."""
    rows, width = context.shape
    if memo is not None and max_length - width == 1:
        tokens = prompt_logits(model, context, attention_mask, memo).argmax(dim=-1)
        return torch.cat([context, tokens[:, None]], dim=1)
    prompts = unpadded(context, attention_mask) if memo is not None else []
    new_tokens = torch.full((rows, max(max_length - width, 0)), pad_id, device=context.device)
    ends = torch.tensor(sorted(end_ids(model.generation_config)), device=context.device)
    lookback = {s: len(tokenizer.encode(s, add_special_tokens=False)) + 2 for s in stop if s}
    mask = attention_mask.long()
    positions = left_padded_positions(mask)
    last = {"logits_to_keep": 1} if keeps_logits(model) else {}
    out = model(
        input_ids=context, attention_mask=mask, position_ids=positions, use_cache=True, **last
    )
    cache, logits = getattr(out, CACHE), out.logits[:, -1]
    for prompt, row in zip(prompts, logits):  # no prompts without a memo
        memo.put(prompt, row)
    running = torch.arange(rows, device=context.device)  # batch row -> original row
    next_position = positions[:, -1] + 1
    steps = 0
    for step in range(new_tokens.shape[1]):
        tokens = logits.argmax(dim=-1)
        new_tokens[running, step] = tokens
        steps = step + 1
        ended = torch.isin(tokens, ends)
        for i, row in enumerate(running.tolist()):
            if not ended[i] and _stopped(tokenizer, new_tokens[row, :steps], lookback):
                ended[i] = True
        if ended.all() or steps == new_tokens.shape[1]:
            break
        if ended.any():
            keep = (~ended).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            running, tokens, mask, next_position = (
                running[keep], tokens[keep], mask[keep], next_position[keep]
            )  # fmt: skip
        mask = torch.cat([mask, mask.new_ones(len(running), 1)], dim=1)
        out = model(
            input_ids=tokens[:, None],
            attention_mask=mask,
            position_ids=next_position[:, None],
            **{CACHE: cache},
            use_cache=True,
        )
        cache, logits = getattr(out, CACHE), out.logits[:, -1]
        next_position = next_position + 1
    return torch.cat([context, new_tokens[:, :steps]], dim=1)


def _stopped(tokenizer, generated: torch.Tensor, lookback: dict[str, int]) -> bool:
    return any(stop in tokenizer.decode(generated[-n:]) for stop, n in lookback.items())
