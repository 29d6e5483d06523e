"""Scores of every labelled pair by the automatic metrics and by judge prompts."""

from __future__ import annotations

from medinj_eval.judge.runner import JudgeConfig, judge_samples
from medinj_eval.metaeval.pairs import Pair
from medinj_eval.metrics.bertscore import bertscore_f1
from medinj_eval.metrics.bleu import sentence_bleu
from medinj_eval.metrics.rouge import ROUGE_TYPES, rouge_f
from medinj_eval.runs import Sample


def automatic_scores(pairs: list[Pair], encoder: str | None = None) -> dict[str, list[float]]:
    """BLEU, ROUGE-1/2/L F and BERTScore F1 of each pair, as the open-ended tasks score them."""
    rouge = [rouge_f(p.candidate, p.reference) for p in pairs]
    scores = {"bleu": [sentence_bleu(p.candidate, p.reference) for p in pairs]}
    scores.update({name: [r[name] for r in rouge] for name in ROUGE_TYPES})
    scores["bertscore_f1"] = bertscore_f1(
        [p.candidate for p in pairs], [p.reference for p in pairs], encoder
    )
    return scores


def judge_scores(pairs: list[Pair], config: JudgeConfig) -> list[float | None]:
    """The judge's score of each pair (``None`` when its verdict is missing)."""
    samples = [
        Sample(
            task=p.generator,
            doc_id=p.question_id,
            question=p.question,
            reference=p.reference,
            candidate=p.candidate,
        )
        for p in pairs
    ]
    records, _ = judge_samples(samples, config)
    return [r["score"] for r in records]
