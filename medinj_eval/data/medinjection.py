"""MedInjection-FR Native and Translated MCQ files (``mcqu`` single, ``mcq`` multiple).

Hub: ``MedInjection-FR/{Native,Translated}``. Local folder layout, as on the hub:
``<dir>/<Source>/{Train,Validation,Test}/<subset>/<subset>_{train,val,test}.json``.
Item schema: ``messages`` (system/user, then an ``assistant`` turn with the reference),
``classes`` (option letters, 3 to 10), ``answer`` ("A, C" or a list), optional ``user_prompt``.
The prompt is the item's own system and user messages; option texts are read from the
user message's option lines (needed only by the answer-order variants).
"""

from __future__ import annotations

import re
from typing import Any

from medinj_eval.benchmarks import Benchmark
from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.items import McqItem, options_from_message, require, row_id


def parse_row(row: dict[str, Any], file: str, index: int, bench: Benchmark) -> McqItem:
    """One row; option texts come from the user message's option lines when it has them
    (only the answer-order variants need them)."""
    messages = require(row, "messages", file, index)
    system, user = prompt_turns(messages, file, index)
    classes = require(row, "classes", file, index)
    if not isinstance(classes, list) or not classes:
        raise DataValidationError(file, index, "classes", "no options (empty or not a list)")
    letters = [str(c).strip().upper() for c in classes]
    options = options_from_message(user, letters) or [""] * len(letters)
    return McqItem(
        id=row_id(row, index),
        question=user,
        letters=letters,
        options=options,
        gold=sorted(set(_answer_letters(require(row, "answer", file, index)))),
        multi=bench.multi,
        system=system,
        user_message=user,
        extra={"options_field": "messages", "answer_field": "answer", "origin": (file, index)},
    )


def prompt_turns(messages: Any, file: str, index: int) -> tuple[str, str]:
    if not isinstance(messages, list):
        raise DataValidationError(file, index, "messages", "expected a list of chat turns")
    system = user = None
    for turn in messages:
        if not isinstance(turn, dict) or "role" not in turn or "content" not in turn:
            raise DataValidationError(file, index, "messages", "turn without role/content")
        if turn["role"] == "system" and system is None:
            system = turn["content"]
        elif turn["role"] == "user" and user is None:
            user = turn["content"]
    if not user:
        raise DataValidationError(file, index, "messages", "no user turn")
    return system or "", user


def _answer_letters(answer: Any) -> list[str]:
    if isinstance(answer, list):
        return [str(a).strip().upper() for a in answer if str(a).strip()]
    return [a.upper() for a in re.split(r"[\s,]+", str(answer)) if a]
