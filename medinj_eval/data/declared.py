"""Loading any declared benchmark: raw rows (local folder or hub) -> checked items -> docs.

The declaration (:mod:`medinj_eval.benchmarks`) says where the rows are and which parser
reads them; this module holds the one path every benchmark takes from there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import datasets

from medinj_eval.benchmarks import CLOZE, MCQ_KINDS, OPEN, SPAN, UNEVALUATED, Benchmark
from medinj_eval.data.dataset_dict import as_dataset_dict, items_from_rows, to_dataset_dict
from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.files import find_split_file, read_records, resolve_data_dir
from medinj_eval.data.hub import hub_rows
from medinj_eval.data.items import check_item
from medinj_eval.data.open_ended import check_open_item
from medinj_eval.data.spans import check_span_item

# split -> [(origin, rows)]: where each batch of raw rows came from, for error messages.
RowsBySplit = dict[str, list[tuple[str, list[dict[str, Any]]]]]

_CHECKS: dict[str, Callable[[Any, str, int], Any]] = {
    "single": check_item,
    "multi": check_item,
    OPEN: check_open_item,
    SPAN: check_span_item,
    CLOZE: lambda doc, file, row: doc,
}


def resolve(ref: str) -> Any:
    """The object a ``module:function`` reference names."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def local_rows(folder: Path, bench: Benchmark) -> RowsBySplit:
    """Rows of every split file present under ``folder``; the test split is mandatory."""
    found: RowsBySplit = {}
    for split, stems in bench.split_files.items():
        path = find_split_file(folder, stems)
        if path is not None:
            found[split] = [(str(path), read_records(path))]
    if "test" not in found:
        wanted = " or ".join(f"{s}.json/.jsonl/.parquet" for s in bench.split_files["test"])
        raise DataValidationError(str(folder), None, None, f"no test split file ({wanted})")
    return found


def hub_rows_of(bench: Benchmark) -> RowsBySplit:
    """Rows of every split of the benchmark's hub dataset, splits named as locally."""
    if bench.hub_id is None:
        raise DataValidationError(
            bench.name, None, None,
            "has no hub copy: point $MEDINJ_DATA_DIR or --metadata '{\"data_dir\": DIR}' "
            f"at a folder holding {bench.local_dir}/",
        )  # fmt: skip
    kwargs: dict[str, Any] = {}
    if bench.hub_files:
        kwargs["data_files"] = dict(bench.hub_files)
    rows = hub_rows(bench.hub_id, bench.hub_config, bench.hub_revision, **kwargs)
    renamed = {"validation" if s == "dev" else s: r for s, r in rows.items()}
    origin = f"{bench.hub_id}{'/' + bench.hub_config if bench.hub_config else ''}"
    return {s: [(f"{origin}:{s}", r)] for s, r in renamed.items()}


def raw_rows(bench: Benchmark, data_dir: str | None) -> RowsBySplit:
    """The declared reader's rows, else the local split files, else the hub's."""
    folder = resolve_data_dir(data_dir, bench.local_dir)
    if bench.reader:
        return resolve(bench.reader)(folder, bench)
    return local_rows(folder, bench) if folder is not None else hub_rows_of(bench)


def parsed_items(bench: Benchmark, data_dir: str | None) -> dict[str, list[Any]]:
    """Checked items of every split (a parser may return one item or a list of them)."""
    parse = partial(resolve(bench.parser), bench=bench)
    check = _CHECKS[bench.answer_kind]
    out: dict[str, list[Any]] = {}
    for split, batches in raw_rows(bench, data_dir).items():
        items: list[Any] = []
        for origin, rows in batches:
            items += items_from_rows(rows, origin, parse, split, _each(check))
        out[split] = items
    return out


def _each(check: Callable[[Any, str, int], Any]) -> Callable[[Any, str, int], Any]:
    def checked(parsed: Any, file: str, row: int) -> Any:
        if isinstance(parsed, list):
            return [check(item, file, row) for item in parsed]
        return check(parsed, file, row)

    return checked


def load_declared(
    bench: Benchmark, data_dir: str | None = None, perm: int = 0, option_texts: bool = False
) -> datasets.DatasetDict:
    """The benchmark's DatasetDict: ``test`` (sliced when declared) and the few-shot pool as
    ``train``."""
    splits = parsed_items(bench, data_dir)
    if bench.test_slice:
        evaluated = resolve(bench.test_slice)(splits["test"])
        if bench.fewshot_pool == UNEVALUATED:
            kept = {id(item) for item in evaluated}
            splits["train"] = [item for item in splits["test"] if id(item) not in kept]
        splits["test"] = evaluated
    if bench.answer_kind in MCQ_KINDS:
        if perm or option_texts:
            _need_option_texts(splits["test"], bench)
        return to_dataset_dict(splits, perm)
    if bench.answer_kind == CLOZE:
        return as_dataset_dict(splits)
    return as_dataset_dict({s: [item.to_doc() for item in items] for s, items in splits.items()})


def _need_option_texts(items: list[Any], bench: Benchmark) -> None:
    """Answer-order variants move option texts; an item whose texts are unknown cannot move."""
    for index, item in enumerate(items):
        if not all(item.options):
            file, row = item.extra.get("origin", (bench.name, index))
            field = item.extra.get("options_field", "options")
            raise DataValidationError(
                file,
                row,
                field,
                f"no option lines for {item.letters} (answer-order variants move them)",
            )
