"""sha256 of a JSON-able value in one canonical form (sorted keys, UTF-8, no ASCII escapes)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def json_sha256(value: Any) -> str:
    """Hex sha256 of ``json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)``."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
