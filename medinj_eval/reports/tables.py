"""Markdown, CSV and JSON tables of a comparison."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def fmt_value(value: Any) -> str:
    """A table cell: blank for None, yes/no, floats to 4 significant digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def cell_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (cell, system): score, and the tests against the baseline."""
    rows = []
    for cell in comparison["cells"]:
        for system in comparison["systems"]:
            test = cell["tests"].get(system, {})
            rows.append(
                {
                    "cell": cell["cell"],
                    "n_shot": cell["n_shot"],
                    "metric": cell["metric"],
                    "n_items": cell["n_items"],
                    "system": system,
                    "score": cell["scores"][system],
                    "best": system in cell["best"],
                    **{
                        k: test.get(k)
                        for k in (
                            "delta",
                            "ci_low",
                            "ci_high",
                            "p_t",
                            "p_bh",
                            "sig_bh",
                            "p_bonferroni",
                            "sig_bonferroni",
                            "p_mcnemar",
                            "p_wilcoxon",
                        )
                    },
                    **judge_columns(cell, system),
                }
            )
    return rows


def judge_columns(cell: dict[str, Any], system: str) -> dict[str, Any]:
    """Whose score a judged cell's score is, whether the system judged itself, and its
    length-controlled score with CI (blank for cells that were not judged)."""
    lc = ((cell.get("length_controlled") or {}).get("systems") or {}).get(system) or {}
    ci = lc.get("ci95") or (None, None)
    return {
        "judge": (cell.get("judges") or {}).get(system),
        "self_judged": system in cell["self_judged"] if "self_judged" in cell else None,
        "length_controlled": lc.get("length_controlled"),
        "lc_ci_low": ci[0],
        "lc_ci_high": ci[1],
    }


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(fmt_value(r[k]) for k in head) + " |" for r in rows]
    return "\n".join(lines)


def ranking_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    record = comparison["significance"]
    return [
        {
            "system": r["system"],
            "normalised mean": r["mean"],
            "std": r["std"],
            "average rank": r["average_rank"],
            "wins (BH)": record.get(r["system"], {}).get("wins", ""),
            "losses (BH)": record.get(r["system"], {}).get("losses", ""),
            "cells": record.get(r["system"], {}).get("cells", ""),
        }
        for r in comparison["ranking"]
    ]


def friedman_text(friedman: dict[str, Any]) -> str:
    if not friedman.get("applicable"):
        return f"Friedman test not applicable: {friedman['reason']}"
    return (
        f"Friedman chi2 = {friedman['statistic']:.3f}, p = {friedman['pvalue']:.3g} "
        f"(k = {friedman['k']}, N = {friedman['n']}); Nemenyi CD = "
        f"{friedman['critical_difference']:.3f}"
    )


def settings_text(comparison: dict[str, Any]) -> str:
    text = (
        f"Baseline {comparison['baseline']}; BH and Bonferroni at {comparison['q']}; "
        f"paired bootstrap with {comparison['n_resamples']} draws, seed {comparison['seed']}."
    )
    warnings = comparison.get("warnings") or []
    return text + "".join(f"\n\nWarning: {w}." for w in warnings)


def comparison_markdown(comparison: dict[str, Any]) -> str:
    parts = [
        settings_text(comparison),
        "## Ranking",
        markdown_table(ranking_rows(comparison)),
        friedman_text(comparison["friedman"]),
        "## Cells",
        markdown_table(cell_rows(comparison)),
    ]
    if comparison.get("skipped_tasks"):
        parts.append(
            "Tasks not logged by every run (skipped): " + ", ".join(comparison["skipped_tasks"])
        )
    return "\n\n".join(parts) + "\n"


def write_tables(comparison: dict[str, Any], folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": folder / "comparison.json",
        "markdown": folder / "comparison.md",
        "csv": folder / "cells.csv",
    }
    paths["json"].write_text(json.dumps(comparison, indent=2, ensure_ascii=False))
    paths["markdown"].write_text(comparison_markdown(comparison), encoding="utf-8")
    rows = cell_rows(comparison)
    with paths["csv"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return paths
