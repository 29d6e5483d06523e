"""FrBMedQA: cloze reading comprehension over biomedical passages (``kadzaki/FrBMedQA``).

Fields: ``passage`` (entities anonymised as ``@entityN``), ``question`` holding
``@placeholder``, ``entities_list`` (list of {"@entityN": surface}, or one dict) and
``answer`` ("@entityN"). Scored by log-probability of each candidate entity (accuracy).
Local folder: ``<dir>/{train,validation,test}.json|.jsonl|.parquet``.
"""

from __future__ import annotations

from typing import Any

from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.items import require, row_id


def parse_row(row: dict[str, Any], file: str, index: int, bench: Any = None) -> dict[str, Any]:
    """One raw row -> doc with the de-anonymised passage, the candidates and the gold index."""
    passage = require(row, "passage", file, index)
    question = require(row, "question", file, index)
    entities = _entity_map(require(row, "entities_list", file, index), file, index)
    answer = require(row, "answer", file, index)
    if answer not in entities:
        raise DataValidationError(file, index, "answer", f"{answer!r} not in entities_list")
    if "@placeholder" not in question:
        raise DataValidationError(file, index, "question", "no @placeholder in the question")
    markers = sorted(entities, key=len, reverse=True)  # @entity10 before @entity1
    for marker in markers:
        passage = passage.replace(marker, entities[marker])
        question = question.replace(marker, entities[marker])
    stem, _, _ = question.partition("@placeholder")
    return {
        "id": row_id(row, index),
        "prompt": f"{passage}\n\n{stem.rstrip()}",
        "choices": list(entities.values()),
        "gold": list(entities).index(answer),
    }


def _entity_map(value: Any, file: str, index: int) -> dict[str, str]:
    pairs: dict[str, str] = {}
    items = value if isinstance(value, list) else [value]
    for entry in items:
        if not isinstance(entry, dict):
            raise DataValidationError(file, index, "entities_list", "expected {'@entityN': text}")
        pairs.update({str(k): str(v) for k, v in entry.items() if v is not None})
    if len(pairs) < 2:
        raise DataValidationError(file, index, "entities_list", "fewer than two candidates")
    return pairs
