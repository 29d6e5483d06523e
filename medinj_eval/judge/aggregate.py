"""Per-task summary of judge records: mean score over judged samples, counts of missing ones."""

from __future__ import annotations

import statistics
from typing import Any

from medinj_eval.metrics.aggregate import QUESTION_TYPES


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """``mean`` = sum(score) / n_judged over samples with a verdict; missing verdicts are
    excluded from the mean and counted in ``n_missing`` = ``n_failed`` (no usable reply: a
    rerun retries them) + ``n_unparsable`` (replies that gave no verdict).
    MediQAl's question types get their own means; dimension means when the prompt has them."""
    judged = [r for r in records if r["score"] is not None]
    out: dict[str, Any] = {
        "n_total": len(records),
        "n_judged": len(judged),
        "n_missing": len(records) - len(judged),
        "n_failed": sum(1 for r in records if str(r.get("status", "")).startswith("failed")),
        "n_unparsable": sum(1 for r in records if r.get("status") == "unparsable"),
        "mean": statistics.fmean(r["score"] for r in judged) if judged else None,
    }
    for qtype in QUESTION_TYPES:
        scores = [r["score"] for r in judged if r.get("question_type", "").lower() == qtype]
        if scores:
            out[f"mean_{qtype}"] = statistics.fmean(scores)
    dims = sorted({d for r in judged for d in r.get("dimensions") or {}})
    if dims:
        out["dimensions"] = {d: statistics.fmean(r["dimensions"][d] for r in judged) for d in dims}
    return out
