"""Reading what the judge grades from lm-eval's ``--log_samples`` files.

A samples file is ``samples_<task>_<timestamp>.jsonl`` next to ``results_<timestamp>.json``;
each line holds ``doc_id``, ``doc``, ``doc_hash`` and the model's ``filtered_resps``. Only
open-ended documents (those with a ``reference``) are judged; other files are skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medinj_eval.judge import JudgeError

_SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+)_(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.jsonl$")


@dataclass
class Sample:
    """One answer to judge."""

    task: str
    doc_id: str
    question: str
    reference: str
    candidate: str
    doc_hash: str = ""
    question_type: str = ""
    doc: dict[str, Any] = field(default_factory=dict)

    def variables(self) -> dict[str, Any]:
        """What judge templates can use."""
        return {
            "question": self.question,
            "reference": self.reference,
            "candidate": self.candidate,
            "doc": self.doc,
        }


def sample_files(path: Path) -> list[Path]:
    """``path`` itself, or every ``samples_*.jsonl`` under the run folder ``path``."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise JudgeError(f"{path}: no such file or run folder")
    files = sorted(p for p in path.rglob("samples_*.jsonl") if "judge" not in p.parts)
    if not files:
        raise JudgeError(f"{path}: no samples_*.jsonl (run lm_eval with --log_samples)")
    return files


def task_and_stamp(path: Path) -> tuple[str, str | None]:
    """Task name and timestamp encoded in an lm-eval samples file name."""
    match = _SAMPLES_NAME.match(path.name)
    if match:
        return match["task"], match["stamp"]
    return path.stem, None


def read_samples(path: Path) -> list[Sample]:
    """The open-ended samples of one file; ``[]`` when its documents have no reference."""
    task, _ = task_and_stamp(path)
    out = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise JudgeError(f"{path}, line {line_no}: invalid JSON: {err}") from err
        doc = row.get("doc") or {}
        if "reference" not in doc:
            return []
        out.append(
            Sample(
                task=task,
                doc_id=str(row.get("doc_id")),
                question=str(doc.get("prompt") or doc.get("question") or ""),
                reference=str(doc["reference"]),
                candidate=_candidate(row, path, line_no),
                doc_hash=str(row.get("doc_hash") or ""),
                question_type=str(doc.get("question_type") or ""),
                doc=doc,
            )
        )
    return out


def _candidate(row: dict[str, Any], path: Path, line_no: int) -> str:
    filtered = row.get("filtered_resps")
    if isinstance(filtered, list) and filtered and isinstance(filtered[0], str):
        return filtered[0].strip()
    resps = row.get("resps")
    if isinstance(resps, list) and resps and isinstance(resps[0], list) and resps[0]:
        return str(resps[0][0]).strip()
    raise JudgeError(f"{path}, line {line_no}: field 'filtered_resps' holds no model answer")
