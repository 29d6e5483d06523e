"""What a judged cell of a comparison says besides its scores: whose scores they are (each
run's judge), which systems were graded by their own weights, and length-controlled scores
(:mod:`medinj_eval.stats.length_control`)."""

from __future__ import annotations

import math
from typing import Any

from medinj_eval.judge.identity import is_self_judged, judge_label
from medinj_eval.runs import JUDGE_PREFIX, Run
from medinj_eval.stats.length_control import JudgedAnswer, length_controlled


def judge_facts(
    runs: list[Run], task: str, metric: str, keys: list[str], resamples: int, seed: int
) -> dict[str, Any]:
    """``judges`` (run -> judge label), ``one_judge``, ``self_judged`` (runs) and
    ``length_controlled`` over the items ``keys`` every run has."""
    prompt = metric[len(JUDGE_PREFIX) :]
    identities = {run.name: run.judge_identity.get(prompt) for run in runs}
    labels = {name: judge_label(identity) for name, identity in identities.items()}
    rows = []
    for run in runs:
        answers = {a.item: a for a in judged_answers(run, task, metric)}
        rows += [answers[key] for key in keys if key in answers]
    return {
        "judges": labels,
        "one_judge": len(set(labels.values())) == 1,
        "self_judged": [
            run.name
            for run in runs
            if is_self_judged(identities[run.name], (run.manifest or {}).get("model"))
        ],
        "length_controlled": length_controlled(rows, resamples, seed) if rows else None,
    }


def judged_answers(
    run: Run, task: str, metric: str, system: str | None = None, item_prefix: str = ""
) -> list[JudgedAnswer]:
    """The judged answers of one run's open-ended task: score (``metric``) and the answer's and
    reference's lengths, for every item with a score and a reference."""
    scores, lengths = run.item_scores(task, metric), run.answer_lengths(task)
    return [
        JudgedAnswer(system or run.name, item_prefix + key, score, *lengths[key])
        for key, score in scores.items()
        if key in lengths and not math.isnan(score)
    ]


def mixed_judge_warnings(cells: list[dict[str, Any]]) -> list[str]:
    """A judged cell whose runs were graded by different judges: its scores do not compare."""
    out = []
    for cell in cells:
        if cell.get("judges") and not cell["one_judge"]:
            judges = "; ".join(f"{run}: {label}" for run, label in cell["judges"].items())
            out.append(f"{cell['cell']} was judged by different judges ({judges})")
    return out
