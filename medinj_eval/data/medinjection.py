"""MedInjection-FR Native and Translated MCQ files (``mcqu`` single, ``mcq`` multiple).

Hub: ``MedInjection-FR/{Native,Translated}``. Local folder layout, as on the hub:
``<dir>/<Source>/{Train,Validation,Test}/<subset>/<subset>_{train,val,test}.json``.
Item schema: ``messages`` (system/user, then an ``assistant`` turn with the reference),
``classes`` (option letters, 3 to 10), ``answer`` ("A, C" or a list), optional ``user_prompt``.
The prompt is the item's own system and user messages; option texts are read from the
user message's option lines (needed only by the answer-order variants).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from medinj_eval.data.build import items_from_file, items_from_rows, to_dataset_dict
from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.files import resolve_data_dir
from medinj_eval.data.hub import hub_rows
from medinj_eval.data.items import McqItem, options_from_message, require, row_id

SOURCES = ("Native", "Translated")
SUBSETS = ("mcq", "mcqu")
SPLIT_DIRS = {
    "train": ("Train", "train"),
    "validation": ("Validation", "val"),
    "test": ("Test", "test"),
}


def row_parser(subset: str, need_option_texts: bool):
    """Row parser of one subset; answer-order variants need the option lines of the message."""

    def parse_row(row: dict[str, Any], file: str, index: int) -> McqItem:
        messages = require(row, "messages", file, index)
        system, user = prompt_turns(messages, file, index)
        classes = require(row, "classes", file, index)
        if not isinstance(classes, list) or not classes:
            raise DataValidationError(file, index, "classes", "no options (empty or not a list)")
        letters = [str(c).strip().upper() for c in classes]
        options = options_from_message(user, letters)
        if options is None:
            if need_option_texts:
                raise DataValidationError(
                    file, index, "messages", f"user message lacks option lines for {letters}"
                )
            options = [""] * len(letters)
        return McqItem(
            id=row_id(row, index),
            question=user,
            letters=letters,
            options=options,
            gold=sorted(set(_answer_letters(require(row, "answer", file, index)))),
            multi=subset == "mcq",
            system=system,
            user_message=user,
            extra={"options_field": "classes", "answer_field": "answer"},
        )

    return parse_row


def prompt_turns(messages: Any, file: str, index: int) -> tuple[str, str]:
    if not isinstance(messages, list):
        raise DataValidationError(file, index, "messages", "expected a list of chat turns")
    system = user = None
    for turn in messages:
        if not isinstance(turn, dict) or "role" not in turn or "content" not in turn:
            raise DataValidationError(file, index, "messages", "turn without role/content")
        if turn["role"] == "system" and system is None:
            system = turn["content"]
        elif turn["role"] == "user" and user is None:
            user = turn["content"]
    if not user:
        raise DataValidationError(file, index, "messages", "no user turn")
    return system or "", user


def _answer_letters(answer: Any) -> list[str]:
    if isinstance(answer, list):
        return [str(a).strip().upper() for a in answer if str(a).strip()]
    return [a.upper() for a in re.split(r"[\s,]+", str(answer)) if a]


def local_file(root: Path, source: str, subset: str, split: str) -> Path | None:
    """``<root>/<Source>/<Split>/<subset>/<subset>_<split>.json`` (first existing variant)."""
    split_dir, short = SPLIT_DIRS[split]
    for suffix in (".json", ".jsonl", ".parquet"):
        path = root / source / split_dir / subset / f"{subset}_{short}{suffix}"
        if path.is_file():
            return path
    return None


def load(*, source: str, subset: str, data_dir: str | None = None, perm: int = 0, **_: Any):
    """DatasetDict of normalised docs for one source (Native/Translated) and subset."""
    if source not in SOURCES or subset not in SUBSETS:
        raise ValueError(f"MedInjection-FR source/subset must be in {SOURCES}/{SUBSETS}")
    parse_row = row_parser(subset, need_option_texts=perm > 0)
    root = resolve_data_dir(data_dir, "medinjection-fr")
    if root is not None:
        splits = {}
        for split in SPLIT_DIRS:
            path = local_file(root, source, subset, split)
            if path is not None:
                splits[split] = items_from_file(path, parse_row, split)
        if "test" not in splits:
            expected = root / source / "Test" / subset / f"{subset}_test.json"
            raise DataValidationError(str(expected), None, None, "test file not found")
        return to_dataset_dict(splits, perm)
    hub_id = f"MedInjection-FR/{source}"
    files = {
        split: f"{d}/{subset}/{subset}_{short}.json" for split, (d, short) in SPLIT_DIRS.items()
    }
    rows = hub_rows(hub_id, data_files=files)
    splits = {s: items_from_rows(r, f"{hub_id}:{files[s]}", parse_row, s) for s, r in rows.items()}
    return to_dataset_dict(splits, perm)
