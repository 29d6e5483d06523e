"""Length-controlled judge scores: how a system would score if its answers were as long as
the references.

AlpacaEval 2's length-controlled win rate (Dubois et al., 2024) fits the judge's preference
on the model and on a length term, then predicts it with the length term set to zero. Here
the same idea for pointwise scores, by ordinary least squares over every judged answer of
every system compared:

    s_ij = a_j + b * d_ij + e_ij,   d_ij = ln((1 + w(answer_ij)) / (1 + w(reference_i)))

with ``s_ij`` the judge's score of system j's answer to item i, ``w`` a length in words and
``b`` one slope shared by the systems (the judge's taste for length). The length-controlled
score of system j is ``a_j``, its predicted score at zero length difference. 95% CIs:
percentile bootstrap resampling items (every system's answer to a drawn item comes with it),
refitting each draw. The slope is identified by how scores move with length within the
systems; a system whose answers all differ in length by the same factor from another's is
only separated from it through that within-system relation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JudgedAnswer:
    system: str
    item: str
    score: float
    answer_words: int
    reference_words: int


def length_term(answer_words: int, reference_words: int) -> float:
    """``d = ln((1 + answer) / (1 + reference))``: 0 when as long as the reference."""
    return math.log((1 + answer_words) / (1 + reference_words))


def _fit(systems: list[str], rows: Sequence[JudgedAnswer]) -> tuple[np.ndarray, float] | None:
    """(a_j per system, b), or None when the design is singular (one length everywhere)."""
    index = {s: k for k, s in enumerate(systems)}
    x = np.zeros((len(rows), len(systems) + 1))
    for r, row in enumerate(rows):
        x[r, index[row.system]] = 1.0
        x[r, -1] = length_term(row.answer_words, row.reference_words)
    y = np.array([row.score for row in rows])
    if np.linalg.matrix_rank(x) < x.shape[1]:
        return None
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef[:-1], float(coef[-1])


def length_controlled(
    rows: Sequence[JudgedAnswer], resamples: int = 1000, seed: int = 0
) -> dict[str, object]:
    """Per system: raw mean, length-controlled score and its 95% CI, mean length term; the
    shared slope ``b``. Scores are None where the fit is singular."""
    systems = sorted({row.system for row in rows})
    out: dict[str, object] = {"formula": "s = a_system + b * ln((1+w_answer)/(1+w_reference))"}
    fitted = _fit(systems, rows)
    by_item: dict[str, list[JudgedAnswer]] = {}
    for row in rows:
        by_item.setdefault(row.item, []).append(row)
    items = list(by_item)
    rng = np.random.default_rng(seed)
    draws: list[np.ndarray] = []
    for _ in range(resamples if fitted else 0):
        picked = rng.integers(0, len(items), len(items))
        sample = [row for i in picked for row in by_item[items[i]]]
        if {row.system for row in sample} != set(systems):
            continue
        refit = _fit(systems, sample)
        if refit is not None:
            draws.append(refit[0])
    out["slope"] = fitted[1] if fitted else None
    out["systems"] = {}
    for k, system in enumerate(systems):
        mine = [row for row in rows if row.system == system]
        entry = {
            "n": len(mine),
            "raw": float(np.mean([row.score for row in mine])),
            "mean_length_term": float(
                np.mean([length_term(r.answer_words, r.reference_words) for r in mine])
            ),
            "length_controlled": float(fitted[0][k]) if fitted else None,
            "ci95": None,
        }
        if draws:
            low, high = np.percentile([d[k] for d in draws], [2.5, 97.5])
            entry["ci95"] = (float(low), float(high))
        out["systems"][system] = entry  # type: ignore[index]
    return out
