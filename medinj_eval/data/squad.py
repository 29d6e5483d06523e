"""Any extractive QA set in the SQuAD format (``extqa_squad``), read from a local folder.

A French clinical-case QA set held under a data-use agreement, for instance, has no hub
copy: point ``--metadata '{"data_dir": DIR}'`` (or ``$MEDINJ_DATA_DIR``) at a folder with
``extqa/{train,validation,test}.json|.jsonl|.parquet`` (or those files directly). Each file
is either SQuAD's nested JSON (``{"data": [{"paragraphs": [{"context", "qas": [...]}]}]}``)
or one row per question: ``id``, ``context``, ``question``, ``answers`` with ``text`` and
``answer_start`` (two lists, as on the hub, or a list of objects, as in SQuAD's files).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from medinj_eval.benchmarks import Benchmark
from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.files import find_split_file, read_records, record_read
from medinj_eval.data.items import require, row_id
from medinj_eval.data.spans import SpanItem


def read_local(folder: Path | None, bench: Benchmark) -> dict[str, list]:
    """split -> [(origin, rows)]; SQuAD's nested files are flattened to one row a question."""
    if folder is None:
        raise DataValidationError(
            bench.name, None, None,
            "is read from a local folder only: pass --metadata '{\"data_dir\": DIR}' or set "
            "$MEDINJ_DATA_DIR to a folder holding extqa/test.json (SQuAD format)",
        )  # fmt: skip
    found: dict[str, list] = {}
    for split, stems in bench.split_files.items():
        path = find_split_file(folder, stems)
        if path is not None:
            found[split] = [(str(path), _rows(path))]
    if "test" not in found:
        raise DataValidationError(str(folder), None, None, "no test split file (test.json)")
    return found


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".json":
        raw = path.read_bytes()
        try:
            data = json.loads(raw.decode("utf-8").removeprefix("\ufeff"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None  # read_records names the bad line or byte
        if isinstance(data, dict):
            if not isinstance(data.get("data"), list):
                raise DataValidationError(str(path), None, "data", "SQuAD file without a data list")
            record_read(str(path), hashlib.sha256(raw).hexdigest())
            return flatten_squad(data["data"])
    return read_records(path)


def flatten_squad(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per question of SQuAD's nested articles -> paragraphs -> qas."""
    return [
        {**qa, "context": paragraph.get("context")}
        for article in articles
        for paragraph in article.get("paragraphs") or []
        for qa in paragraph.get("qas") or []
    ]


def parse_row(row: dict[str, Any], file: str, index: int, bench: Any = None) -> SpanItem:
    answers = require(row, "answers", file, index)
    if isinstance(answers, dict):
        texts, starts = answers.get("text") or [], answers.get("answer_start") or []
    elif isinstance(answers, list) and all(isinstance(a, dict) for a in answers):
        texts = [a.get("text") for a in answers]
        starts = [a.get("answer_start") for a in answers]
    else:
        raise DataValidationError(file, index, "answers", "expected text and answer_start")
    if len(texts) != len(starts) or not all(isinstance(s, int) for s in starts):
        raise DataValidationError(
            file, index, "answers.answer_start", "one integer offset per answer text is needed"
        )
    return SpanItem(
        id=row_id(row, index),
        context=str(require(row, "context", file, index)),
        question=str(require(row, "question", file, index)),
        answers=[str(t) for t in texts],
        answer_starts=list(starts),
    )
