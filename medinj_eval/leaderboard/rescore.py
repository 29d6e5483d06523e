"""Scores of logged samples recomputed from the raw model responses and the documents.

The leaderboard never trusts a logged score: each item is re-scored with the package's own
parser and metric functions, and each document is re-hashed as lm-eval hashes it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from medinj_eval.tasks.mcq import item_scores, option_text_scores
from medinj_eval.tasks.predictions import predicted_letters
from medinj_eval.tasks.spans import span_scores


def rescore(sample: dict[str, Any], config: dict[str, Any]) -> dict[str, float | None]:
    """Item metrics from the sample's responses: MCQ letter sets, open-ended overlap scores,
    extracted passages, or the cloze argmax."""
    doc = sample["doc"]
    if "reference" in doc:
        return open_scores(sample, config)
    if "answers" in doc:
        return span_scores(str(sample["filtered_resps"][0]), doc)
    output_type = config.get("output_type", "generate_until")
    if "letters" in doc:
        meta = config.get("metadata") or {}
        if meta.get("mode") == "optiontext":
            return option_text_scores(doc, [float(r[0]) for r in sample["filtered_resps"]])
        pred = predicted_letters(
            doc, sample["filtered_resps"], output_type, meta.get("parser", "strict")
        )
        return item_scores(pred, doc)
    lls = [float(r[0]) for r in sample["filtered_resps"]]
    return {"acc": float(int(np.argmax(lls)) == int(doc["gold"]))}


def _bertscore_settings(config: dict[str, Any]) -> tuple[str | None, int | None]:
    meta = config.get("metadata") or {}
    return meta.get("bertscore_encoder"), meta.get("bertscore_layers")


def bertscore_encoder_name(samples: list[dict[str, Any]], config: dict[str, Any]) -> str | None:
    """The encoder an open-ended task's BERTScore used (None for other tasks)."""
    if not samples or "reference" not in samples[0]["doc"]:
        return None
    from medinj_eval.metrics.bertscore import default_encoder

    encoder, _ = _bertscore_settings(config)
    return encoder or Path(default_encoder()).parent.name


def encoder_available(encoder: str | None) -> bool:
    """Whether this machine holds the encoder: the default one, a folder, or a hub id in the
    local hub cache."""
    from medinj_eval.provenance import hub_commit

    return encoder is None or Path(encoder).is_dir() or hub_commit(encoder, None) is not None


def open_scores(sample: dict[str, Any], config: dict[str, Any]) -> dict[str, float | None]:
    """BLEU and ROUGE recomputed from the answer; BERTScore recomputed with the task's
    encoder when this machine has it, else taken as the sample recorded it."""
    from medinj_eval.metrics.aggregate import split_by_question_type
    from medinj_eval.tasks.open_ended import lexical_scores, overlap_scores

    doc = sample["doc"]
    candidate = str(sample["filtered_resps"][0]).strip()
    encoder, layers = _bertscore_settings(config)
    if encoder_available(encoder):
        scores = overlap_scores(candidate, doc["reference"], encoder, layers)
    else:
        scores = lexical_scores(candidate, doc["reference"])
        scores["bertscore_f1"] = sample.get("bertscore_f1")
    scores = split_by_question_type(scores, doc.get("question_type"))
    listed = {m["metric"] for m in config.get("metric_list") or []}
    return {k: v for k, v in scores.items() if k in listed}


def tolerance(metric: str) -> float:
    """Recomputed means must match: exactly up to float rounding, BERTScore (an encoder's
    floating-point sums, which vary with the machine) to 1e-5."""
    return 1e-5 if metric.startswith("bertscore") else 1e-9


def task_metrics(samples: list[dict[str, Any]], config: dict[str, Any]) -> dict[str, float | None]:
    """Mean of every item metric over the items it applies to (None items skipped); a
    metric that applies to no item is None (lm-eval writes NaN there)."""
    values: dict[str, list[float]] = {}
    for sample in samples:
        for name, value in rescore(sample, config).items():
            values.setdefault(name, [])
            if value is not None:
                values[name].append(float(value))
    return {k: (sum(v) / len(v) if v else None) for k, v in values.items()}


def same(a: float | None, b: float | None, tol: float = 1e-9) -> bool:
    """Equal within ``tol``; None and NaN stand for 'no item' and match each other."""
    missing_a = a is None or (isinstance(a, float) and math.isnan(a))
    missing_b = b is None or (isinstance(b, float) and math.isnan(b))
    if missing_a or missing_b:
        return missing_a and missing_b
    return abs(float(a) - float(b)) <= tol
