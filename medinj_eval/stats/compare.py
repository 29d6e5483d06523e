"""Compare several runs against a baseline, cell by cell (a cell = one task at one shot count).

Per cell and system: mean score, delta vs the baseline, paired t-test (EnMed), exact McNemar
(binary metrics), Wilcoxon signed-rank, paired bootstrap 95% CI of the delta. Across all
(cell, system) t-tests: Benjamini-Hochberg at q and Bonferroni. Per system: significant
wins and losses (BH), min-max normalised scores, global mean +- std, average rank; across
systems: Friedman test and Nemenyi critical difference. Runs that differ from the baseline in
anything but the model (data files, versions, seeds, limit; from their manifests), and judged
cells whose runs had different judges, are named in ``warnings``; so are items some run has
no score for (a missing judge verdict), which are left out of every run's cell. A judged
cell also names each run's judge, the self-judged runs and the length-controlled scores.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from medinj_eval.provenance import manifest_differences
from medinj_eval.runs import JUDGE_PREFIX, Run, RunError, aligned
from medinj_eval.stats import paired, ranking
from medinj_eval.stats.judge_cells import judge_facts, mixed_judge_warnings

log = logging.getLogger(__name__)


def unique_names(runs: list[Run]) -> None:
    """Two runs of the same model get their folder name appended."""
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.name] = seen.get(run.name, 0) + 1
    for run in runs:
        if seen[run.name] > 1:
            run.name = f"{run.name} ({run.path.parent.name})"


def common_tasks(runs: list[Run]) -> tuple[list[str], list[str]]:
    """Tasks every run logged, and the ones only some did (skipped, reported)."""
    sets = [set(run.tasks) for run in runs]
    common = set.intersection(*sets)
    return sorted(common), sorted(set.union(*sets) - common)


def compare_runs(
    runs: list[Run],
    baseline: str,
    *,
    metric: str | None = None,
    q: float = 0.05,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """The whole comparison as one JSON-serialisable dict (see the module docstring)."""
    if len(runs) < 2:
        raise RunError("compare needs at least two runs")
    unique_names(runs)
    names = [run.name for run in runs]
    if baseline not in names:
        raise RunError(f"baseline {baseline!r} is none of the runs: {names}")
    base_index = names.index(baseline)
    tasks, skipped = common_tasks(runs)
    if not tasks:
        raise RunError("the runs share no task")
    cells = [_cell(runs, task, metric, base_index, n_resamples, seed) for task in tasks]
    _correct(cells, names, baseline, q)
    warnings = provenance_warnings(runs, base_index) + mixed_judge_warnings(cells)
    warnings += [f"{c['cell']}: {c['n_unscored']} item(s) without a score in some run (a "
                 "missing judge verdict) are left out of every run" for c in cells
                 if c["n_unscored"]]  # fmt: skip
    matrix = np.array([[cell["scores"][n] for cell in cells] for n in names])
    return {
        "baseline": baseline,
        "systems": names,
        "warnings": warnings,
        "runs": {run.name: str(run.path) for run in runs},
        "q": q,
        "n_resamples": n_resamples,
        "seed": seed,
        "cells": cells,
        "skipped_tasks": skipped,
        "significance": _significance(cells, names, baseline),
        "ranking": _ranking(matrix, names, [c["cell"] for c in cells]),
        "friedman": _friedman(matrix),
    }


def provenance_warnings(runs: list[Run], base_index: int) -> list[str]:
    """What differs between each run and the baseline besides the model (data files,
    versions, seeds, limit), from the runs' manifests; a run without one is named too."""
    base = runs[base_index]
    warnings = []
    for run in runs:
        if run is base:
            continue
        if run.manifest is None or base.manifest is None:
            missing = run if run.manifest is None else base
            warnings.append(f"{missing.name}: no manifest.json (not written by medinj-eval run)")
            continue
        differs = manifest_differences(base.manifest, run.manifest)
        if differs:
            warnings.append(f"{run.name} differs from {base.name} in: {'; '.join(differs)}")
    return warnings


def _cell(runs, task, metric, base_index, n_resamples, seed) -> dict[str, Any]:
    name = runs[0].metric_of(task, metric)
    keys, scores = aligned(runs, task, name)
    arrays = [np.asarray(s, dtype=float) for s in scores]
    scored = np.all([np.isfinite(a) for a in arrays], axis=0)  # items with no score in a run
    dropped = int((~scored).sum())  # (a missing judge verdict) are left out of every run
    keys = [k for k, keep in zip(keys, scored) if keep]
    arrays = [a[scored] for a in arrays]
    base = arrays[base_index]
    binary = all(np.isin(a, (0.0, 1.0)).all() for a in arrays)
    shots = runs[0].n_shot(task)
    cell: dict[str, Any] = {
        "cell": task,
        "task": task,
        "n_shot": shots,
        "metric": name,
        "n_items": len(keys),
        "n_unscored": dropped,
        "scores": {run.name: float(a.mean()) for run, a in zip(runs, arrays)},
        "tests": {},
    }
    for i, (run, a) in enumerate(zip(runs, arrays)):
        if i == base_index:
            continue
        t, p_t = paired.paired_t_test(a, base)
        low, high = paired.paired_bootstrap_ci(a, base, n_resamples=n_resamples, seed=seed)
        cell["tests"][run.name] = {
            "delta": float(a.mean() - base.mean()),
            "t": t,
            "p_t": p_t,
            "p_mcnemar": paired.mcnemar_exact(a, base) if binary else None,
            "p_wilcoxon": paired.wilcoxon_signed_rank(a, base),
            "ci_low": low,
            "ci_high": high,
        }
    if name.startswith(JUDGE_PREFIX):
        cell.update(judge_facts(runs, task, name, keys, n_resamples, seed))
    best = max(cell["scores"].values())
    cell["best"] = sorted(n for n, v in cell["scores"].items() if v == best)
    return cell


def _correct(cells, names, baseline, q) -> None:
    """BH and Bonferroni over every (cell, system) t-test, written back into the cells."""
    tests = [cell["tests"][n] for cell in cells for n in names if n != baseline]
    pvalues = [t["p_t"] for t in tests]
    bh, bh_p = paired.benjamini_hochberg(pvalues, q)
    bonf, bonf_p = paired.bonferroni(pvalues, q)
    for test, r1, p1, r2, p2 in zip(tests, bh, bh_p, bonf, bonf_p):
        test.update(sig_bh=r1, p_bh=p1, sig_bonferroni=r2, p_bonferroni=p2)


def _significance(cells, names, baseline) -> dict[str, dict[str, int]]:
    record = {}
    for name in names:
        if name == baseline:
            continue
        tests = [cell["tests"][name] for cell in cells]
        record[name] = {
            "cells": len(tests),
            "wins": sum(t["sig_bh"] and t["delta"] > 0 for t in tests),
            "losses": sum(t["sig_bh"] and t["delta"] < 0 for t in tests),
            "wins_bonferroni": sum(t["sig_bonferroni"] and t["delta"] > 0 for t in tests),
            "losses_bonferroni": sum(t["sig_bonferroni"] and t["delta"] < 0 for t in tests),
        }
    return record


def _ranking(matrix, names, cells) -> list[dict[str, Any]]:
    normalised = ranking.min_max_normalise(matrix)
    ranks = ranking.average_ranks(matrix)
    rows = [
        {
            "system": name,
            "normalised": dict(zip(cells, map(float, normalised[i]))),
            "mean": float(normalised[i].mean()),
            "std": float(normalised[i].std(ddof=0)),
            "average_rank": float(ranks[i]),
        }
        for i, name in enumerate(names)
    ]
    return sorted(rows, key=lambda r: (-r["mean"], r["average_rank"]))


def _friedman(matrix) -> dict[str, Any]:
    k, n = matrix.shape
    if k < 3 or n < 2:
        return {"applicable": False, "reason": f"needs >= 3 systems and >= 2 cells (k={k}, N={n})"}
    statistic, pvalue = ranking.friedman(matrix)
    return {
        "applicable": True,
        "k": k,
        "n": n,
        "statistic": statistic,
        "pvalue": pvalue,
        "critical_difference": ranking.nemenyi_critical_difference(k, n),
    }
