"""Reading raw benchmark files (JSON list, JSON lines, parquet) with strict UTF-8 checks."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from medinj_eval.data.errors import DataValidationError
from medinj_eval.hashing import sha256_file

DATA_DIR_ENV = "MEDINJ_DATA_DIR"
_RECORDERS: list[dict[str, dict[str, str]]] = []


@contextmanager
def recording_reads() -> Iterator[dict[str, dict[str, str]]]:
    """Origin -> ``{"path", "sha256"}`` of every data file and hub dataset read inside the
    block (a task records what its own loading read; the run's manifest lists them)."""
    reads: dict[str, dict[str, str]] = {}
    _RECORDERS.append(reads)
    try:
        yield reads
    finally:
        _RECORDERS.remove(reads)


def record_read(origin: str, sha256: str) -> None:
    """Note a data file (or hub dataset) read, for every recording block open."""
    for reads in _RECORDERS:
        reads[origin] = {"path": origin, "sha256": sha256}


def resolve_data_dir(data_dir: str | os.PathLike | None, subdir: str) -> Path | None:
    """Local folder of one benchmark, or None when it must come from the hub.

    ``data_dir`` (from ``--metadata '{"data_dir": ...}'``) wins over ``$MEDINJ_DATA_DIR``.
    Either may point at a root holding one folder per benchmark (``<root>/<subdir>``) or at
    the benchmark folder itself.
    """
    chosen = data_dir or os.environ.get(DATA_DIR_ENV)
    if not chosen:
        return None
    root = Path(chosen).expanduser()
    if not root.is_dir():
        raise DataValidationError(str(root), None, None, "data_dir is not a folder")
    nested = root / subdir
    return nested if nested.is_dir() else root


def read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``.json`` (list or JSON lines), ``.jsonl`` or ``.parquet`` file."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        record_read(str(path), sha256_file(path))
        return pq.read_table(path).to_pylist()
    raw = path.read_bytes()
    record_read(str(path), hashlib.sha256(raw).hexdigest())
    text = raw.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")  # a BOM is valid
    stripped = text.lstrip()
    if path.suffix == ".jsonl" or not stripped.startswith("["):
        rows = [_parse_line(path, i, line) for i, line in enumerate(text.splitlines())]
        rows = [r for r in rows if r is not None]
    else:
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataValidationError(str(path), None, None, f"invalid JSON: {err}") from err
        if not isinstance(rows, list):
            raise DataValidationError(str(path), None, None, "expected a JSON list of rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataValidationError(str(path), i, None, "row is not a JSON object")
        _check_utf8(path, i, row)
    return rows


def _parse_line(path: Path, index: int, line: str) -> dict | None:
    if not line.strip():
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise DataValidationError(str(path), index, None, f"invalid JSON line: {err}") from err


def _check_utf8(path: Path, row: int, value: Any, field: str | None = None) -> None:
    """Undecodable bytes survive as lone surrogates; find the field that holds them."""
    if isinstance(value, str):
        if any("\udc80" <= c <= "\udcff" for c in value):
            raise DataValidationError(str(path), row, field, "invalid UTF-8 bytes")
    elif isinstance(value, dict):
        for key, inner in value.items():
            _check_utf8(path, row, inner, key if field is None else f"{field}.{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _check_utf8(path, row, inner, f"{field}[{i}]")


SUFFIXES = (".json", ".jsonl", ".parquet")


def find_split_file(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The file of a split: ``<name>.json|.jsonl|.parquet`` or ``<name>-*.parquet`` shards."""
    for name in names:
        for suffix in SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
        shards = sorted(folder.glob(f"{name}-*.parquet"))
        if shards:
            return shards[0]
    return None
