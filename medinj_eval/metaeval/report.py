"""Meta-evaluation results: every scorer against the human labels, overall and per
generator, plus the verbosity check; written as JSON, a Markdown table and PNG plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from medinj_eval.metaeval.human_agreement import CORRELATIONS, agreement
from medinj_eval.metaeval.judge_selection import compare_judges, rank_judges
from medinj_eval.metaeval.pairs import Pair

JUDGE_SCORER = "judge:"  # the prefix of a judge's scorer name
TABLE_STATS = ("pearson", "spearman", "kendall_tau_b", "cohen_kappa", "krippendorff_alpha")


def meta_evaluate(
    pairs: list[Pair], scores: dict[str, list[float | None]], resamples: int, seed: int
) -> dict[str, Any]:
    """Agreement of each scorer with the humans; verbosity = Spearman of each scorer (and of
    the human labels) with the candidate's length in words, bootstrap CIs by question."""
    human = [p.human for p in pairs]
    clusters = [p.question_id for p in pairs]
    lengths = [float(len(p.candidate.split())) for p in pairs]
    result: dict[str, Any] = {
        "n_pairs": len(pairs),
        "n_questions": len(set(clusters)),
        "generators": sorted({p.generator for p in pairs}),
        "resamples": resamples,
        "seed": seed,
        "scorers": {},
        "per_generator": {},
        "verbosity": {},
    }
    for name, values in scores.items():
        result["scorers"][name] = agreement(values, human, clusters, resamples, seed)
        length_corr = agreement(values, lengths, clusters, resamples, seed)
        result["verbosity"][name] = {
            "spearman_with_length": length_corr["spearman"],
            "ci95": length_corr["spearman_ci95"],
        }
    human_length = agreement(human, lengths, clusters, resamples, seed)
    result["verbosity"]["human"] = {
        "spearman_with_length": human_length["spearman"],
        "ci95": human_length["spearman_ci95"],
    }
    judges = [name for name in scores if name.startswith(JUDGE_SCORER)]
    if len(judges) > 1:
        selection = compare_judges(
            {name: scores[name] for name in judges}, human, clusters, resamples, seed
        )
        selection["ranking"] = rank_judges(result["scorers"], judges)
        result["judge_selection"] = selection
    for generator in result["generators"]:
        idx = [i for i, p in enumerate(pairs) if p.generator == generator]
        result["per_generator"][generator] = {
            name: agreement(
                [values[i] for i in idx],
                [human[i] for i in idx],
                [clusters[i] for i in idx],
                resamples,
                seed,
            )
            for name, values in scores.items()
        }
    return result


def _fmt(value: Any, ci: Any = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:.3f}"
    if ci and not any(math.isnan(c) for c in ci):
        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    return text


def markdown(result: dict[str, Any]) -> str:
    """One table per scope (all pairs, each generator), then the verbosity check."""
    lines = [
        "# Judge meta-evaluation",
        "",
        f"{result['n_pairs']} labelled pairs, {result['n_questions']} questions, generators: "
        f"{', '.join(result['generators'])}. 95% CIs: bootstrap over questions, "
        f"{result['resamples']} draws, seed {result['seed']}.",
    ]
    scopes = [("All pairs", result["scorers"])]
    scopes += [(f"Generator {g}", s) for g, s in result["per_generator"].items()]
    for title, per_scorer in scopes:
        lines += [
            "",
            f"## {title}",
            "",
            "| scorer | n | missing | " + " | ".join(TABLE_STATS) + " |",
        ]
        lines.append("|---" * (3 + len(TABLE_STATS)) + "|")
        for name, stats in per_scorer.items():
            cells = [_fmt(stats.get(s), stats.get(f"{s}_ci95")) for s in TABLE_STATS]
            lines.append(
                f"| {name} | {stats['n']} | {stats['n_missing']} | " + " | ".join(cells) + " |"
            )
    lines += _selection_lines(result.get("judge_selection"))
    lines += ["", "## Verbosity (Spearman with answer length in words)", ""]
    lines += ["| scorer | rho [95% CI] |", "|---|---|"]
    for name, v in result["verbosity"].items():
        lines.append(f"| {name} | {_fmt(v['spearman_with_length'], v['ci95'])} |")
    return "\n".join(lines) + "\n"


def _selection_lines(selection: dict[str, Any] | None) -> list[str]:
    """The judges ranked, and each pair's difference with its paired CI and BH p-value."""
    if not selection:
        return []
    stat = selection["statistic"]
    lines = [
        "",
        "## Judge selection",
        "",
        f"Judges ranked by {stat}: {' > '.join(selection['ranking'])}. Differences in {stat} "
        "with the labels; CIs and p-values from one paired bootstrap over questions, "
        "p-values adjusted by Benjamini-Hochberg (q = 0.05) over the pairs.",
        "",
        "| judge A | judge B | n | "
        + " | ".join(f"delta {s} [95% CI]" for s in CORRELATIONS)
        + " | p | p (BH) | significant |",
        "|---" * (6 + len(CORRELATIONS)) + "|",
    ]
    for row in selection["pairs"]:
        cells = [_fmt(row[s]["delta"], row[s]["ci95"]) for s in CORRELATIONS]
        lines.append(
            f"| {row['a']} | {row['b']} | {row['n']} | "
            + " | ".join(cells)
            + f" | {_fmt(row[stat]['p'])} | {_fmt(row['p_bh'])} | "
            + ("yes" if row["significant"] else "no")
            + " |"
        )
    return lines


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    """correlations.png (each statistic per scorer, with CIs) and verbosity.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["scorers"])
    paths = []
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(names)), 4))
    width = 0.8 / len(CORRELATIONS)
    for k, stat in enumerate(CORRELATIONS):
        values = [result["scorers"][n][stat] for n in names]
        cis = [result["scorers"][n][f"{stat}_ci95"] for n in names]
        xs = [i + k * width for i in range(len(names))]
        errs = [
            [_span(v, c[0]) for v, c in zip(values, cis)],
            [_span(c[1], v) for v, c in zip(values, cis)],
        ]
        ax.bar(xs, [0 if math.isnan(v) else v for v in values], width, yerr=errs, label=stat)
    ax.set_xticks([i + width for i in range(len(names))], names, rotation=20)
    ax.set_ylabel("agreement with human labels")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "correlations.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(result["verbosity"])), 3.5))
    verbosity = result["verbosity"]
    rhos = [verbosity[n]["spearman_with_length"] for n in verbosity]
    ax.bar(list(verbosity), [0 if math.isnan(v) else v for v in rhos], color="tab:gray")
    ax.set_ylabel("Spearman with answer length")
    ax.tick_params(axis="x", rotation=20)
    ax.axhline(0, color="black", linewidth=0.5)
    fig.tight_layout()
    paths.append(out / "verbosity.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def _span(a: float, b: float) -> float:
    return 0.0 if math.isnan(a) or math.isnan(b) else max(0.0, a - b)


def write_outputs(result: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metaeval.json").write_text(json.dumps(_clean(result), indent=2, allow_nan=False))
    (out / "metaeval.md").write_text(markdown(result))
    return [out / "metaeval.json", out / "metaeval.md", *plot(result, out)]


def _clean(value: Any) -> Any:
    """NaN (a statistic undefined on constant input) -> null: the JSON stays standard."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
