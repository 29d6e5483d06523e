"""``medinj-eval leaderboard build``: a static site (one self-contained ``index.html`` plus
``data.json``) from the validated submissions, the reported rows and any local runs."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medinj_eval.benchmarks import grid_cells
from medinj_eval.leaderboard.pivot import columns, pivot, scale_of, task_parts
from medinj_eval.leaderboard.reported import REPORTED_DIR, load_reported
from medinj_eval.leaderboard.rows import run_rows
from medinj_eval.leaderboard.validate import validate_all

TEMPLATE = Path(__file__).resolve().parent / "site.html"
GRID_FAMILY = "enmed"


def grid_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows under EnMed's own cell names (``enmed_extqa_3shot``, metric ``token_f1``) for
    every scored grid cell, and ``enmed_<row>_mean`` (mean over 0/3/5 shots) where a model
    has the three: they line up with EnMed's reported rows on the site."""
    cells = grid_cells()
    out: list[dict[str, Any]] = []
    by_row: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        cell = cells.get(row["task"])
        if cell is None or cell[2].grid_metric is None or row["metric"] != cell[2].grid_metric[0]:
            continue
        grid_row, shots, bench = cell
        metric = bench.grid_metric[1]
        task = f"{GRID_FAMILY}_{grid_row}_{shots}shot"
        out.append({**row, "family": GRID_FAMILY, "task": task, "metric": metric})
        key = (row["model"], row["kind"], row["source"], row["partial"], grid_row, metric)
        by_row.setdefault(key, []).append(row)
    for (model, kind, source, partial, grid_row, metric), scored in by_row.items():
        if len(scored) == len(cells_of(grid_row)):
            # the three cells score the same items: their errors are not independent
            out.append(
                {"model": model, "kind": kind, "family": GRID_FAMILY,
                 "task": f"{GRID_FAMILY}_{grid_row}_mean", "metric": metric,
                 "value": sum(r["value"] for r in scored) / len(scored), "stderr": None,
                 "n": scored[0].get("n"), "source": source, "partial": partial}
            )  # fmt: skip
    return out


def cells_of(grid_row: str) -> list[str]:
    return [task for task, (row, _, _) in grid_cells().items() if row == grid_row]


def build_site(results_dir: Path, out: Path, runs: list[str] | None = None) -> Path:
    """Gather the rows ``validate`` recorded for each submission (a submission changed since
    is validated again first), the reported rows and the local runs, and write
    ``out/index.html`` and ``out/data.json``: the rows, the pivot (models x headlines) and
    its columns."""
    rows = []
    for validation in validate_all(results_dir):
        rows += validation.rows
    for run in runs or []:
        rows += run_rows(run)
    rows += grid_rows(rows)
    rows += load_reported(results_dir / REPORTED_DIR)
    rows = [{**row, **task_parts(row["task"]), "scale": scale_of(row["metric"])} for row in rows]
    out.mkdir(parents=True, exist_ok=True)
    entries = pivot(rows)
    data = json.dumps(
        {"rows": rows, "pivot": entries, "columns": columns(entries)}, ensure_ascii=False
    )
    (out / "data.json").write_text(data, encoding="utf-8")
    built = datetime.now(timezone.utc).isoformat(timespec="seconds")
    page = TEMPLATE.read_text(encoding="utf-8").replace("__BUILT__", built)
    page = page.replace("__DATA__", data.replace("</", "<\\/"))
    (out / "index.html").write_text(page, encoding="utf-8")
    return out / "index.html"
