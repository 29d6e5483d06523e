"""A jury: every judge of a panel grades every answer, and their verdicts are combined.

Each judge's pass is an ordinary judge pass written apart, under
``<out>/members/<judge>/`` (records, summary, identity); the jury's records and summary are
``<out>/<task>.jsonl`` and ``<out>/summary.json``, in the format of one judge's, so
``compare``, ``report``, the leaderboard and the study tables read a jury score like any
judge score (metric ``judge_<jury>``).

Verdict of an item (all judges on one scale, the prompts' verdict kind and bounds):

* ``mean``: the mean of the judges' scores (their dimensions too);
* ``majority``: for binary verdicts and an odd number of judges, the verdict most judges gave.

An item on which any judge has no verdict (failed or unparsable) has no jury verdict: it is
``incomplete`` and names the judges missing, never averaged over fewer judges.
Inter-judge agreement: Krippendorff's alpha over the judges' scores (nominal for binary
verdicts, interval otherwise; Krippendorff, Content Analysis, 2004), per task and overall.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from medinj_eval.atomic import write_atomic
from medinj_eval.judge import JudgeError
from medinj_eval.judge.aggregate import summarize
from medinj_eval.judge.panel import Panel
from medinj_eval.judge.prompts import VerdictSpec

INCOMPLETE = "incomplete"


def jury_rule(panel: Panel, verdict: VerdictSpec) -> str:
    """The panel's rule, or majority for binary verdicts from an odd number of judges, else
    mean; refused: majority on a scale, or from an even number of judges (ties)."""
    odd = len(panel.judges) % 2 == 1
    rule = panel.rule or ("majority" if verdict.kind == "binary" and odd else "mean")
    if rule == "majority" and (verdict.kind != "binary" or not odd):
        raise JudgeError(
            "rule 'majority' needs binary verdicts and an odd number of judges "
            f"(here {verdict.kind} verdicts, {len(panel.judges)} judges); use rule 'mean'"
        )
    return rule


def common_scale(prompts: dict[str, Any]) -> VerdictSpec:
    """The one verdict scale of the jury's prompts; refused when two differ."""
    scales = {(p.verdict.kind, p.verdict.minimum, p.verdict.maximum) for p in prompts.values()}
    if len(scales) > 1:
        names = ", ".join(f"{judge}: {p.name}" for judge, p in prompts.items())
        raise JudgeError(f"a jury's judges score on one scale; their prompts differ ({names})")
    return next(iter(prompts.values())).verdict


def verdict_of(scores: dict[str, float | None], rule: str) -> tuple[float | None, str]:
    """The jury's score of one item and its status."""
    missing = [name for name, score in scores.items() if score is None]
    if missing:
        return None, f"{INCOMPLETE}: no verdict from {', '.join(missing)}"
    values = list(scores.values())
    if rule == "majority":
        return float(sum(values) > len(values) / 2), "ok"
    return statistics.fmean(values), "ok"  # type: ignore[arg-type]


def combine(members: dict[str, list[dict[str, Any]]], rule: str, jury: str) -> list[dict[str, Any]]:
    """One jury record per item, from the judges' records of one task (same items)."""
    first = next(iter(members.values()))
    by_judge = {name: {r["doc_hash"]: r for r in records} for name, records in members.items()}
    out = []
    for item in first:
        rows = {name: found[item["doc_hash"]] for name, found in by_judge.items()}
        scores = {name: row["score"] for name, row in rows.items()}
        score, status = verdict_of(scores, rule)
        dims = [row.get("dimensions") or {} for row in rows.values()]
        dimensions = (
            {d: statistics.fmean(x[d] for x in dims) for d in dims[0]}
            if score is not None and all(dims)
            else {}
        )
        out.append({
            "task": item["task"], "doc_id": item["doc_id"], "doc_hash": item["doc_hash"],
            "question_type": item.get("question_type"), "score": score,
            "dimensions": dimensions, "status": status, "rule": rule, "members": scores,
            "judge_model": f"jury:{jury}", "prompt": jury,
        })  # fmt: skip
    return out


def krippendorff_alpha(members: dict[str, list[float | None]], level: str) -> float | None:
    """Alpha over the judges' scores of the same items (missing scores left out); None when
    undefined (fewer than two values, or one value everywhere)."""
    import krippendorff
    import numpy as np

    data = np.array([[math.nan if s is None else s for s in scores] for scores in members.values()])
    values = data[~np.isnan(data)]
    if len(members) < 2 or len(np.unique(values)) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def judge_with_jury(
    source: Path, panel: Panel, name: str, make_config, out: Path | None = None
) -> dict[str, Any]:
    """Every judge's pass (``make_config(spec)`` gives its JudgeConfig), then the jury's
    records and summary; returns the summary with ``out``."""
    from medinj_eval.judge.runner import judge_run

    base = source if source.is_dir() else source.parent
    out = out or base / "judge" / name
    configs = {spec.name: make_config(spec) for spec in panel.judges}
    verdict = common_scale({judge: c.prompt for judge, c in configs.items()})
    rule = jury_rule(panel, verdict)
    summaries = {
        judge: judge_run(source, config, out / "members" / judge)
        for judge, config in configs.items()
    }
    level = "nominal" if verdict.kind == "binary" else "interval"
    summary: dict[str, Any] = {
        "settings": {
            "jury": name, "rule": rule, "agreement_level": level,
            "identity": {"jury": name, "rule": rule, "prompt": name,
                         "members": {j: s["settings"]["identity"] for j, s in summaries.items()}},
            "members": {j: s["settings"] for j, s in summaries.items()},
        },
        "tasks": {},
    }  # fmt: skip
    every: dict[str, list[float | None]] = {judge: [] for judge in configs}
    for task in next(iter(summaries.values()))["tasks"]:
        records = {j: _read(out / "members" / j / f"{task}.jsonl") for j in configs}
        jury_records = combine(records, rule, name)
        write_atomic(out / f"{task}.jsonl", "".join(_line(r) for r in jury_records))
        scores = {j: [r["members"][j] for r in jury_records] for j in configs}
        for judge, values in scores.items():
            every[judge] += values
        task_summary = summarize(jury_records)
        task_summary["n_incomplete"] = task_summary["n_missing"]
        task_summary["krippendorff_alpha"] = krippendorff_alpha(scores, level)
        summary["tasks"][task] = task_summary
    summary["krippendorff_alpha"] = krippendorff_alpha(every, level)
    write_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False))
    summary["out"] = str(out)
    return summary


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"
