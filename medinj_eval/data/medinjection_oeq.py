"""MedInjection-FR Native and Translated ``oeq`` files (open-ended, reference in the
assistant turn).

Local layout as on the hub: ``<dir>/<Source>/{Train,Validation,Test}/oeq/oeq_{split}.json``.
The prompt is the item's own system and user messages; the reference is its ``assistant``
turn (``answer`` when the turn is missing).
"""

from __future__ import annotations

from typing import Any

from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.items import require, row_id
from medinj_eval.data.medinjection import prompt_turns
from medinj_eval.data.open_ended import OpenItem


def parse_row(row: dict[str, Any], file: str, index: int, bench: Any = None) -> OpenItem:
    messages = require(row, "messages", file, index)
    system, user = prompt_turns(messages, file, index)
    reference = next(
        (
            t.get("content")
            for t in messages
            if isinstance(t, dict) and t.get("role") == "assistant"
        ),
        row.get("answer"),
    )
    if not isinstance(reference, str):
        raise DataValidationError(file, index, "messages", "no assistant turn with the reference")
    return OpenItem(
        id=row_id(row, index),
        question=user,
        reference=reference,
        system=system,
        user_message=user,
    )
