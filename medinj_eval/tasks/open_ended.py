"""The lm-eval Task class of the open-ended tasks (MediQAl ``oeq``, MedInjection-FR ``oeq``,
EnMed AbsQA): greedy generation of up to 512 tokens, scored against the reference by BLEU,
ROUGE-1/2/L and BERTScore F1, each also split by MediQAl question type.

The LLM judge is not part of the task: ``medinj-eval judge`` reads the logged samples.
Task metadata (or ``--metadata``) keys: ``bertscore_encoder`` (a local folder or hub id),
``bertscore_layers`` (the layer whose embeddings are compared; default: the last).
"""

from __future__ import annotations

from medinj_eval.metrics.aggregate import split_by_question_type
from medinj_eval.metrics.bertscore import bertscore_f1
from medinj_eval.metrics.bleu import sentence_bleu
from medinj_eval.metrics.rouge import rouge_f
from medinj_eval.tasks.base import MedinjTask, register_item_metrics

BASE_METRICS = ("bleu", "rouge1", "rouge2", "rougeL", "bertscore_f1")
ITEM_METRICS = BASE_METRICS + tuple(
    f"{m}_{split}" for m in BASE_METRICS for split in ("understanding", "reasoning")
)

register_item_metrics(ITEM_METRICS)


def lexical_scores(candidate: str, reference: str) -> dict[str, float]:
    """BLEU and ROUGE-1/2/L F of one answer: the scores that need no encoder."""
    return {"bleu": sentence_bleu(candidate, reference), **rouge_f(candidate, reference)}


def overlap_scores(
    candidate: str, reference: str, encoder: str | None = None, layers: int | None = None
) -> dict[str, float]:
    """BLEU, ROUGE-1/2/L F and BERTScore F1 of one answer (the scorers meta-eval also uses)."""
    scores = lexical_scores(candidate, reference)
    scores["bertscore_f1"] = bertscore_f1([candidate], [reference], encoder, layers)[0]
    return scores


class MedinjOpenTask(MedinjTask):
    """Generation task whose items are scored by text overlap with the reference answer."""

    def process_results(self, doc: dict, results: list) -> dict[str, float | None]:
        candidate = results[0] if isinstance(results[0], str) else str(results[0])
        scores = overlap_scores(
            candidate.strip(),
            doc["reference"],
            self.meta.get("bertscore_encoder"),
            self.meta.get("bertscore_layers"),
        )
        scores = split_by_question_type(scores, doc.get("question_type"))
        return {k: v for k, v in scores.items() if k in self._metric_fn_list}
