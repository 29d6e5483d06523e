"""``medinj-eval leaderboard build``: a static site (one self-contained ``index.html`` plus
``data.json``) from the validated submissions, the reported rows and any local runs."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medinj_eval.benchmarks import benchmark_of_task, families, grid_cells
from medinj_eval.judge.aggregate import summarize
from medinj_eval.leaderboard.reported import REPORTED_DIR, load_reported
from medinj_eval.leaderboard.submission import run_limit
from medinj_eval.leaderboard.validate import validate_all
from medinj_eval.runs import judge_records, load_run

TEMPLATE = Path(__file__).resolve().parent / "site.html"
GRID_FAMILY = "enmed"


def family(task: str) -> str:
    """The declared family of the task's benchmark; a group takes the family its name
    starts with (``medinjfr_constrained_em``)."""
    bench = benchmark_of_task(task)
    if bench is not None:
        return bench.family
    name = task.removeprefix("medinj_fr_sample_")
    return next((f for f in families() if name.startswith(f)), "other")


def grid_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows under EnMed's own cell names (``enmed_extqa_3shot``, metric ``token_f1``) for
    every scored grid cell, and ``enmed_<row>_mean`` (mean over 0/3/5 shots) where a model
    has the three: they line up with EnMed's reported rows on the site."""
    cells = grid_cells()
    out: list[dict[str, Any]] = []
    by_row: dict[tuple, list[float]] = {}
    for row in rows:
        cell = cells.get(row["task"])
        if cell is None or cell[2].grid_metric is None or row["metric"] != cell[2].grid_metric[0]:
            continue
        grid_row, shots, bench = cell
        metric = bench.grid_metric[1]
        task = f"{GRID_FAMILY}_{grid_row}_{shots}shot"
        out.append({**row, "family": GRID_FAMILY, "task": task, "metric": metric})
        key = (row["model"], row["kind"], row["source"], row["partial"], grid_row, metric)
        by_row.setdefault(key, []).append(row["value"])
    for (model, kind, source, partial, grid_row, metric), values in by_row.items():
        if len(values) == len(cells_of(grid_row)):
            out.append(
                {"model": model, "kind": kind, "family": GRID_FAMILY,
                 "task": f"{GRID_FAMILY}_{grid_row}_mean", "metric": metric,
                 "value": sum(values) / len(values), "source": source, "partial": partial}
            )  # fmt: skip
    return out


def cells_of(grid_row: str) -> list[str]:
    return [task for task, (row, _, _) in grid_cells().items() if row == grid_row]


def _metric_rows(
    model: str, kind: str, source: str, metrics_by_task, partial: bool = False
) -> list[dict[str, Any]]:
    return [
        {"model": model, "kind": kind, "family": family(task), "task": task, "metric": metric,
         "value": float(value), "source": source, "partial": partial}
        for task, metrics in sorted(metrics_by_task.items())
        for metric, value in sorted(metrics.items())
        if value is not None and value == value
    ]  # fmt: skip


def judge_metrics(judge: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """``judge_<prompt>``: the mean verdict of each prompt (counts are not scores)."""
    return {f"judge_{prompt}": entry["mean"] for prompt, entry in judge.items()}


def run_rows(run_path: str | Path, name: str | None = None) -> list[dict[str, Any]]:
    """Rows of a local run (kind ``run``): its per-task metrics, stderr columns left out."""
    run = load_run(run_path, name)
    metrics = {
        task: {name: value for name, _, value in run.logged_metrics(task)} for task in run.tasks
    }
    for prompt, by_task in judge_records(run).items():
        for task, records in by_task.items():
            metrics[task][f"judge_{prompt}"] = summarize(records)["mean"]
    partial = run_limit(run) is not None
    return _metric_rows(run.name, "run", str(run.path.parent), metrics, partial)


def build_site(results_dir: Path, out: Path, runs: list[str] | None = None) -> Path:
    """Validate results/, gather every row and write ``out/index.html`` and ``out/data.json``."""
    rows = []
    for manifest in validate_all(results_dir):
        metrics = {
            task: {**entry["metrics"], **judge_metrics(entry.get("judge") or {})}
            for task, entry in manifest["tasks"].items()
        }
        rows += _metric_rows(
            manifest["model_id"], "submission", "results/", metrics, manifest["partial"]
        )
    for run in runs or []:
        rows += run_rows(run)
    rows += grid_rows(rows)
    rows += load_reported(results_dir / REPORTED_DIR)
    out.mkdir(parents=True, exist_ok=True)
    data = json.dumps(rows, ensure_ascii=False)
    (out / "data.json").write_text(data, encoding="utf-8")
    built = datetime.now(timezone.utc).isoformat(timespec="seconds")
    page = TEMPLATE.read_text(encoding="utf-8").replace("__BUILT__", built)
    page = page.replace("__DATA__", data.replace("</", "<\\/"))
    (out / "index.html").write_text(page, encoding="utf-8")
    return out / "index.html"
