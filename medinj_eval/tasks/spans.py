"""The lm-eval Task class of the extractive QA tasks (EnMed ExtQA, any SQuAD-format set):
greedy generation of a short passage, scored by token F1 and exact match after French
normalisation, the best over the gold passages (SQuAD v1.1's protocol, EnMed's
normalisation).

``token_f1`` and ``exact_match`` follow EnMed (the question's one entity). ``token_f1_any``
and ``exact_match_any`` are medinj-eval's: the same scores, the best over every entity of
the question's group in the context (``group_answers``), since "which X does this text
mention?" has each of them as a right answer."""

from __future__ import annotations

from typing import Any

from medinj_eval.metrics.span_scores import span_exact_match, token_f1
from medinj_eval.tasks.base import MedinjTask, register_item_metrics

ITEM_METRICS = ("token_f1", "exact_match", "token_f1_any", "exact_match_any")

register_item_metrics(ITEM_METRICS)


def extracted_answer(output: str) -> str:
    """The model's passage: its first non-empty line, without an answer cue it repeated."""
    line = next((ln for ln in output.strip().splitlines() if ln.strip()), "")
    return line.strip().removeprefix("Réponse :").removeprefix("Réponse:").strip()


def span_scores(output: str, doc: dict[str, Any]) -> dict[str, float]:
    """The item metrics of one generated answer: against ``answers``, and against
    ``group_answers`` when the document carries them (the leaderboard's rescoring calls
    this too)."""
    answer = extracted_answer(output)
    scores = {
        "token_f1": token_f1(answer, doc["answers"]),
        "exact_match": span_exact_match(answer, doc["answers"]),
    }
    if doc.get("group_answers"):
        scores["token_f1_any"] = token_f1(answer, doc["group_answers"])
        scores["exact_match_any"] = span_exact_match(answer, doc["group_answers"])
    return scores


class MedinjSpanTask(MedinjTask):
    """Generation task whose items are scored against gold passages of their context."""

    def process_results(self, doc: dict, results: list) -> dict[str, float]:
        scores = span_scores(str(results[0]), doc)
        return {k: v for k, v in scores.items() if k in self._metric_fn_list}
