"""The model's next-token logits after a prompt, kept once computed.

One MCQ item is asked in several modes with the same prompt: greedy and constrained
generation, letter log-likelihoods, option texts. A one-token answer (a single-answer letter,
greedy or constrained) and the log-probability of a one-token continuation need nothing but
the logits after the prompt, so whichever mode encodes a prompt first keeps them here, keyed
by the prompt's exact token ids, and the others read them instead of encoding it again.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Sequence

import torch


class NextTokenLogits:
    """Prompt token ids -> float32 logits of the next token (on the CPU), least recently
    used dropped past ``capacity`` prompts."""

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self._store: OrderedDict[tuple[int, ...], torch.Tensor] = OrderedDict()
        self.hits = 0

    def get(self, prompt: Sequence[int]) -> torch.Tensor | None:
        key = tuple(prompt)
        logits = self._store.get(key)
        if logits is not None:
            self._store.move_to_end(key)
            self.hits += 1
        return logits

    def put(self, prompt: Sequence[int], logits: torch.Tensor) -> torch.Tensor:
        """Keep ``logits`` for ``prompt``; the kept copy."""
        key = tuple(prompt)
        kept = self._store[key] = logits.detach().float().cpu()
        self._store.move_to_end(key)
        while len(self._store) > self.capacity:
            self._store.popitem(last=False)
        return kept


def unpadded(context: torch.Tensor, attention_mask: torch.Tensor) -> list[list[int]]:
    """The token ids of each row of a padded batch, padding left out."""
    return [row[mask.bool()].tolist() for row, mask in zip(context, attention_mask)]


def keeps_logits(model) -> bool:
    """Whether the (base) model's forward takes ``logits_to_keep`` (an int or positions)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def left_padded_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids of a left-padded batch, as ``model.generate`` computes them."""
    mask = attention_mask.long()
    return (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)


@torch.no_grad()
def prompt_logits(
    model: torch.nn.Module,
    context: torch.Tensor,
    attention_mask: torch.Tensor,
    memo: NextTokenLogits,
) -> torch.Tensor:
    """``[B, V]`` next-token logits of each row of a left-padded batch: from ``memo`` where
    known, else from one forward pass over the other rows (then kept)."""
    prompts = unpadded(context, attention_mask)
    known = [memo.get(prompt) for prompt in prompts]
    missing = [i for i, logits in enumerate(known) if logits is None]
    if missing:
        rows, mask = context[missing], attention_mask[missing]
        last = {"logits_to_keep": 1} if keeps_logits(model) else {}
        out = model(
            input_ids=rows, attention_mask=mask, position_ids=left_padded_positions(mask), **last
        )
        for i, logits in zip(missing, out.logits[:, -1]):
            known[i] = memo.put(prompts[i], logits)
    return torch.stack(known).to(context.device)
