"""One entry point for every task's ``custom_dataset``: a declared benchmark -> its docs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medinj_eval.benchmarks import benchmark as declared
from medinj_eval.paths import sample_data_dir


def load_benchmark(
    *,
    benchmark: str,
    sample: bool = False,
    data_dir: str | Path | None = None,
    perm: int = 0,
    option_texts: bool = False,
    **_: Any,
):
    """Load the declared ``benchmark`` from ``data_dir`` / ``$MEDINJ_DATA_DIR`` / the hub.

    ``sample: true`` (the ``medinj_fr_sample`` tasks) always reads the sample suite shipped
    with the package, whatever data_dir says. ``option_texts: true`` (the ``optiontext``
    mode) refuses items whose option texts are unknown. Extra keys (``mode``, ``version`` from the
    task metadata) are ignored.
    """
    from medinj_eval.data.declared import load_declared

    bench = declared(benchmark)
    if sample:
        data_dir = sample_data_dir()
    loaded = load_declared(bench, str(data_dir) if data_dir else None, perm, option_texts)
    return with_item_keys(loaded, bench.name)


def with_item_keys(loaded, label: str):
    """Each document gains ``item`` = ``<benchmark>/<split>/<item id>``.

    The document holds nothing that depends on where its file sat, so lm-eval's
    ``doc_hash`` (sha256 of the whole document) is the same for an item read from the hub,
    from any local folder, from a wheel or from a checkout, and runs pair on it."""
    for split, docs in loaded.items():
        if len(docs):
            loaded[split] = docs.add_column("item", [f"{label}/{split}/{i}" for i in docs["id"]])
    return loaded
