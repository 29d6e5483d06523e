"""Constrained decoding on transformers: one vocabulary mask (:class:`AllowedTokens`) for the
MCQ answer language and the judge's number verdicts.

The tokens allowed at each step are those whose decoded text is one piece of the item's
:class:`~medinj_eval.models.answer_language.AnswerLanguage`, plus the end tokens after the
first step. Single-answer items must start with a letter: masking the end tokens at the
first step is MedInjection-FR's fall-back to the most likely letter. Multi-answer items may
end at once (an empty, invalid answer), as the reference code allows.

lm-eval's ``hf`` backend has no logits-processor hook: :mod:`medinj_eval.lm_eval_internals`
wraps its generation step with :func:`constrained_generation_kwargs`, so requests carrying
the constraint get the mask and every other request takes lm-eval's own path untouched.
That is what lets a stock ``lm_eval --model hf --tasks medinj_fr`` run the constrained tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedTokenizerBase

from medinj_eval.models.answer_language import AnswerLanguage, pop_language


@lru_cache(maxsize=8)
def token_texts(tokenizer: PreTrainedTokenizerBase) -> dict[str, tuple[int, ...]]:
    """Decoded text of every vocabulary entry -> the token ids that decode to it."""
    by_text: dict[str, list[int]] = {}
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id], clean_up_tokenization_spaces=False)
        by_text.setdefault(text, []).append(token_id)
    return {text: tuple(ids) for text, ids in by_text.items()}


def allowed_token_ids(tokenizer: PreTrainedTokenizerBase, language: AnswerLanguage) -> list[int]:
    """Ids of the tokens whose text is one piece of the language (end tokens not included)."""
    texts = token_texts(tokenizer)
    if not any(texts.get(t) for t in language.letter_pieces):
        raise ValueError(
            f"no vocabulary token spells any of the option letters {language.letters!r}"
        )
    return sorted({i for t in language.pieces for i in texts.get(t, ())})


class AllowedTokens(LogitsProcessor):
    """The one vocabulary mask: every logit outside ``allowed(generated)`` is set to -inf,
    ``generated`` being the ids a row produced after the prompt."""

    def __init__(self, prompt_len: int, allowed: Callable[[list[int]], Sequence[int]]):
        self.prompt_len = prompt_len
        self.allowed = allowed
        self._index: dict[tuple[int, ...], torch.Tensor] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        mask = torch.full_like(scores, float("-inf"))
        for row in range(input_ids.shape[0]):
            ids = tuple(self.allowed(input_ids[row, self.prompt_len :].tolist()))
            if ids not in self._index:
                self._index[ids] = torch.tensor(ids, dtype=torch.long, device=scores.device)
            mask[row, self._index[ids]] = 0.0
        return scores + mask


def end_token_ids(tokenizer: PreTrainedTokenizerBase, model: Any) -> list[int]:
    """End-of-sequence ids of the tokenizer and of the model's generation config."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return sorted(i for i in ids if i is not None)


def letter_processor(
    tokenizer: PreTrainedTokenizerBase, model: Any, prompt_len: int, language: AnswerLanguage
) -> AllowedTokens:
    """The mask of one batch of requests sharing the same answer language: its pieces at
    the first step (and the end tokens for a multi-answer item), pieces and end after."""
    pieces = tuple(allowed_token_ids(tokenizer, language))
    with_end = tuple(sorted(set(pieces) | set(end_token_ids(tokenizer, model))))
    first = pieces if language.single else with_end
    return AllowedTokens(prompt_len, lambda generated: with_end if generated else first)


def verdict_processor(
    tokenizer: PreTrainedTokenizerBase, prompt_len: int, verdicts: Sequence[str]
) -> AllowedTokens:
    """The mask of a judge's number verdict: tokens that keep the reply a prefix of one of
    ``verdicts`` (e.g. "1".."10"), and the end token once the reply is one of them."""
    allowed = set(verdicts)
    pieces = [(i, t) for t, ids in token_texts(tokenizer).items() if t.isdigit() for i in ids]

    def next_ids(generated: list[int]) -> list[int]:
        so_far = tokenizer.decode(generated, skip_special_tokens=True)
        keep = [i for i, t in pieces if any(a.startswith(so_far + t) for a in allowed)]
        return keep + [tokenizer.eos_token_id] if so_far in allowed else keep

    return AllowedTokens(prompt_len, next_ids)


def constrained_generation_kwargs(lm: Any, context: Any, generation_kwargs: dict) -> dict:
    """HF generation kwargs with the private constraint key turned into the logits mask
    (requests without the key come back unchanged)."""
    language = pop_language(generation_kwargs)
    if language is not None:
        processor = letter_processor(lm.tokenizer, lm.model, context.shape[1], language)
        generation_kwargs["logits_processor"] = LogitsProcessorList([processor])
    return generation_kwargs
