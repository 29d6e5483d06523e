"""SQLite cache of judge replies, keyed by sha256(judge model, rendered messages, sampling).

Each reply is committed as soon as it arrives (WAL journal), so a run killed at any point
keeps every verdict it obtained and a re-run asks the server only for the rest.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from medinj_eval.hashing import json_sha256

SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    judge_model TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(judge_model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the judge model, the messages and the sampling params."""
    return json_sha256({"model": judge_model, "messages": messages, "params": params})


class ReplyCache:
    """``get(key)`` / ``put(key, ...)`` over one SQLite file (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        self._db.commit()

    def get(self, key: str) -> tuple[str, str] | None:
        row = self._db.execute(
            "SELECT text, finish_reason FROM replies WHERE key = ?", (key,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def put(self, key: str, judge_model: str, text: str, finish_reason: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?)",
            (key, judge_model, text, finish_reason, time.time()),
        )
        self._db.commit()

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        self._db.close()
