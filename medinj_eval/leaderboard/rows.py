"""The leaderboard's rows (one per model, task and metric) of a local run or a submission."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from medinj_eval.benchmarks import SAMPLE_PREFIX, benchmark_of_task, families, full_task
from medinj_eval.judge.aggregate import summarize
from medinj_eval.judge.identity import is_self_judged, judge_label
from medinj_eval.leaderboard.pivot import LENGTH_CONTROLLED, is_count
from medinj_eval.leaderboard.submission import run_limit
from medinj_eval.runs import Run, judge_records, load_run, read_jsonl


def family(task: str) -> str:
    """The declared family of the task's benchmark; a group takes the family its name
    starts with (``medinjfr_constrained_em``)."""
    bench = benchmark_of_task(task)
    if bench is not None:
        return bench.family
    return next((f for f in families() if full_task(task).startswith(f)), "other")


Scores = dict[str, dict[str, dict[str, Any]]]  # task -> metric -> value, stderr, n


def _metric_rows(
    model: str, kind: str, source: str, scores: Scores, partial: bool = False
) -> list[dict[str, Any]]:
    """Flat rows (one per task and metric); counts are left out: they are not scores."""
    return [
        {"model": model, "kind": kind, "family": family(task), "task": task, "metric": metric,
         "value": float(score["value"]), "stderr": score.get("stderr"), "n": score.get("n"),
         "n_shot": score.get("n_shot"), "source": source, "partial": partial,
         "sample": task.startswith(SAMPLE_PREFIX),
         **{k: score[k] for k in ("judge", "self_judged") if k in score}}
        for task, metrics in sorted(scores.items())
        for metric, score in sorted(metrics.items())
        if score["value"] is not None and score["value"] == score["value"] and not is_count(metric)
    ]  # fmt: skip


def judge_score(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean verdict over judged samples, its standard error s / sqrt(n), and n."""
    summary = summarize(records)
    se = _stderr([r["score"] for r in records if r["score"] is not None])
    return {"value": summary["mean"], "stderr": se, "n": summary["n_judged"]}


def run_rows(run_path: str | Path, name: str | None = None) -> list[dict[str, Any]]:
    """Rows of a local run (kind ``run``): every task and group of its results.json with
    lm-eval's standard error and item count, and the judge's scores."""
    run = load_run(run_path, name)
    logged = run.results.get("results") or {}
    scores: Scores = {}
    for task, values in logged.items():
        n = values.get("sample_len") or (run.results.get("n-samples") or {}).get(task, {}).get(
            "effective"
        )
        scores[task] = {
            metric: {"value": value, "stderr": _number(values.get(f"{metric}_stderr,{filt}")),
                     "n": n, "n_shot": run.n_shot(task)}
            for metric, filt, value in run.logged_metrics(task)
        }  # fmt: skip
    for prompt, by_task in judge_records(run).items():
        identity = run.judge_identity.get(prompt)
        model = (run.manifest or {}).get("model")
        whose = {"judge": judge_label(identity), "self_judged": is_self_judged(identity, model)}
        for task, records in by_task.items():
            judged = {**judge_score(records), "n_shot": run.n_shot(task), **whose}
            scores.setdefault(task, {})[f"judge_{prompt}"] = judged
            controlled = _length_controlled(run, task, f"judge_{prompt}")
            if controlled is not None:
                lc = {"value": controlled, "n": judged["n"], "n_shot": judged["n_shot"], **whose}
                scores[task][f"judge_{prompt}{LENGTH_CONTROLLED}"] = lc
    partial = run_limit(run) is not None
    when = run.path.stem.removeprefix("results_")  # the run's time stamp, not its folder
    return _metric_rows(run.name, "run", f"local run {when}", scores, partial)


def _length_controlled(run: Run, task: str, metric: str) -> float | None:
    """The run's judge score of ``task`` at zero length difference from the references
    (:mod:`medinj_eval.stats.length_control`, fitted on this run's answers alone)."""
    from medinj_eval.stats.judge_cells import judged_answers
    from medinj_eval.stats.length_control import length_controlled

    rows = judged_answers(run, task, metric)
    if not rows:
        return None
    return length_controlled(rows, resamples=0)["systems"][run.name]["length_controlled"]


def submission_rows(manifest: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """Rows of a validated submission: its recomputed metrics, each with the standard error
    of the per-item scores in its samples, and its judge scores."""
    scores: Scores = {}
    for task, entry in manifest["tasks"].items():
        samples = read_jsonl(folder / entry["samples"])
        scores[task] = {
            metric: {"value": value, "stderr": _item_stderr(samples, metric),
                     "n": entry["n_samples"], "n_shot": entry.get("n_shot")}
            for metric, value in entry["metrics"].items()
        }  # fmt: skip
        for prompt, judged in (entry.get("judge") or {}).items():
            records = read_jsonl(folder / judged["records"])
            identity = judged.get("identity")
            whose = {
                "judge": judge_label(identity)
                if identity
                else f"{prompt} · {judged['judge_model']}",
                "self_judged": is_self_judged(identity, _submitted_model(manifest)),
            }
            judge = {**judge_score(records), "n_shot": entry.get("n_shot"), **whose}
            scores[task][f"judge_{prompt}"] = judge
    model_id = manifest["model_id"]
    return _metric_rows(model_id, "submission", "results/", scores, manifest["partial"])


def _submitted_model(manifest: dict[str, Any]) -> dict[str, Any]:
    """The submission's model in the form of a run's model identity."""
    revisions = manifest.get("revisions") or {}
    return {"base_model": manifest.get("base_model"), "adapter": manifest.get("adapter"),
            "revision": revisions.get("base_model"),
            "weights_sha256": revisions.get("base_weights_sha256")}  # fmt: skip


def _item_stderr(samples: list[dict[str, Any]], metric: str) -> float | None:
    """The standard error of the per-item values of ``metric`` (None if one is missing)."""
    values = [s.get(metric) for s in samples]
    return _stderr(values) if all(isinstance(v, (int, float)) for v in values) else None


def _stderr(values: list[float]) -> float | None:
    """s / sqrt(n), as lm-eval's mean aggregation; None under two values."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None
