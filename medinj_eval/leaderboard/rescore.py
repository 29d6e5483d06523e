"""Scores of logged samples recomputed from the raw model responses and the documents.

The leaderboard never trusts a logged score: each item is re-scored with the package's own
parser and metric functions, and each document is re-hashed as lm-eval hashes it.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np

from medinj_eval.tasks.mcq import item_scores
from medinj_eval.tasks.predictions import predicted_letters


def doc_hash(doc: dict[str, Any]) -> str:
    """lm-eval's ``doc_hash``: sha256 of ``json.dumps(doc, indent=2, ensure_ascii=False)``."""
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rescore(sample: dict[str, Any], config: dict[str, Any]) -> dict[str, float | None]:
    """Item metrics from the sample's responses: MCQ letter sets, or the cloze argmax."""
    doc = sample["doc"]
    output_type = config.get("output_type", "generate_until")
    if "letters" in doc:
        parser = (config.get("metadata") or {}).get("parser", "strict")
        return item_scores(
            predicted_letters(doc, sample["filtered_resps"], output_type, parser), doc
        )
    lls = [float(r[0]) for r in sample["filtered_resps"]]
    return {"acc": float(int(np.argmax(lls)) == int(doc["gold"]))}


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
