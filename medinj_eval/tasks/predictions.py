"""The letter set a model chose for one MCQ item, from its raw responses.

Shared by the task's ``process_results`` (scoring during the run) and by the statistics
that re-read logged samples (position bias, leaderboard re-scoring), so both agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from medinj_eval.metrics import parse_lenient, parse_strict
from medinj_eval.tasks.choices import doc_to_choice

PARSERS: dict[str, Callable[..., frozenset[str]]] = {
    "strict": parse_strict,
    "lenient": parse_lenient,
}


def predicted_letters(
    doc: dict[str, Any],
    responses: Sequence[Any],
    output_type: str,
    parser: str = "strict",
    mode: str | None = None,
) -> frozenset[str]:
    """Letters chosen: the parsed generation, or the candidate of highest log-likelihood
    (an answer set, or in ``optiontext`` mode the letter of the most likely option text).

    ``responses`` is lm-eval's per-item result list: ``[text]`` for ``generate_until``,
    ``[(loglikelihood, is_greedy), ...]`` (one per choice) for ``multiple_choice``.
    """
    if output_type == "multiple_choice":
        lls = [float(r[0]) for r in responses]
        choices = doc["letters"] if mode == "optiontext" else doc_to_choice(doc)
        return frozenset(choices[int(np.argmax(lls))].split(", "))
    return PARSERS[parser](responses[0], doc["letters"], not doc["multi"])
