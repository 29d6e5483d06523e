"""MedInjection-FR Native and Translated ``oeq`` files (open-ended, reference in the
assistant turn).

Local layout as on the hub: ``<dir>/<Source>/{Train,Validation,Test}/oeq/oeq_{split}.json``.
The prompt is the item's own system and user messages; the reference is its ``assistant``
turn (``answer`` when the turn is missing).
"""

from __future__ import annotations

from typing import Any

from medinj_eval.data.build import as_dataset_dict, items_from_file, items_from_rows
from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.files import resolve_data_dir
from medinj_eval.data.hub import hub_rows
from medinj_eval.data.items import require, row_id
from medinj_eval.data.medinjection import SOURCES, SPLIT_DIRS, local_file, prompt_turns
from medinj_eval.data.open_ended import OpenItem, check_open_item


def parse_row(row: dict[str, Any], file: str, index: int) -> OpenItem:
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


def load(*, source: str, data_dir: str | None = None, **_: Any):
    """DatasetDict of every split present for one source (Native or Translated)."""
    if source not in SOURCES:
        raise ValueError(f"MedInjection-FR source must be in {SOURCES}, got {source!r}")
    root = resolve_data_dir(data_dir, "medinjection-fr")
    splits: dict[str, list[OpenItem]] = {}
    if root is not None:
        for split in SPLIT_DIRS:
            path = local_file(root, source, "oeq", split)
            if path is not None:
                splits[split] = items_from_file(path, parse_row, split, check_open_item)
        if "test" not in splits:
            expected = root / source / "Test" / "oeq" / "oeq_test.json"
            raise DataValidationError(str(expected), None, None, "test file not found")
    else:
        hub_id = f"MedInjection-FR/{source}"
        files = {s: f"{d}/oeq/oeq_{short}.json" for s, (d, short) in SPLIT_DIRS.items()}
        rows = hub_rows(hub_id, data_files=files)
        splits = {
            s: items_from_rows(r, f"{hub_id}:{files[s]}", parse_row, s, check_open_item)
            for s, r in rows.items()
        }
    return as_dataset_dict({s: [item.to_doc() for item in items] for s, items in splits.items()})
