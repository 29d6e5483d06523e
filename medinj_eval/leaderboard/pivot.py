"""The leaderboard's main view: one row per model, one column per benchmark headline.

Each headline is the figure a paper puts in its main table; the columns come from the
benchmark declarations (:func:`medinj_eval.benchmarks.headlines`). A headline lists its
sources in order: the reported rows' task name first, then the tasks
of a run or submission that give the same figure. A source's parts are averaged as the
paper does (MedInjection-FR: the unweighted mean of MCQ and MCQU); the tasks within a part
are pooled, weighted by their item counts.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Any

from medinj_eval.benchmarks import Headline, full_task, headlines

_COUNT = re.compile(r"(^|_)(n_\w+|n|sample_len|sample_count)$")
_VARIANT = re.compile(r"_(\d+shot|perm\d+|pooled)$")


MEAN_KEY = "mean_em"
MEAN_LABEL = "Mean of the MCQ headlines"
LENGTH_CONTROLLED = "_length_controlled"  # suffix of a judge metric's length-controlled row
UNKNOWN_JUDGE = "judge not recorded"


def is_count(metric: str) -> bool:
    """Counts (``judge_x_n_judged``, ``n_missing``, ``sample_len``) are never scores."""
    return bool(_COUNT.search(metric))


def task_parts(task: str) -> dict[str, str]:
    """``group``: the task without the sample prefix and its variant suffix; ``variant``:
    the shot count or answer order (``0shot``, ``3shot``, ``perm1``, ``pooled``)."""
    name = full_task(task)
    match = _VARIANT.search(name)
    if match is None:
        return {"group": name, "variant": "0shot"}
    return {"group": name[: match.start()], "variant": match.group(1)}


@cache
def scale_of(metric: str) -> float:
    """The metric's maximum: a headline's declared scale, a shipped judge prompt's highest
    verdict (``judge_<prompt>``), else 1 (rates)."""
    from medinj_eval.judge.prompts import builtin_prompts, load_prompt

    for headline in headlines():
        if any(source.metric == metric for source in headline.sources):
            return headline.scale
    prompt = metric.removeprefix("judge_").removesuffix(LENGTH_CONTROLLED)
    if metric.startswith("judge_") and prompt in builtin_prompts():
        return float(load_prompt(prompt).verdict.maximum)
    return 1.0


def pooled(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Item-weighted mean of rows of one metric, with its standard error
    sqrt(sum n_i^2 se_i^2) / sum n_i (independent item sets) when every row has n and se."""
    if len(rows) == 1:
        return {"value": rows[0]["value"], "stderr": rows[0].get("stderr"), "n": rows[0].get("n")}
    counts = [r.get("n") for r in rows]
    errors = [r.get("stderr") for r in rows]
    if not all(counts):
        return {"value": sum(r["value"] for r in rows) / len(rows), "stderr": None, "n": None}
    total = sum(counts)
    se = None
    if all(e is not None for e in errors):
        se = math.sqrt(sum((n * e) ** 2 for n, e in zip(counts, errors))) / total
    return {"value": sum(r["value"] * n for r, n in zip(rows, counts)) / total, "stderr": se,
            "n": total}  # fmt: skip


def averaged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Unweighted mean of the parts, standard error sqrt(sum se_p^2) / P."""
    if len(parts) == 1:
        return parts[0]
    errors = [p["stderr"] for p in parts]
    counts = [p["n"] for p in parts]
    return {
        "value": sum(p["value"] for p in parts) / len(parts),
        "stderr": math.sqrt(sum(e**2 for e in errors)) / len(parts) if None not in errors else None,
        "n": sum(counts) if None not in counts else None,
    }


def headline_cell(headline: Headline, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The headline of one model's rows: its first source whose tasks are all there."""
    for source in headline.sources:
        found = {
            full_task(r["task"]): r
            for r in rows
            if r["metric"] == source.metric and full_task(r["task"]) in source.tasks
        }
        if found and all(task in found for task in source.tasks):
            used = [found[task] for task in source.tasks]
            cell = averaged([pooled([found[t] for t in part]) for part in source.parts])
            return {
                **cell,
                "partial": any(r.get("partial") for r in used),
                "sample": any(r.get("sample") for r in used),
                "tasks": [r["task"] for r in used],
                **_whose(headline, used),
            }
    return None


def is_judged(headline: Headline) -> bool:
    return any(source.metric.startswith("judge_") for source in headline.sources)


def _whose(headline: Headline, used: list[dict[str, Any]]) -> dict[str, Any]:
    """A judge headline's judge (the rows' judges joined when they differ) and whether the
    model graded itself."""
    if not is_judged(headline):
        return {}
    judges = sorted({r.get("judge") or UNKNOWN_JUDGE for r in used})
    return {"judge": " + ".join(judges), "self_judged": any(r.get("self_judged") for r in used)}


def judge_column_key(headline: Headline, judge: str) -> str:
    """One column per headline and judge: scores of two judges are never ranked together."""
    import hashlib

    return f"{headline.key}@{hashlib.sha256(judge.encode()).hexdigest()[:10]}"


def model_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row["model"], row["kind"], row.get("source") or "")


def pivot(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per model (name, kind, source): its headline cells and the aggregate."""
    by_model: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        by_model.setdefault(model_key(row), []).append(row)
    out = []
    for (model, kind, source), own in by_model.items():
        columns = headlines()
        cells = {
            judge_column_key(h, c["judge"]) if is_judged(h) else h.key: c
            for h in columns
            if (c := headline_cell(h, own)) is not None
        }
        in_mean = [cells.get(h.key) for h in columns if h.in_mean]
        if all(in_mean):  # over every MCQ headline or none: no mean of different columns
            cells[MEAN_KEY] = {
                "value": sum(c["value"] for c in in_mean) / len(in_mean),
                "stderr": None,
                "n": None,
                "partial": any(c["partial"] for c in in_mean),
                "sample": any(c["sample"] for c in in_mean),
                "tasks": [t for c in in_mean for t in c["tasks"]],
            }
        out.append({"model": model, "kind": kind, "source": source, "cells": cells})
    return out


def columns(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pivot's columns for the page: key, label, family and scale; a judge headline has
    one column per judge found in ``entries`` (the pivot), its label naming the judge."""
    cols = []
    for h in headlines():
        base = {"family": h.family, "scale": h.scale}
        if not is_judged(h):
            cols.append({"key": h.key, "label": h.label, **base})
            continue
        judges = sorted({c["judge"] for e in entries for k, c in e["cells"].items()
                         if k.startswith(f"{h.key}@")})  # fmt: skip
        cols += [{"key": judge_column_key(h, judge), "label": f"{h.label} (judge: {judge})",
                  "judge": judge, **base} for judge in judges]  # fmt: skip
    return cols + [{"key": MEAN_KEY, "label": MEAN_LABEL, "family": "", "scale": 1.0}]
