"""Shared loader plumbing: raw rows -> checked items -> a ``datasets.DatasetDict``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import datasets

from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.files import find_split_file, read_records
from medinj_eval.data.items import McqItem, check_item, check_unique_ids, permute

RowParser = Callable[[dict[str, Any], str, int], McqItem]


def items_from_file(path: Path, parse_row: RowParser) -> list[McqItem]:
    """Parse and check every row of one local file."""
    rows = read_records(path)
    items = [check_item(parse_row(row, str(path), i), str(path), i) for i, row in enumerate(rows)]
    check_unique_ids([it.id for it in items], str(path))
    return items


def items_from_rows(rows: Iterable[dict[str, Any]], origin: str, parse_row: RowParser):
    """Parse and check rows that came from the hub (``origin`` names the hub split)."""
    items = [check_item(parse_row(row, origin, i), origin, i) for i, row in enumerate(rows)]
    check_unique_ids([it.id for it in items], origin)
    return items


def local_splits(
    folder: Path, split_names: dict[str, tuple[str, ...]], parse_row: RowParser
) -> dict[str, list[McqItem]]:
    """Every split whose file is present in ``folder``; the evaluation split is mandatory."""
    splits = {}
    for split, names in split_names.items():
        path = find_split_file(folder, names)
        if path is not None:
            splits[split] = items_from_file(path, parse_row)
    if "test" not in splits:
        wanted = " or ".join(f"{n}.json/.jsonl/.parquet" for n in split_names["test"])
        raise DataValidationError(str(folder), None, None, f"no test split file ({wanted})")
    return splits


def to_dataset_dict(splits: dict[str, list[McqItem]], perm: int = 0) -> datasets.DatasetDict:
    """Rendered docs, options permuted for answer-order variant ``perm`` (test split only)."""
    out = {}
    for split, items in splits.items():
        if split == "test":
            items = [permute(item, perm) for item in items]
        out[split] = datasets.Dataset.from_list([item.to_doc() for item in items])
    return datasets.DatasetDict(out)
