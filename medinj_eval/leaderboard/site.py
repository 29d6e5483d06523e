"""``medinj-eval leaderboard build``: a static site (one self-contained ``index.html`` plus
``data.json``) from the validated submissions, the reported rows and any local runs."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medinj_eval.judge.aggregate import summarize
from medinj_eval.leaderboard.reported import REPORTED_DIR, load_reported
from medinj_eval.leaderboard.submission import run_limit
from medinj_eval.leaderboard.validate import validate_all
from medinj_eval.stats.runs import judge_records, load_run

TEMPLATE = Path(__file__).resolve().parent / "site.html"
FAMILIES = ("frenchmedmcqa", "mediqal", "medinjfr", "frbmedqa")


def family(task: str) -> str:
    name = task.removeprefix("medinj_fr_sample_")
    return next((f for f in FAMILIES if name.startswith(f)), "other")


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
    rows += load_reported(results_dir / REPORTED_DIR)
    for run in runs or []:
        rows += run_rows(run)
    out.mkdir(parents=True, exist_ok=True)
    data = json.dumps(rows, ensure_ascii=False)
    (out / "data.json").write_text(data, encoding="utf-8")
    built = datetime.now(timezone.utc).isoformat(timespec="seconds")
    page = TEMPLATE.read_text(encoding="utf-8").replace("__BUILT__", built)
    page = page.replace("__DATA__", data.replace("</", "<\\/"))
    (out / "index.html").write_text(page, encoding="utf-8")
    return out / "index.html"
