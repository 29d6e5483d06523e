"""MediQAl ``oeq``: open-ended questions, test split only (4,969 items).

Hub: ``ANR-MALADES/MediQAl`` config ``oeq``. Local folder: ``<dir>/oeq/test.*``.
Fields: ``id``, ``clinical_case`` (null when none), ``cc_question_number``, ``question``,
``answer`` (the reference), ``medical_subject``, ``question_type`` (Understanding/Reasoning).
``absqa: true`` keeps EnMed's AbsQA slice (seeded shuffle, first 248).
"""

from __future__ import annotations

from typing import Any

from medinj_eval.data.build import as_dataset_dict, items_from_rows, local_splits
from medinj_eval.data.files import resolve_data_dir
from medinj_eval.data.hub import hub_rows
from medinj_eval.data.items import require
from medinj_eval.data.open_ended import OpenItem, check_open_item, enmed_absqa_slice

HUB_ID = "ANR-MALADES/MediQAl"
SPLIT_FILES = {"test": ("test",)}


def parse_row(row: dict[str, Any], file: str, index: int) -> OpenItem:
    return OpenItem(
        id=str(require(row, "id", file, index)),
        question=str(require(row, "question", file, index)),
        reference=str(require(row, "answer", file, index)),
        context=row.get("clinical_case") or "",
        question_type=str(row.get("question_type") or ""),
        subject=str(row.get("medical_subject") or ""),
    )


def load(*, data_dir: str | None = None, absqa: bool = False, **_: Any):
    """DatasetDict with the ``test`` split (and an empty few-shot pool)."""
    folder = resolve_data_dir(data_dir, "mediqal")
    if folder is not None:
        items = local_splits(folder / "oeq", SPLIT_FILES, parse_row, check_open_item)["test"]
    else:
        rows = hub_rows(HUB_ID, "oeq")["test"]
        items = items_from_rows(rows, f"{HUB_ID}/oeq:test", parse_row, "test", check_open_item)
    if absqa:
        items = enmed_absqa_slice(items)
    return as_dataset_dict({"test": [item.to_doc() for item in items]})
