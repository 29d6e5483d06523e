"""YAML files chosen by a shipped name or by a user's path (judge prompts, training recipes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def shipped_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def read_named_yaml(
    name_or_path: str, folder: Path, what: str, error: type[Exception]
) -> tuple[Path, dict[str, Any]]:
    """The file ``name_or_path``, else ``<folder>/<name>.yaml``, and its mapping; ``error``
    (the caller's exception type) names the file on a missing file, bad YAML or a non-mapping."""
    path = Path(name_or_path)
    if not path.is_file():
        path = folder / f"{name_or_path}.yaml"
    if not path.is_file():
        known = shipped_names(folder)
        raise error(f"{what} {name_or_path!r} is neither a file nor one of {known}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise error(f"{path}: not a UTF-8 text file (byte {err.start}): expected YAML") from err
    except yaml.YAMLError as err:
        raise error(f"{path}: invalid YAML: {err}") from err
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping")
    return path, data
