"""The lm-eval Task class of every letter-answer MCQ task, in its three decoding modes.

``metadata.mode`` picks the protocol (DATASETS.md, MedInjection-FR):

* ``greedy``: generation, ``max_gen_toks`` 1 (single answer) or 2 x options (multi).
* ``constrained``: the same generation with the option-letter mask of
  :mod:`medinj_eval.models.constrained` (``--model hf`` or ``medinj-hf``).
* ``loglik``: highest log-probability among option letters (single) or among every
  non-empty answer set (multi).

``metadata.parser`` is ``strict`` (default) or ``lenient`` (MediQAl "Réponse : X").
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from lm_eval.api.instance import Instance
from lm_eval.api.registry import metric_registry, register_metric
from lm_eval.api.task import ConfigurableTask

from medinj_eval.metrics import exact_match, hamming_score, is_valid
from medinj_eval.models.constrained import CONSTRAINT_LETTERS, CONSTRAINT_SINGLE, install_hf_hook
from medinj_eval.tasks.predictions import PARSERS, predicted_letters

MODES = ("greedy", "constrained", "loglik")

ITEM_METRICS = (
    "em",
    "hamming",
    "valid",
    "em_understanding",
    "em_reasoning",
    "hamming_understanding",
    "hamming_reasoning",
)


def _passthrough(items):
    """Item scores are computed in process_results; lm-eval only needs the name registered."""
    return items


# Registered so lm-eval does not look the names up in HF `evaluate` (network, minutes).
for _name in ITEM_METRICS:
    if _name not in metric_registry:
        register_metric(metric=_name, higher_is_better=True)(_passthrough)


class MedinjMCQTask(ConfigurableTask):
    """ConfigurableTask with per-item generation budgets, constraints and set scoring."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=config, **kwargs)
        meta = self.config.metadata or {}
        self.mode = meta.get("mode", "greedy")
        if self.mode not in MODES:
            raise ValueError(f"{self.config.task}: metadata.mode must be one of {MODES}")
        self.parser = meta.get("parser", "strict")
        if self.parser not in PARSERS:
            raise ValueError(f"{self.config.task}: metadata.parser must be one of {list(PARSERS)}")
        if self.mode == "constrained":
            install_hf_hook()
        self._plain_description = self.config.description or ""

    def fewshot_context(self, doc: dict, num_fewshot: int, **kwargs: Any):
        """lm-eval's context, with the item's system message verbatim as the chat system turn.

        The YAML description ends with a blank line that separates the system text from the
        question in plain-text prompts; as a chat turn of its own it must not carry it.
        """
        chat = kwargs.get("apply_chat_template", False)
        plain = self._plain_description
        self.config.description = plain.rstrip() if chat else plain
        return super().fewshot_context(doc=doc, num_fewshot=num_fewshot, **kwargs)

    def construct_requests(self, doc: dict, ctx: Any, **kwargs: Any):
        if self.OUTPUT_TYPE != "generate_until":
            return super().construct_requests(doc, ctx, **kwargs)
        kwargs.pop("apply_chat_template", None)
        kwargs.pop("chat_template", None)
        return Instance(
            request_type="generate_until",
            doc=doc,
            arguments=(ctx, self.generation_kwargs_for(doc)),
            idx=0,
            **kwargs,
        )

    def generation_kwargs_for(self, doc: dict) -> dict[str, Any]:
        """The task's generation kwargs with this item's token budget and constraint."""
        gen = deepcopy(self.config.generation_kwargs or {})
        gen["max_gen_toks"] = 2 * len(doc["letters"]) if doc["multi"] else 1
        if self.mode == "constrained":
            gen[CONSTRAINT_LETTERS] = "".join(doc["letters"])
            gen[CONSTRAINT_SINGLE] = not doc["multi"]
        return gen

    def process_results(self, doc: dict, results: list) -> dict[str, float | None]:
        pred = predicted_letters(doc, results, self.OUTPUT_TYPE, self.parser)
        scores = item_scores(pred, doc)
        return {k: v for k, v in scores.items() if k in self._metric_fn_list}


def item_scores(pred: frozenset[str], doc: dict) -> dict[str, float | None]:
    """Every item-level score; split metrics are None for items of the other question type."""
    em = exact_match(pred, doc["gold"])
    hamming = hamming_score(pred, doc["gold"])
    qtype = (doc.get("question_type") or "").lower()
    scores: dict[str, float | None] = {
        "em": em,
        "hamming": hamming,
        "valid": is_valid(pred),
    }
    for split in ("understanding", "reasoning"):
        applies = qtype == split
        scores[f"em_{split}"] = em if applies else None
        scores[f"hamming_{split}"] = hamming if applies else None
    return scores
