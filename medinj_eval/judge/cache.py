"""SQLite cache of judge replies, keyed by sha256(judge model, rendered messages, sampling).

Each reply is committed as soon as it arrives (WAL journal), so a run killed at any point
keeps every verdict it obtained and a re-run asks the server only for the rest. Only
replies are kept: a failed call leaves no row (a re-run retries it). A reply that parses
into no verdict is kept with the number of tries it took, so that a re-run reports it
without asking again unless told to (``--retry-unparsable``).
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
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1
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
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(replies)")}
        if "attempts" not in columns:  # a cache written before tries were counted
            self._db.execute("ALTER TABLE replies ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1")
        self._db.commit()

    def get(self, key: str) -> tuple[str, str, int] | None:
        """(text, finish reason, tries it took) of the reply kept under ``key``."""
        row = self._db.execute(
            "SELECT text, finish_reason, attempts FROM replies WHERE key = ?", (key,)
        ).fetchone()
        return (row[0], row[1], int(row[2])) if row else None

    def put(
        self, key: str, judge_model: str, text: str, finish_reason: str, attempts: int = 1
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO replies (key, judge_model, text, finish_reason, created,"
            " attempts) VALUES (?, ?, ?, ?, ?, ?)",
            (key, judge_model, text, finish_reason, time.time(), attempts),
        )
        self._db.commit()

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        self._db.close()
