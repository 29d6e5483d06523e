"""Loading a benchmark's raw rows from the Hugging Face hub (when the machine reaches it)."""

from __future__ import annotations

from typing import Any

from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.files import DATA_DIR_ENV, record_read
from medinj_eval.hashing import json_sha256


def hub_rows(
    hub_id: str,
    config: str | None = None,
    revision: str | None = None,
    class_names: bool = False,
    **kwargs: Any,
) -> dict[str, list[dict[str, Any]]]:
    """Raw rows of every split of ``hub_id``; the same schema as the local files.

    ``class_names``: label columns (``ClassLabel``, or sequences of them) hold their names,
    not their indices, as the local files do.

    An unreachable hub (offline machine, unknown id or file) is a ``DataValidationError``
    that names the hub id and the way to a local copy, not a traceback from ``datasets``."""
    import datasets

    try:
        loaded = datasets.load_dataset(hub_id, config, revision=revision, **kwargs)
    except (ConnectionError, FileNotFoundError) as err:
        problem = (
            f"cannot be loaded from the Hugging Face hub ({type(err).__name__}: {err}). "
            f"Without the hub, point ${DATA_DIR_ENV} at a local folder with the hub's layout, "
            """or pass one (--metadata '{"data_dir": DIR}' for tasks, --data-dir for data mix)"""
        )
        raise DataValidationError(hub_id, None, None, problem) from err
    if class_names:
        loaded = datasets.DatasetDict({s: _named_labels(ds) for s, ds in loaded.items()})
    fingerprints = {split: ds._fingerprint for split, ds in loaded.items()}
    record_read(f"hub:{hub_id}:{config or ''}@{revision or 'main'}", json_sha256(fingerprints))
    return {split: list(ds) for split, ds in loaded.items()}


def _named_labels(ds):
    """The dataset with every ``ClassLabel`` column (or sequence of them) cast to strings."""
    import datasets

    for name, feature in ds.features.items():
        inner = getattr(feature, "feature", feature)
        if isinstance(inner, datasets.ClassLabel):
            ds = ds.map(lambda row, n=name, labels=inner.names: {n: _names(row[n], labels)})
    return ds


def _names(value, names):
    return [names[v] for v in value] if isinstance(value, list) else names[value]
