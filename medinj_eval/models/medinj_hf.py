"""``--model medinj-hf``: lm-eval's HF backend, tuned for this suite.

Every ``hf`` model argument is accepted (``pretrained=``, ``peft=``, ``dtype=``, ...), and
``pretrained=default`` names the embedded default model. Constrained decoding goes through
the patch of :mod:`medinj_eval.lm_eval_internals`, shared with ``--model hf``, so both
backends give the same outputs on every task. Plain greedy generation
(open-ended answers, unconstrained letters) sheds each row of a batch as soon as it ends.
``prefix_cache=true`` scores all the
log-likelihood requests of a prompt (answer sets, option texts) in one forward pass over the
prompt and the trie of their continuations (:mod:`medinj_eval.models.tree_scorer`); models
whose attention implementation cannot take a custom 4D mask (flash, flex) encode the prompt
once and score the continuations as a padded batch instead
(:mod:`medinj_eval.models.prefix_cache`). Log-probabilities then agree with ``hf`` to float
rounding, not bit for bit. DoRA
adapters are merged into the base weights after loading (``merge_adapter=auto``):
unmerged DoRA recomputes the weight norm at every forward and is several times slower.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from lm_eval.api.registry import register_model

from medinj_eval.lm_eval_internals import HFBase
from medinj_eval.models.answer_language import pop_language
from medinj_eval.models.constrained import letter_processor
from medinj_eval.models.default_model import resolve_pretrained
from medinj_eval.models.greedy import plain_greedy, shrinking_greedy
from medinj_eval.models.next_token import NextTokenLogits, prompt_logits
from medinj_eval.models.prefix_cache import shared_prefix_loglikelihoods
from medinj_eval.models.tree_scorer import MASKABLE, tree_loglikelihoods

log = logging.getLogger(__name__)


@register_model("medinj-hf")
class MedinjHFLM(HFBase):
    """HFLM with the default model, shared-prefix log-likelihoods and merged DoRA adapters."""

    def __init__(
        self,
        pretrained: Any = "default",
        merge_adapter: str = "auto",
        prefix_cache: bool = False,
        **kwargs: Any,
    ):
        if isinstance(pretrained, str):
            pretrained = resolve_pretrained(pretrained)
        super().__init__(pretrained=pretrained, **kwargs)
        adopt_accelerate_ranks(self)
        self.prefix_cache = str(prefix_cache).lower() in ("true", "1", "yes")
        self.next_logits = NextTokenLogits() if self.prefix_cache else None
        if kwargs.get("peft") and _should_merge(self._model, str(merge_adapter)):
            log.info("merging the PEFT adapter into the base weights")
            self._model = self._model.merge_and_unload()

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Identical requests (same prompt, same generation kwargs: two tasks sharing items)
        are generated once; greedy decoding gives each the same answer."""
        first: dict[str, int] = {}
        unique = []
        for request in requests:
            if first.setdefault(repr(request.args), len(unique)) == len(unique):
                unique.append(request)
        answers = super().generate_until(unique, disable_tqdm)
        return [answers[first[repr(request.args)]] for request in requests]

    def generate_tokens(self, context, max_length: int, stop: list[str], **generation_kwargs):
        """Plain greedy requests (no constraint, no sampling) decode in a batch that sheds
        its finished rows (:mod:`medinj_eval.models.greedy`); with ``prefix_cache=true``, a
        one-token constrained answer (a single-answer letter) reads the prompt's known
        next-token logits. Other requests take lm-eval's path."""
        attention_mask = generation_kwargs.get("attention_mask")
        if attention_mask is None:
            attention_mask = torch.ones_like(context)
        one_token = max_length - context.shape[1] == 1
        language = pop_language(dict(generation_kwargs))  # a look: the patch pops it itself
        if self.backend != "causal" or generation_kwargs.get("do_sample"):
            return super().generate_tokens(context, max_length, stop, **generation_kwargs)
        if language is not None and one_token and self.next_logits is not None:
            with self._autocast():
                logits = prompt_logits(self.model, context, attention_mask, self.next_logits)
            processor = letter_processor(self.tokenizer, self.model, context.shape[1], language)
            tokens = processor(context, logits).argmax(dim=-1)
            return torch.cat([context, tokens[:, None]], dim=1)
        if (
            generation_kwargs.get("temperature")
            or set(generation_kwargs) - {"attention_mask", "do_sample", "temperature"}
            or not plain_greedy(self.model.generation_config)
        ):
            return super().generate_tokens(context, max_length, stop, **generation_kwargs)
        with self._autocast():
            return shrinking_greedy(
                self.model, self.tokenizer, context, attention_mask, max_length, stop,
                self.tokenizer.pad_token_id, self.next_logits,
            )  # fmt: skip

    def _autocast(self):
        """lm-eval's mixed-precision setting, as its own generation applies it."""
        return torch.autocast(
            device_type=self.device.type,
            dtype=self.mixed_precision_dtype,
            enabled=self.mixed_precision_dtype is not None,
        )

    def score_tokens(self, requests, disable_tqdm: bool = False, override_bs=None):
        """With ``prefix_cache=true``, score each shared context's continuations together."""
        if not self.prefix_cache or self.backend != "causal":
            return super().score_tokens(requests, disable_tqdm, override_bs)
        common = dict(
            on_result=lambda req, ans: self.cache_hook.add_partial("loglikelihood", req, ans),
            disable_tqdm=disable_tqdm or self.rank != 0,
        )
        attention = getattr(self.model.config, "_attn_implementation", None)
        if attention in MASKABLE:
            results = tree_loglikelihoods(
                self.model, requests, self.device, self.max_length, memo=self.next_logits, **common
            )
        else:
            log.info("attention %r takes no tree mask: shared-prefix batches instead", attention)
            results = shared_prefix_loglikelihoods(
                self.model, requests, self.device, self.max_length, batch_size=32, **common
            )
        leftovers = [i for i, r in enumerate(results) if r is None]
        if leftovers:
            plain = super().score_tokens([requests[i] for i in leftovers], disable_tqdm)
            for i, answer in zip(leftovers, plain):
                results[i] = answer
        return results


def adopt_accelerate_ranks(lm: HFBase) -> None:
    """Take rank and world size from accelerate when launched with several processes.

    lm-eval's HFLM reads them from accelerate only when it counts more than one GPU; on the
    CPU (gloo) every process would run every request as rank 0 and write the results.
    """
    accelerator = getattr(lm, "accelerator", None)
    if accelerator is not None and accelerator.num_processes > 1 and lm.world_size == 1:
        ranks = accelerator.local_process_index, accelerator.num_processes
        lm.adopt_ranks(*ranks, accelerator.device)


def _should_merge(model: Any, policy: str) -> bool:
    if policy in ("false", "False", "0", "no"):
        return False
    if policy in ("true", "True", "1", "yes"):
        return True
    configs = getattr(model, "peft_config", {}) or {}
    return any(getattr(cfg, "use_dora", False) for cfg in configs.values())
