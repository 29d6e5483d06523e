"""The lm-eval Task class of every letter-answer MCQ task, in its three decoding modes.

``metadata.mode`` picks the protocol (MedInjection-FR's evaluation protocol):

* ``greedy``: generation, ``max_gen_toks`` 1 (single answer) or 2 x options (multi).
* ``constrained``: the same generation restricted to the item's answer language
  (:mod:`medinj_eval.models.answer_language`): a logits mask on ``hf``/``medinj-hf``,
  structured outputs on ``vllm`` and ``medinj-api``; other backends are refused.
* ``loglik``: highest log-probability among option letters (single) or among every
  non-empty answer set (multi).
* ``optiontext``: highest log-probability of an option's *text* after the prompt (EnMed's
  option scoring), and the same divided by the text's length in characters (``acc_norm``,
  as lm-eval normalises). ``acc``: the chosen option is the item's only gold (an item with
  several golds scores 0); ``acc_any``: it is one of the golds.

``metadata.parser`` is ``strict`` (default) or ``lenient`` (MediQAl "Réponse : X").
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from lm_eval.api.instance import Instance

from medinj_eval.metrics import exact_match, hamming_score, is_valid
from medinj_eval.metrics.aggregate import split_by_question_type
from medinj_eval.models.answer_language import mark
from medinj_eval.tasks.base import MedinjTask, register_item_metrics
from medinj_eval.tasks.predictions import PARSERS, predicted_letters

MODES = ("greedy", "constrained", "loglik", "optiontext")

ITEM_METRICS = (
    "acc",
    "acc_any",
    "acc_norm",
    "acc_norm_any",
    "em",
    "hamming",
    "valid",
    "em_understanding",
    "em_reasoning",
    "hamming_understanding",
    "hamming_reasoning",
)


register_item_metrics(ITEM_METRICS)


class MedinjMCQTask(MedinjTask):
    """ConfigurableTask with per-item generation budgets, constraints and set scoring."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(config=config, **kwargs)
        self.mode = self.meta.get("mode", "greedy")
        if self.mode not in MODES:
            raise ValueError(f"{self.config.task}: metadata.mode must be one of {MODES}")
        self.parser = self.meta.get("parser", "strict")
        if self.parser not in PARSERS:
            raise ValueError(f"{self.config.task}: metadata.parser must be one of {list(PARSERS)}")

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
            mark(gen, "".join(doc["letters"]), single=not doc["multi"])
        return gen

    def process_results(self, doc: dict, results: list) -> dict[str, float | None]:
        if self.mode == "optiontext":
            scores = option_text_scores(doc, [float(r[0]) for r in results])
        else:
            scores = item_scores(
                predicted_letters(doc, results, self.OUTPUT_TYPE, self.parser), doc
            )
        return {k: v for k, v in scores.items() if k in self._metric_fn_list}


def item_scores(pred: frozenset[str], doc: dict) -> dict[str, float | None]:
    """Every item-level score; split metrics are None for items of the other question type."""
    em = exact_match(pred, doc["gold"])
    hamming = hamming_score(pred, doc["gold"])
    split = split_by_question_type({"em": em, "hamming": hamming}, doc.get("question_type"))
    return {**split, "valid": is_valid(pred)}


def option_text_scores(doc: dict, loglikelihoods: list[float]) -> dict[str, float]:
    """``acc``/``acc_any`` of the option whose text is most likely, and ``acc_norm``/
    ``acc_norm_any`` of the one most likely per character (log-likelihood / len(text))."""
    gold = set(doc["gold"])
    norm = [ll / max(len(text), 1) for ll, text in zip(loglikelihoods, doc["options"])]
    scores = {}
    for name, values in (("acc", loglikelihoods), ("acc_norm", norm)):
        chosen = doc["letters"][max(range(len(values)), key=values.__getitem__)]
        scores[name] = exact_match({chosen}, gold)
        scores[f"{name}_any"] = 1.0 if chosen in gold else 0.0
    return scores
