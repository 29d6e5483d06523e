"""The steps behind ``medinj-eval compare`` and ``medinj-eval report``.

``compare`` reads runs and writes ``comparison.json`` (the single source every other output
is written from), the tables, the figures, position bias and the report.
``report`` re-writes the page of a comparison folder, or writes the page of one run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medinj_eval.reports.figures import all_figures
from medinj_eval.reports.page import comparison_sections, run_sections, write_report
from medinj_eval.reports.tables import write_tables
from medinj_eval.runs import RunError, load_run, read_json, results_file
from medinj_eval.stats.compare import compare_runs
from medinj_eval.stats.position_bias import run_position_bias


def compare(
    run_paths: list[str],
    baseline: str,
    out: Path,
    *,
    names: list[str] | None = None,
    metric: str | None = None,
    q: float = 0.05,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, Path]:
    """Compare runs; write tables, figures, position bias and the report into ``out``."""
    if names and len(names) != len(run_paths):
        raise RunError(f"--names gives {len(names)} names for {len(run_paths)} runs")
    refuse_repeated_runs(run_paths)
    runs = [load_run(p, n) for p, n in zip(run_paths, names or [None] * len(run_paths))]
    comparison = compare_runs(
        runs, baseline, metric=metric, q=q, n_resamples=n_resamples, seed=seed
    )
    bias = {run.name: run_position_bias(run) for run in runs}
    comparison["position_bias"] = {k: v for k, v in bias.items() if v}
    paths = write_tables(comparison, out)
    return {**paths, **_page(comparison, out)}


def refuse_repeated_runs(run_paths: list[str]) -> None:
    """A run compared with itself would pair every item with itself: refused."""
    seen: dict[Path, str] = {}
    for given in run_paths:
        path = results_file(Path(given)).resolve()
        if path in seen:
            raise RunError(
                f"{given} is given twice (also as {seen[path]}): a run compared with itself "
                "has no differences to test; give two or more different runs"
            )
        seen[path] = given


def _page(comparison: dict[str, Any], out: Path) -> dict[str, Path]:
    figures = all_figures(comparison, out / "figures")
    sections = comparison_sections(comparison, figures, out, comparison.get("position_bias", {}))
    return write_report(f"Comparison against {comparison['baseline']}", sections, out)


def report(path: str | Path, out: Path | None = None) -> dict[str, Path]:
    """The page of a comparison folder (holding comparison.json) or of one run folder."""
    path = Path(path)
    if (path / "comparison.json").is_file():
        comparison = read_json(path / "comparison.json")
        return _page(comparison, out or path)
    run = load_run(path)
    folder = out or run.path.parent
    return write_report(f"Run: {run.name}", run_sections(run), folder)
