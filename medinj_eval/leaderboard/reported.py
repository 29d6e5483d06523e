"""Published figures (``results/reported/*.json``): rows marked ``reported`` with their source,
never mixed with recomputed rows without that mark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPORTED_DIR = "reported"
ROW_FIELDS = {"model": str, "family": str, "task": str, "metric": str, "value": (int, float)}


def load_reported(folder: Path) -> list[dict[str, Any]]:
    """Every reported row, each carrying ``kind: reported`` and its ``source`` (and, for a
    judge score, the judge the file's ``judges`` names for its metric); a malformed file stops
    with an error naming the file, the row and the field."""
    rows = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("kind") != "reported":
            raise ValueError(f"{path}: field 'kind' must be 'reported'")
        source = data.get("source") or {}
        if not source.get("work") or not source.get("where"):
            raise ValueError(f"{path}: field 'source' needs 'work' and 'where'")
        for i, row in enumerate(data.get("rows") or []):
            for name, kind in ROW_FIELDS.items():
                if not isinstance(row.get(name), kind):
                    raise ValueError(f"{path}, row {i}, field '{name}': missing or wrong type")
            judge = (data.get("judges") or {}).get(row["metric"])
            rows.append(
                {**row, "kind": "reported", "source": f"{source['work']}: {source['where']}"}
                | ({"judge": judge} if judge else {})
            )
    return rows
