"""Shared loader plumbing: raw rows -> checked items -> a ``datasets.DatasetDict``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import datasets

from medinj_eval.data.items import McqItem, check_item, check_unique_ids, permute

log = logging.getLogger(__name__)
RowParser = Callable[[dict[str, Any], str, int], Any]
ItemCheck = Callable[[Any, str, int], Any]


def items_from_rows(
    rows: Iterable[dict[str, Any]],
    origin: str,
    parse_row: RowParser,
    split: str,
    check: ItemCheck = check_item,
) -> list[Any]:
    """Parse and check rows; ``origin`` names the file or the hub split in errors.

    Ids must be unique in the evaluation split (paired statistics join on them); few-shot
    pools only get a warning (the real FrenchMedMCQA train file repeats one id).
    """
    parsed = [check(parse_row(row, origin, i), origin, i) for i, row in enumerate(rows)]
    # A parser may turn one row into several items (QUAERO: one per entity).
    items = [x for p in parsed for x in (p if isinstance(p, list) else [p])]
    if split == "test":
        check_unique_ids([_item_id(it) for it in items], origin)
    elif len({_item_id(it) for it in items}) != len(items):
        log.warning(
            "%s: duplicate ids in the %s split (used only for few-shot demos)", origin, split
        )
    return items


def _item_id(item: Any) -> str:
    """An item's id: an item object's attribute, or a ready doc's key (cloze docs)."""
    return item["id"] if isinstance(item, dict) else item.id


def to_dataset_dict(splits: dict[str, list[McqItem]], perm: int = 0) -> datasets.DatasetDict:
    """Rendered docs, options permuted for answer-order variant ``perm`` (test split only)."""
    docs = {}
    for split, items in splits.items():
        if split == "test":
            items = [permute(item, perm) for item in items]
        docs[split] = [item.to_doc() for item in items]
    return as_dataset_dict(docs)


def as_dataset_dict(docs: dict[str, list[dict[str, Any]]]) -> datasets.DatasetDict:
    """DatasetDict whose ``train`` split (few-shot pool) falls back to validation, else empty."""
    docs = dict(docs)
    docs.setdefault("train", docs.get("validation", []))
    return datasets.DatasetDict({s: datasets.Dataset.from_list(d) for s, d in docs.items()})
