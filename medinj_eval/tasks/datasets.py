"""One entry point for every task's ``custom_dataset``: benchmark name -> loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medinj_eval.paths import sample_data_dir

_LOADERS = {
    "frenchmedmcqa": "medinj_eval.data.frenchmedmcqa",
    "mediqal": "medinj_eval.data.mediqal",
    "medinjection": "medinj_eval.data.medinjection",
    "frbmedqa": "medinj_eval.data.frbmedqa",
    "mediqal_oeq": "medinj_eval.data.mediqal_oeq",
    "medinjection_oeq": "medinj_eval.data.medinjection_oeq",
}
# Loader arguments that select a part of a benchmark (not how it is read or rendered).
_PART_KEYS = ("config", "source", "subset")


def load_benchmark(
    *, benchmark: str, sample: bool = False, data_dir: str | Path | None = None, **kwargs: Any
):
    """Load ``benchmark`` from ``data_dir`` / ``$MEDINJ_DATA_DIR`` / the hub.

    ``sample: true`` (the ``medinj_fr_sample`` tasks) always reads the sample suite shipped
    with the package, whatever data_dir says. Extra keys (``mode``, ``version`` from the
    task metadata) are ignored by the loaders.
    """
    import importlib

    if benchmark not in _LOADERS:
        raise ValueError(f"unknown benchmark {benchmark!r}; known: {sorted(_LOADERS)}")
    loader = importlib.import_module(_LOADERS[benchmark])
    if sample:
        data_dir = sample_data_dir()
    loaded = loader.load(data_dir=str(data_dir) if data_dir else None, **kwargs)
    return with_item_keys(loaded, benchmark_label(benchmark, kwargs))


def benchmark_label(benchmark: str, kwargs: dict[str, Any]) -> str:
    """``medinjection/Native/mcq``: the benchmark and the part of it a task reads."""
    parts = [str(kwargs[k]) for k in _PART_KEYS if kwargs.get(k)]
    return "/".join([benchmark, *parts])


def with_item_keys(loaded, label: str):
    """Each document gains ``item`` = ``<benchmark label>/<split>/<item id>``.

    The document holds nothing that depends on where its file sat, so lm-eval's
    ``doc_hash`` (sha256 of the whole document) is the same for an item read from the hub,
    from any local folder, from a wheel or from a checkout, and runs pair on it."""
    for split, docs in loaded.items():
        if len(docs):
            loaded[split] = docs.add_column("item", [f"{label}/{split}/{i}" for i in docs["id"]])
    return loaded
