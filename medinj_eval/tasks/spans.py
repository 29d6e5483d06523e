"""The lm-eval Task class of the extractive QA tasks (EnMed ExtQA, any SQuAD-format set):
greedy generation of a short passage, scored by token F1 and exact match after French
normalisation, the best over the gold passages (SQuAD v1.1's protocol, EnMed's
normalisation)."""

from __future__ import annotations

from medinj_eval.metrics.span_scores import span_exact_match, token_f1
from medinj_eval.tasks.base import MedinjTask, register_item_metrics

ITEM_METRICS = ("token_f1", "exact_match")

register_item_metrics(ITEM_METRICS)


def extracted_answer(output: str) -> str:
    """The model's passage: its first non-empty line, without an answer cue it repeated."""
    line = next((ln for ln in output.strip().splitlines() if ln.strip()), "")
    return line.strip().removeprefix("Réponse :").removeprefix("Réponse:").strip()


def span_scores(output: str, golds: list[str]) -> dict[str, float]:
    """``token_f1`` and ``exact_match`` of one generated answer (the leaderboard's rescoring
    calls this too)."""
    answer = extracted_answer(output)
    return {"token_f1": token_f1(answer, golds), "exact_match": span_exact_match(answer, golds)}


class MedinjSpanTask(MedinjTask):
    """Generation task whose items are scored against gold passages of their context."""

    def process_results(self, doc: dict, results: list) -> dict[str, float]:
        scores = span_scores(str(results[0]), doc["answers"])
        return {k: v for k, v in scores.items() if k in self._metric_fn_list}
