"""Option-letter constrained decoding (MedInjection-FR protocol) as a transformers LogitsProcessor.

Allowed tokens: the option letters, bare and space-prefixed; for multi-answer items also
the separators ``,`` ``, `` `` `` ``,\\n``; and the end-of-sequence tokens. Single-answer
items allow letters and end tokens with a fall-back to the most likely letter when the
model would end at once: masking the end tokens at the first step gives exactly that
letter, so the processor does so.

A constrained task marks its requests with two generation kwargs (``medinj_letters``,
``medinj_single``). lm-eval's ``hf`` backend hands generation kwargs to ``model.generate``
and has no logits-processor hook, so :func:`install_hf_hook` wraps
``HFLM._model_generate`` once: requests carrying the keys get the mask, every other request
takes lm-eval's own code path untouched. That is what lets a stock
``lm_eval --model hf --tasks medinj_fr`` run the constrained tasks.
"""

from __future__ import annotations

import functools
from functools import lru_cache
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedTokenizerBase

SEPARATORS = (",", ", ", " ", ",\n")

# Keys of the per-item generation kwargs that the HF hook turns into a logits mask.
CONSTRAINT_LETTERS = "medinj_letters"
CONSTRAINT_SINGLE = "medinj_single"


@lru_cache(maxsize=8)
def _token_strings(tokenizer: PreTrainedTokenizerBase) -> dict[str, tuple[int, ...]]:
    """Decoded text of every vocabulary entry -> the token ids that decode to it."""
    by_text: dict[str, list[int]] = {}
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id], clean_up_tokenization_spaces=False)
        by_text.setdefault(text, []).append(token_id)
    return {text: tuple(ids) for text, ids in by_text.items()}


def allowed_token_ids(
    tokenizer: PreTrainedTokenizerBase, letters: str, single: bool
) -> tuple[list[int], list[int]]:
    """(ids allowed at the first step, ids allowed afterwards), end tokens not included.

    Single-answer items must start with a letter (the fall-back); multi-answer items
    allow letters and separators at every step, as the reference code does.
    """
    texts = _token_strings(tokenizer)
    letter_texts = [t for letter in letters for t in (letter, f" {letter}")]
    letter_ids = sorted({i for t in letter_texts for i in texts.get(t, ())})
    if not letter_ids:
        raise ValueError(f"no vocabulary token spells any of the option letters {letters!r}")
    if single:
        return letter_ids, letter_ids
    separator_ids = {i for t in SEPARATORS for i in texts.get(t, ())}
    allowed = sorted(set(letter_ids) | separator_ids)
    return allowed, allowed


class OptionLetterProcessor(LogitsProcessor):
    """Sets every disallowed logit to -inf; end tokens are allowed after the first step.

    For multi-answer items ``first`` already holds the separators; end tokens at the first
    step would only produce an empty (invalid) answer, which the reference allows, so they
    are added to ``first`` by the caller for multi-answer items.
    """

    def __init__(self, prompt_len: int, first: list[int], later: list[int], eos_ids: list[int]):
        self.prompt_len = prompt_len
        self.first = torch.tensor(first, dtype=torch.long)
        self.later = torch.tensor(sorted(set(later) | set(eos_ids)), dtype=torch.long)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        allowed = self.first if input_ids.shape[1] == self.prompt_len else self.later
        mask = torch.full_like(scores, float("-inf"))
        mask[:, allowed.to(scores.device)] = 0.0
        return scores + mask


def end_token_ids(tokenizer: PreTrainedTokenizerBase, model: Any) -> list[int]:
    """End-of-sequence ids of the tokenizer and of the model's generation config."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return sorted(i for i in ids if i is not None)


def letter_processor(
    tokenizer: PreTrainedTokenizerBase, model: Any, prompt_len: int, letters: str, single: bool
) -> OptionLetterProcessor:
    """The processor of one batch of requests sharing the same option letters."""
    first, later = allowed_token_ids(tokenizer, letters, single)
    eos = end_token_ids(tokenizer, model)
    return OptionLetterProcessor(prompt_len, first if single else first + eos, later, eos)


def install_hf_hook() -> None:
    """Make lm-eval's ``HFLM`` (and so ``medinj-hf``) honour the constraint keys. Idempotent."""
    from lm_eval.models.huggingface import HFLM

    original = HFLM._model_generate
    if getattr(original, "medinj_constraint_hook", False):
        return

    @functools.wraps(original)
    def _model_generate(self, context, max_length, stop, **generation_kwargs):
        letters = generation_kwargs.pop(CONSTRAINT_LETTERS, None)
        single = bool(generation_kwargs.pop(CONSTRAINT_SINGLE, False))
        if letters:
            processor = letter_processor(
                self.tokenizer, self.model, context.shape[1], letters, single
            )
            generation_kwargs["logits_processor"] = LogitsProcessorList([processor])
        return original(self, context, max_length, stop, **generation_kwargs)

    _model_generate.medinj_constraint_hook = True  # type: ignore[attr-defined]
    HFLM._model_generate = _model_generate
