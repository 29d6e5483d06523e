"""MediQAl MCQ configs ``mcqu`` (single answer) and ``mcqm`` (multiple answers).

Hub: ``ANR-MALADES/MediQAl``. Local folder: ``<dir>/<config>/{train,validation,test}.*``.
Fields: ``answer_a``..``answer_e`` (null options are skipped), ``correct_answers`` as an
upper-case string ("B" or "A,C"), ``clinical_case`` (null when none), ``question_type``.
"""

from __future__ import annotations

import re
from typing import Any

from medinj_eval.data.build import items_from_rows, local_splits, to_dataset_dict
from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.files import resolve_data_dir
from medinj_eval.data.hub import hub_rows
from medinj_eval.data.items import McqItem, require

HUB_ID = "ANR-MALADES/MediQAl"
SPLIT_FILES = {"train": ("train",), "validation": ("validation", "val"), "test": ("test",)}
CONFIGS = ("mcqu", "mcqm")


def row_parser(config: str):
    """Row parser of one config: ``mcqu`` items are single-answer, ``mcqm`` multi-answer."""

    def parse_row(row: dict[str, Any], file: str, index: int) -> McqItem:
        keys = [k for k in "abcde" if row.get(f"answer_{k}") is not None]
        raw_gold = require(row, "correct_answers", file, index)
        if not isinstance(raw_gold, str):
            raise DataValidationError(
                file, index, "correct_answers", "expected a string like 'A,C'"
            )
        return McqItem(
            id=str(require(row, "id", file, index)),
            question=require(row, "question", file, index),
            context=row.get("clinical_case") or "",
            letters=[k.upper() for k in keys],
            options=[row[f"answer_{k}"] for k in keys],
            gold=sorted({g.upper() for g in re.split(r"[\s,;]+", raw_gold) if g}),
            multi=config == "mcqm",
            question_type=str(row.get("question_type") or ""),
            subject=str(row.get("medical_subject") or ""),
            extra={"options_field": "answer_a..answer_e", "answer_field": "correct_answers"},
        )

    return parse_row


def load(*, config: str, data_dir: str | None = None, perm: int = 0, **_: Any):
    """DatasetDict of normalised docs for one MCQ config."""
    if config not in CONFIGS:
        raise ValueError(f"MediQAl MCQ config must be one of {CONFIGS}, got {config!r}")
    parse_row = row_parser(config)
    folder = resolve_data_dir(data_dir, "mediqal")
    if folder is not None:
        return to_dataset_dict(local_splits(folder / config, SPLIT_FILES, parse_row), perm)
    rows = hub_rows(HUB_ID, config)
    splits = {
        s: items_from_rows(r, f"{HUB_ID}/{config}:{s}", parse_row, s) for s, r in rows.items()
    }
    return to_dataset_dict(splits, perm)
