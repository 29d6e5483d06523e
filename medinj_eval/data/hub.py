"""Loading a benchmark's raw rows from the Hugging Face hub (when the machine reaches it)."""

from __future__ import annotations

from typing import Any


def hub_rows(
    hub_id: str, config: str | None = None, revision: str | None = None, **kwargs: Any
) -> dict[str, list[dict[str, Any]]]:
    """Raw rows of every split of ``hub_id``; the same schema as the local files."""
    import datasets

    loaded = datasets.load_dataset(hub_id, config, revision=revision, **kwargs)
    return {split: list(ds) for split, ds in loaded.items()}
