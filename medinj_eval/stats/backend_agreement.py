"""How far two runs of the same tasks agree, item by item (one model on two backends).

For each task both runs logged, items are paired by ``doc_hash`` and compared on:

* ``same_pick``: the answer chosen is the same: the highest log-likelihood choice for
  log-likelihood tasks, the parsed letter set (strict parser) for generated MCQ answers;
* ``same_output``: the generated text is identical (generation tasks);
* ``valid_a``, ``valid_b``: the share of valid answers in each run (MCQ tasks).

``differences`` lists the items that differ, with both answers, so that a disagreement
can be traced to its cause (a tie, a tokenisation of the constraint).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medinj_eval.metrics import parse_strict
from medinj_eval.runs import Run, RunError


def _response(row: dict[str, Any]) -> Any:
    resps = row.get("filtered_resps") or row.get("resps") or []
    return resps


def is_loglik(row: dict[str, Any]) -> bool:
    """lm-eval logs a log-likelihood response as ``[log-likelihood, is_greedy]`` (as strings)."""
    first = (_response(row) or [None])[0]
    pair = isinstance(first, list | tuple) and len(first) == 2
    return pair and str(first[1]) in ("True", "False")


def pick(row: dict[str, Any]) -> Any:
    """The choice index (log-likelihood) or the letter set / text (generation) of a sample."""
    resps = _response(row)
    if is_loglik(row):
        return int(np.argmax([float(r[0]) for r in resps]))
    text = resps[0] if isinstance(resps[0], str) else resps[0][0]
    doc = row.get("doc") or {}
    if "letters" in doc:
        return tuple(sorted(parse_strict(text, doc["letters"], not doc.get("multi", False))))
    return text


def output_text(row: dict[str, Any]) -> str | None:
    if is_loglik(row):
        return None
    first = _response(row)[0]
    return first if isinstance(first, str) else first[0]


def task_agreement(rows_a: list[dict], rows_b: list[dict]) -> dict[str, Any]:
    """Agreement figures of one task (see the module docstring)."""
    by_hash = {r["doc_hash"]: r for r in rows_b}
    pairs = [(r, by_hash[r["doc_hash"]]) for r in rows_a if r["doc_hash"] in by_hash]
    same_pick = [pick(a) == pick(b) for a, b in pairs]
    out: dict[str, Any] = {
        "n": len(pairs),
        "kind": "loglik" if pairs and is_loglik(pairs[0][0]) else "generate",
        "same_pick": float(np.mean(same_pick)) if pairs else None,
    }
    if out["kind"] == "generate" and pairs:
        out["same_output"] = float(np.mean([output_text(a) == output_text(b) for a, b in pairs]))
    if pairs and "valid" in pairs[0][0]:
        out["valid_a"] = float(np.mean([a["valid"] for a, _ in pairs]))
        out["valid_b"] = float(np.mean([b["valid"] for _, b in pairs]))
    out["differences"] = [
        {"doc_id": a["doc_id"], "a": output_text(a) or pick(a), "b": output_text(b) or pick(b)}
        for (a, b), same in zip(pairs, same_pick)
        if not same
    ]
    return out


def backend_agreement(a: Run, b: Run) -> dict[str, dict[str, Any]]:
    """Per task both runs logged, the agreement of their items; runs without a task in
    common are refused (there is nothing to agree on)."""
    shared = sorted(set(a.samples) & set(b.samples))
    if not shared:
        raise RunError(
            f"{a.path.parent} and {b.path.parent} share no task ({', '.join(a.tasks)} vs "
            f"{', '.join(b.tasks)}): agreement compares two runs of the same tasks"
        )
    return {task: task_agreement(a.samples[task], b.samples[task]) for task in shared}


def agreement_table(figures: dict[str, dict[str, Any]], names: tuple[str, str]) -> str:
    """A Markdown table of :func:`backend_agreement`'s figures."""
    a, b = names
    lines = [
        f"| task | items | same pick | same output | valid {a} | valid {b} |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def cell(value: Any) -> str:
        return "" if value is None else f"{value:.3f}"

    for task, f in figures.items():
        lines.append(
            f"| {task} | {f['n']} | {cell(f['same_pick'])} | {cell(f.get('same_output'))} "
            f"| {cell(f.get('valid_a'))} | {cell(f.get('valid_b'))} |"
        )
    return "\n".join(lines)
