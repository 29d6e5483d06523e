"""FrenchMedMCQA (DEFT 2023): raw JSON of the release, or the DrBenchmark int-label schema.

Hub: ``qanastek/frenchmedmcqa`` (parquet at ``refs/convert/parquet``) and
``DrBenchmark/FrenchMedMCQA``. Local folder: ``train.json``, ``dev.json``, ``test.json``.
Every item has five options a-e and one to five correct answers; it is scored as a
multi-answer item (EMR and Hamming over all items).
"""

from __future__ import annotations

from typing import Any

from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.items import LETTERS, McqItem, require


def parse_row(row: dict[str, Any], file: str, index: int, bench: Any = None) -> McqItem:
    """One raw row -> item; accepts ``answers`` {a..e} or ``answer_a``..``answer_e``."""
    item_id = str(require(row, "id", file, index))
    question = require(row, "question", file, index)
    if "answers" in row:
        answers = require(row, "answers", file, index)
        if not isinstance(answers, dict):
            raise DataValidationError(file, index, "answers", "expected an object {a: ..., e: ...}")
        keys = sorted(k for k, v in answers.items() if v is not None)
        texts = [answers[k] for k in keys]
    else:
        keys = [k for k in "abcde" if row.get(f"answer_{k}") is not None]
        texts = [row[f"answer_{k}"] for k in keys]
    if not keys:
        raise DataValidationError(file, index, "answers", "no options")
    letters = [k.upper() for k in keys]
    gold = [_gold_letter(v, file, index) for v in require(row, "correct_answers", file, index)]
    _check_count(row.get("nbr_correct_answers"), sorted(set(gold)), file, index)
    return McqItem(
        id=item_id,
        question=question,
        letters=letters,
        options=texts,
        gold=sorted(set(gold)),
        multi=True,
        subject=str(row.get("subject_name") or ""),
        extra={"options_field": "answers", "answer_field": "correct_answers"},
    )


def _check_count(count: Any, gold: list[str], file: str, index: int) -> None:
    """The release states the number of correct answers twice; a disagreement is refused."""
    if count is not None and str(count).strip() != str(len(gold)):
        raise DataValidationError(
            file, index, "nbr_correct_answers",
            f"says {count} but correct_answers lists {len(gold)} ({', '.join(gold)})",
        )  # fmt: skip


def _gold_letter(value: Any, file: str, index: int) -> str:
    if isinstance(value, int) and 0 <= value < len(LETTERS):
        return LETTERS[value]
    if isinstance(value, str) and len(value.strip()) == 1:
        return value.strip().upper()
    raise DataValidationError(file, index, "correct_answers", f"not an answer letter: {value!r}")
