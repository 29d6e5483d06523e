"""Option-letter constrained decoding (MedInjection-FR protocol) as a transformers LogitsProcessor.

Allowed tokens: the option letters, bare and space-prefixed; for multi-answer items also
the separators ``,`` ``, `` `` `` ``,\\n``; and the end-of-sequence tokens. Single-answer
items allow letters and end tokens with a fall-back to the most likely letter when the
model would end at once: masking the end tokens at the first step gives exactly that
letter, so the processor does so.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

SEPARATORS = (",", ", ", " ", ",\n")


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
