"""Perturbation audit of a judge: does it reward what adds no medical content?

From a run's open-ended answers, ``n`` are drawn (``random.Random(seed)``); each gets five
controlled variants, and the judge grades the originals and the variants in one pass:

* ``padded``: the answer followed by a neutral paragraph that makes no medical claim;
* ``hedged``: the answer between an expression of uncertainty and a call to check it;
* ``authoritative``: the answer after a claim of expertise and certainty;
* ``truncated``: the first half of the answer's words;
* ``reference_sentence``: the answer followed by the reference's first sentence.

Per perturbation, over the answers judged both ways: the mean score shift (variant minus
original), its paired t-test and paired bootstrap 95% CI (as ``compare``'s cells), and the
share of verdicts that changed. A judge that rates content should not move on ``padded``,
``hedged`` and ``authoritative``, should drop on ``truncated`` and may rise on
``reference_sentence``. Written beside the run, under ``<run>/audit/<prompt>/``: every
variant with its text and verdict (``variants.jsonl``), ``audit.json`` and ``audit.md``.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from medinj_eval.atomic import write_atomic
from medinj_eval.judge import JudgeError
from medinj_eval.runs import Sample, open_ended_samples, sample_files
from medinj_eval.stats import paired

PADDING = (
    "Cette réponse a été rédigée avec attention, en tenant compte de la question posée et "
    "en veillant à la clarté de la formulation. Elle est présentée de façon structurée afin "
    "d'en faciliter la lecture et la compréhension."
)
HEDGE_BEFORE = "Je ne suis pas entièrement certain, mais il me semble que"
HEDGE_AFTER = "Cela reste toutefois à vérifier."
AUTHORITY = "En tant que médecin expert, je peux l'affirmer avec certitude :"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def first_sentence(text: str) -> str:
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0]


def half_words(text: str) -> str:
    words = text.split()
    return " ".join(words[: max(1, len(words) // 2)])


PERTURBATIONS = {
    "padded": lambda s: f"{s.candidate}\n\n{PADDING}",
    "hedged": lambda s: f"{HEDGE_BEFORE} {s.candidate} {HEDGE_AFTER}",
    "authoritative": lambda s: f"{AUTHORITY} {s.candidate}",
    "truncated": lambda s: half_words(s.candidate),
    "reference_sentence": lambda s: f"{s.candidate} {first_sentence(s.reference)}",
}
ORIGINAL = "original"


def variants(samples: list[Sample]) -> list[tuple[str, Sample]]:
    """(variant name, sample) for each answer: the original, then each perturbation."""
    out = []
    for sample in samples:
        out.append((ORIGINAL, sample))
        for name, perturb in PERTURBATIONS.items():
            out.append((name, replace(sample, candidate=perturb(sample))))
    return out


def draw(source: Path, n: int, seed: int) -> list[Sample]:
    samples = [s for f in sample_files(source) for s in open_ended_samples(f)]
    if not samples:
        raise JudgeError(f"{source}: no open-ended samples (documents with a 'reference')")
    return random.Random(seed).sample(samples, min(n, len(samples)))


def shifts(rows: list[dict[str, Any]], resamples: int, seed: int) -> dict[str, Any]:
    """Per perturbation: n, mean shift, paired t-test, bootstrap CI, share changed."""
    original = {(r["task"], r["doc_hash"]): r["score"] for r in rows if r["variant"] == ORIGINAL}
    out = {}
    for name in PERTURBATIONS:
        pairs = [
            (r["score"], original[r["task"], r["doc_hash"]])
            for r in rows
            if r["variant"] == name
            and r["score"] is not None
            and original.get((r["task"], r["doc_hash"])) is not None
        ]
        if not pairs:
            out[name] = {"n": 0}
            continue
        after, before = (np.array(x, dtype=float) for x in zip(*pairs))
        t, p = paired.paired_t_test(after, before)
        low, high = paired.paired_bootstrap_ci(after, before, n_resamples=resamples, seed=seed)
        out[name] = {
            "n": len(pairs),
            "mean_shift": float((after - before).mean()),
            "t": t,
            "p_t": p,
            "ci_low": low,
            "ci_high": high,
            "changed": float(np.mean(after != before)),
        }
    return out


def audit_run(
    source: Path, config: Any, n: int, seed: int, resamples: int = 2000, out: Path | None = None
) -> dict[str, Any]:
    """Judge ``n`` drawn answers and their variants; write and return the audit."""
    from medinj_eval.judge.runner import judge_samples

    picked = draw(source, n, seed)
    labelled = variants(picked)
    records, counters = judge_samples([s for _, s in labelled], config)
    rows = [
        {"variant": name, "task": s.task, "doc_id": s.doc_id, "doc_hash": s.doc_hash,
         "candidate": s.candidate, "score": r["score"], "status": r["status"], "raw": r["raw"]}
        for (name, s), r in zip(labelled, records)
    ]  # fmt: skip
    base = source if source.is_dir() else source.parent
    out = out or base / "audit" / config.prompt.name
    result = {
        "prompt": config.prompt.name,
        "identity": config.identity,
        "n_answers": len(picked),
        "seed": seed,
        "resamples": resamples,
        "calls_made": counters.calls,
        "perturbations": shifts(rows, resamples, seed),
    }
    write_atomic(out / "variants.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                 for r in rows))  # fmt: skip
    write_atomic(out / "audit.json", json.dumps(result, indent=2, ensure_ascii=False))
    write_atomic(out / "audit.md", markdown(result))
    result["out"] = str(out)
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Judge audit: {result['prompt']}",
        "",
        f"{result['n_answers']} answers drawn with seed {result['seed']}; each perturbation "
        "against the original answer, over the answers judged both ways. CI: paired "
        f"bootstrap, {result['resamples']} draws.",
        "",
        "| perturbation | n | mean shift [95% CI] | p (paired t) | verdicts changed |",
        "|---|---|---|---|---|",
    ]
    for name, row in result["perturbations"].items():
        if not row["n"]:
            lines.append(f"| {name} | 0 | | | |")
            continue
        lines.append(
            f"| {name} | {row['n']} | {row['mean_shift']:+.3f} [{row['ci_low']:+.3f}, "
            f"{row['ci_high']:+.3f}] | {row['p_t']:.3g} | {100 * row['changed']:.0f}% |"
        )
    return "\n".join(lines) + "\n"
