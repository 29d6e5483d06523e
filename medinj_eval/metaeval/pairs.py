"""Labelled (question, reference, candidate, human score) pairs, from two formats.

* MedInjection-FR judge calibration: one JSON list per generator, each row with ``id``,
  ``Question``, ``verite_terrain`` (the reference), a field named after the generator
  holding its answer, ``equivalence`` ("Oui"/"Non", a clinician's label) and ``preference``.
* Generic JSON lines: ``question``, ``reference``, ``candidate``, ``human_score`` (any
  number), optional ``id`` (the question, shared across generators) and ``generator``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.files import read_records

CALIBRATION_FIELDS = {"id", "Question", "verite_terrain", "equivalence", "preference"}
EQUIVALENCE = {"oui": 1.0, "non": 0.0}


@dataclass(frozen=True)
class Pair:
    question_id: str
    question: str
    reference: str
    candidate: str
    human: float
    generator: str


def load_pairs(paths: list[Path]) -> list[Pair]:
    """Every pair of every file; the format is told by the fields of the first row."""
    pairs: list[Pair] = []
    for path in paths:
        if not Path(path).is_file():
            raise DataValidationError(str(path), None, None, "no such file of labelled pairs")
        rows = read_records(Path(path))
        if not rows:
            raise DataValidationError(str(path), None, None, "no rows")
        reader = _calibration_pair if "verite_terrain" in rows[0] else _generic_pair
        pairs += [reader(row, str(path), i) for i, row in enumerate(rows)]
    if not pairs:
        raise DataValidationError(", ".join(map(str, paths)), None, None, "no labelled pairs")
    return pairs


def _field(row: dict, name: str, file: str, index: int):
    if row.get(name) is None:
        raise DataValidationError(file, index, name, "missing required field")
    return row[name]


def _calibration_pair(row: dict, file: str, index: int) -> Pair:
    answer_fields = [k for k in row if k not in CALIBRATION_FIELDS]
    if len(answer_fields) != 1:
        raise DataValidationError(
            file, index, None, f"expected one generator answer field, found {answer_fields}"
        )
    generator = answer_fields[0]
    label = str(_field(row, "equivalence", file, index)).strip().lower()
    if label not in EQUIVALENCE:
        raise DataValidationError(file, index, "equivalence", f"expected Oui/Non, got {label!r}")
    return Pair(
        question_id=str(_field(row, "id", file, index)),
        question=str(_field(row, "Question", file, index)),
        reference=str(_field(row, "verite_terrain", file, index)),
        candidate=str(row[generator] or ""),
        human=EQUIVALENCE[label],
        generator=generator,
    )


def _generic_pair(row: dict, file: str, index: int) -> Pair:
    score = _field(row, "human_score", file, index)
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise DataValidationError(file, index, "human_score", f"not a number: {score!r}")
    question = str(_field(row, "question", file, index))
    return Pair(
        question_id=str(row.get("id") or question),
        question=question,
        reference=str(_field(row, "reference", file, index)),
        candidate=str(_field(row, "candidate", file, index)),
        human=float(score),
        generator=str(row.get("generator") or Path(file).stem),
    )


def write_generic(pairs: list[Pair], path: Path) -> None:
    """The pairs as generic JSON lines (the format any annotation tool can produce)."""
    lines = [
        json.dumps(
            {
                "id": p.question_id,
                "question": p.question,
                "reference": p.reference,
                "candidate": p.candidate,
                "human_score": p.human,
                "generator": p.generator,
            },
            ensure_ascii=False,
        )
        for p in pairs
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
