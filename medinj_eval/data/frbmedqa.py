"""FrBMedQA: cloze reading comprehension over biomedical passages (``kadzaki/FrBMedQA``).

Fields: ``passage`` (entities anonymised as ``@entityN``), ``question`` holding
``@placeholder``, ``entities_list`` (list of {"@entityN": surface}, or one dict) and
``answer`` ("@entityN"). Scored by log-probability of each candidate entity (accuracy).
Local folder: ``<dir>/{train,validation,test}.json|.jsonl|.parquet``.
"""

from __future__ import annotations

from typing import Any

from medinj_eval.data.build import as_dataset_dict
from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.files import find_split_file, read_records, resolve_data_dir
from medinj_eval.data.hub import hub_rows
from medinj_eval.data.items import check_unique_ids, require, row_id

HUB_ID = "kadzaki/FrBMedQA"
SPLIT_FILES = {"train": ("train",), "validation": ("validation", "dev", "val"), "test": ("test",)}


def parse_row(row: dict[str, Any], file: str, index: int) -> dict[str, Any]:
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


def _docs(rows: list[dict[str, Any]], origin: str, split: str) -> list[dict[str, Any]]:
    docs = [parse_row(row, origin, i) for i, row in enumerate(rows)]
    if split == "test":
        check_unique_ids([doc["id"] for doc in docs], origin)
    return docs


def load(*, data_dir: str | None = None, **_: Any):
    """DatasetDict of cloze docs."""
    folder = resolve_data_dir(data_dir, "frbmedqa")
    if folder is not None:
        splits = {}
        for split, names in SPLIT_FILES.items():
            path = find_split_file(folder, names)
            if path is not None:
                splits[split] = _docs(read_records(path), str(path), split)
        if "test" not in splits:
            raise DataValidationError(str(folder), None, None, "no test split file")
    else:
        splits = {s: _docs(r, f"{HUB_ID}:{s}", s) for s, r in hub_rows(HUB_ID).items()}
    return as_dataset_dict(splits)
