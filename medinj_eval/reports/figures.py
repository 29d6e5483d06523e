"""PNG figures of a comparison (the dict of :func:`medinj_eval.stats.compare.compare_runs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _stars(p: float | None) -> str:
    if p is None:
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def _heatmap(matrix, rows, cols, title, path: Path, labels=None, centred=False) -> Path:
    """Annotated heatmap; ``centred`` puts 0 at the middle of a diverging scale (deltas)."""
    matrix = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(2.5 + 1.1 * len(cols), 2.2 + 0.5 * len(rows)))
    if centred:
        bound = float(np.abs(matrix).max()) or 1.0
        image = ax.imshow(matrix, cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
    else:
        image = ax.imshow(matrix, cmap="YlGnBu", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for i in range(len(rows)):
        for j in range(len(cols)):
            text = labels[i][j] if labels else f"{matrix[i][j]:.3f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="black")
    fig.colorbar(image, ax=ax)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def raw_scores(comparison: dict[str, Any], path: Path) -> Path:
    cells, systems = comparison["cells"], comparison["systems"]
    matrix = np.array([[c["scores"][s] for c in cells] for s in systems])
    return _heatmap(matrix, systems, [c["cell"] for c in cells], "Scores", path)


def normalised_scores(comparison: dict[str, Any], path: Path) -> Path:
    rows = {r["system"]: r for r in comparison["ranking"]}
    systems, cells = comparison["systems"], [c["cell"] for c in comparison["cells"]]
    matrix = np.array([[rows[s]["normalised"][c] for c in cells] for s in systems])
    return _heatmap(matrix, systems, cells, "Min-max normalised per cell", path)


def delta_heatmap(comparison: dict[str, Any], path: Path) -> Path:
    """Delta vs baseline; stars from the BH-adjusted t-test p (* .05, ** .01, *** .001)."""
    systems = [s for s in comparison["systems"] if s != comparison["baseline"]]
    cells = comparison["cells"]
    tests = [[c["tests"][s] for c in cells] for s in systems]
    matrix = np.array([[t["delta"] for t in row] for row in tests])
    labels = [[f"{t['delta']:+.3f}{_stars(t['p_bh'])}" for t in row] for row in tests]
    return _heatmap(
        matrix,
        systems,
        [c["cell"] for c in cells],
        f"Delta vs {comparison['baseline']} (BH-adjusted paired t-test)",
        path,
        labels,
        centred=True,
    )


def significance_summary(comparison: dict[str, Any], path: Path) -> Path:
    record = comparison["significance"]
    systems = list(record)
    wins = [record[s]["wins"] for s in systems]
    losses = [-record[s]["losses"] for s in systems]
    fig, ax = plt.subplots(figsize=(6, 1.0 + 0.4 * len(systems)))
    ax.barh(systems, wins, color="#2a7")
    ax.barh(systems, losses, color="#c33")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"significant wins (right) / losses (left) vs {comparison['baseline']}, BH")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cd_diagram(comparison: dict[str, Any], path: Path) -> Path | None:
    """Critical-difference diagram (scikit-posthocs) of the average ranks; None when the
    Friedman test does not apply (fewer than 3 systems or 2 cells)."""
    friedman = comparison["friedman"]
    if not friedman.get("applicable"):
        return None
    import pandas as pd
    import scikit_posthocs as sp

    systems, cells = comparison["systems"], comparison["cells"]
    blocks = pd.DataFrame([[c["scores"][s] for s in systems] for c in cells], columns=systems)
    significance = sp.posthoc_nemenyi_friedman(blocks)
    ranks = {r["system"]: r["average_rank"] for r in comparison["ranking"]}
    fig, ax = plt.subplots(figsize=(7, 1.5 + 0.25 * len(systems)))
    sp.critical_difference_diagram(ranks, significance, ax=ax)
    ax.set_title(
        f"Average ranks; Friedman p = {friedman['pvalue']:.3g}, "
        f"Nemenyi CD = {friedman['critical_difference']:.2f}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def all_figures(comparison: dict[str, Any], folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "raw_scores": raw_scores(comparison, folder / "raw_scores.png"),
        "normalised": normalised_scores(comparison, folder / "normalised.png"),
        "delta": delta_heatmap(comparison, folder / "delta.png"),
        "significance": significance_summary(comparison, folder / "significance.png"),
    }
    cd = cd_diagram(comparison, folder / "cd_diagram.png")
    if cd is not None:
        made["cd_diagram"] = cd
    return made
