"""The constrained mode on transformers: the answer language as a ``LogitsProcessor``.

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

from functools import lru_cache
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedTokenizerBase

from medinj_eval.models.answer_language import AnswerLanguage, pop_language


@lru_cache(maxsize=8)
def _token_strings(tokenizer: PreTrainedTokenizerBase) -> dict[str, tuple[int, ...]]:
    """Decoded text of every vocabulary entry -> the token ids that decode to it."""
    by_text: dict[str, list[int]] = {}
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id], clean_up_tokenization_spaces=False)
        by_text.setdefault(text, []).append(token_id)
    return {text: tuple(ids) for text, ids in by_text.items()}


def allowed_token_ids(tokenizer: PreTrainedTokenizerBase, language: AnswerLanguage) -> list[int]:
    """Ids of the tokens whose text is one piece of the language (end tokens not included)."""
    texts = _token_strings(tokenizer)
    if not any(texts.get(t) for t in language.letter_pieces):
        raise ValueError(
            f"no vocabulary token spells any of the option letters {language.letters!r}"
        )
    return sorted({i for t in language.pieces for i in texts.get(t, ())})


class OptionLetterProcessor(LogitsProcessor):
    """Sets every logit outside ``first`` (first step) or ``later`` (after it) to -inf."""

    def __init__(self, prompt_len: int, first: list[int], later: list[int]):
        self.prompt_len = prompt_len
        self.first = torch.tensor(first, dtype=torch.long)
        self.later = torch.tensor(later, dtype=torch.long)

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
    tokenizer: PreTrainedTokenizerBase, model: Any, prompt_len: int, language: AnswerLanguage
) -> OptionLetterProcessor:
    """The processor of one batch of requests sharing the same answer language."""
    pieces = allowed_token_ids(tokenizer, language)
    with_end = sorted(set(pieces) | set(end_token_ids(tokenizer, model)))
    return OptionLetterProcessor(prompt_len, pieces if language.single else with_end, with_end)


def constrained_generation_kwargs(lm: Any, context: Any, generation_kwargs: dict) -> dict:
    """HF generation kwargs with the private constraint key turned into the logits mask
    (requests without the key come back unchanged)."""
    language = pop_language(generation_kwargs)
    if language is not None:
        processor = letter_processor(lm.tokenizer, lm.model, context.shape[1], language)
        generation_kwargs["logits_processor"] = LogitsProcessorList([processor])
    return generation_kwargs
