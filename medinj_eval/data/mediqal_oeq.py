"""MediQAl ``oeq``: open-ended questions, test split only (4,969 items).

Hub: ``ANR-MALADES/MediQAl`` config ``oeq``. Local folder: ``<dir>/oeq/test.*``.
Fields: ``id``, ``clinical_case`` (null when none), ``cc_question_number``, ``question``,
``answer`` (the reference), ``medical_subject``, ``question_type`` (Understanding/Reasoning).
EnMed's AbsQA reads the same rows and keeps a seeded slice of them (``enmed_absqa``).
"""

from __future__ import annotations

from typing import Any

from medinj_eval.data.items import require
from medinj_eval.data.open_ended import OpenItem


def parse_row(row: dict[str, Any], file: str, index: int, bench: Any = None) -> OpenItem:
    return OpenItem(
        id=str(require(row, "id", file, index)),
        question=str(require(row, "question", file, index)),
        reference=str(require(row, "answer", file, index)),
        context=row.get("clinical_case") or "",
        question_type=str(row.get("question_type") or ""),
        subject=str(row.get("medical_subject") or ""),
    )
