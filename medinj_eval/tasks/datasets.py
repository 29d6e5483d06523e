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
    return loader.load(data_dir=str(data_dir) if data_dir else None, **kwargs)
