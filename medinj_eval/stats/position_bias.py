"""Position bias from answer-order variants (MedInjection-FR protocol).

For every task ``T`` logged together with ``T_perm1`` and ``T_perm2`` (same items, options
permuted, gold remapped): EM per order and pooled over the three; the consistency rate,
the share of items whose chosen answer *content* (the option texts, not the letters) is
the same non-empty set under every order; and the chosen-letter distribution against
the gold-letter distribution, pooled over the orders. A model without position bias
picks the same content whatever its letter, and its letter distribution follows gold's.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from medinj_eval.runs import Run
from medinj_eval.tasks.predictions import predicted_letters

PERMS = ("perm1", "perm2")


def permuted_families(run: Run) -> list[str]:
    """Base tasks logged with both permutations."""
    return [t for t in run.tasks if all(f"{t}_{p}" in run.samples for p in PERMS)]


def _chosen(run: Run, task: str) -> dict[str, tuple[frozenset[str], dict[str, Any], float]]:
    """item id -> (chosen letters, doc, em) for one order."""
    config = (run.results.get("configs") or {}).get(task, {})
    output_type = config.get("output_type", "generate_until")
    meta = config.get("metadata") or {}
    parser, mode = meta.get("parser", "strict"), meta.get("mode")
    out = {}
    for row in run.samples[task]:
        doc = row["doc"]
        pred = predicted_letters(doc, row["filtered_resps"], output_type, parser, mode)
        out[str(doc["id"])] = (pred, doc, float(row["em"] if "em" in row else row["acc"]))
    return out


def _content(letters: frozenset[str], doc: dict[str, Any]) -> frozenset[str]:
    text_of = dict(zip(doc["letters"], doc["options"]))
    return frozenset(text_of[letter] for letter in letters)


def position_bias(run: Run, task: str) -> dict[str, Any]:
    """The position-bias record of one base task (see the module docstring)."""
    orders = {"original": _chosen(run, task)}
    orders.update({p: _chosen(run, f"{task}_{p}") for p in PERMS})
    ids = sorted(set.intersection(*(set(o) for o in orders.values())))
    em = {name: sum(o[i][2] for i in ids) / len(ids) for name, o in orders.items()}
    consistent = 0
    chosen_letters: Counter[str] = Counter()
    gold_letters: Counter[str] = Counter()
    for item in ids:
        contents = {_content(o[item][0], o[item][1]) for o in orders.values()}
        consistent += len(contents) == 1 and frozenset() not in contents
        for pred, doc, _ in (o[item] for o in orders.values()):
            chosen_letters.update(pred)
            gold_letters.update(doc["gold"])
    return {
        "task": task,
        "n_items": len(ids),
        "em": em,
        "em_pooled": sum(em.values()) / len(em),
        "consistency_rate": consistent / len(ids),
        "chosen_letters": dict(sorted(chosen_letters.items())),
        "gold_letters": dict(sorted(gold_letters.items())),
    }


def run_position_bias(run: Run) -> list[dict[str, Any]]:
    return [position_bias(run, task) for task in permuted_families(run)]
