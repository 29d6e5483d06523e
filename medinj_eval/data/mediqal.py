"""MediQAl MCQ configs ``mcqu`` (single answer) and ``mcqm`` (multiple answers).

Hub: ``ANR-MALADES/MediQAl``. Local folder: ``<dir>/<config>/{train,validation,test}.*``.
Fields: ``answer_a``..``answer_e`` (null options are skipped), ``correct_answers`` as an
upper-case string ("B" or "A,C"), ``clinical_case`` (null when none), ``question_type``.
"""

from __future__ import annotations

import re
from typing import Any

from medinj_eval.benchmarks import Benchmark
from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.items import McqItem, require


def parse_row(row: dict[str, Any], file: str, index: int, bench: Benchmark) -> McqItem:
    """One row of a config: ``mcqu`` items are single-answer, ``mcqm`` multi-answer."""
    keys = [k for k in "abcde" if row.get(f"answer_{k}") is not None]
    raw_gold = require(row, "correct_answers", file, index)
    if not isinstance(raw_gold, str):
        raise DataValidationError(file, index, "correct_answers", "expected a string like 'A,C'")
    return McqItem(
        id=str(require(row, "id", file, index)),
        question=require(row, "question", file, index),
        context=row.get("clinical_case") or "",
        letters=[k.upper() for k in keys],
        options=[row[f"answer_{k}"] for k in keys],
        gold=sorted({g.upper() for g in re.split(r"[\s,;]+", raw_gold) if g}),
        multi=bench.multi,
        question_type=str(row.get("question_type") or ""),
        subject=str(row.get("medical_subject") or ""),
        extra={"options_field": "answer_a..answer_e", "answer_field": "correct_answers"},
    )
