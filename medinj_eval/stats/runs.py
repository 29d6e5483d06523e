"""Reading lm-eval outputs (``results_*.json`` + ``samples_*.jsonl``) and aligning items.

A run is a folder written by ``lm_eval --output_path`` / ``medinj-eval run``: the results
file may sit in the folder itself or one level down (lm-eval adds a folder per model).
Items are keyed by lm-eval's ``doc_hash`` (sha256 of the document), so runs of the same
task can be paired even when ``doc_id`` orders differ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medinj_eval.provenance import parse_model_args, read_manifest

DEFAULT_METRICS = ("em", "acc")


class RunError(ValueError):
    """A run folder or a set of runs cannot be read or paired as asked."""


@dataclass
class Run:
    """One lm-eval run: its results file, its per-task samples and a display name."""

    path: Path
    name: str
    results: dict[str, Any]
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None

    @property
    def tasks(self) -> list[str]:
        return sorted(self.samples)

    def n_shot(self, task: str) -> int:
        return int((self.results.get("n-shot") or {}).get(task, 0) or 0)

    def metric_of(self, task: str, metric: str | None = None) -> str:
        """The metric to compare: ``metric`` if given, else ``em`` or ``acc``."""
        rows = self.samples[task]
        names = [metric] if metric else list(DEFAULT_METRICS)
        for name in names:
            if rows and name in rows[0]:
                return name
        raise RunError(f"{self.path}: task {task} has no per-item metric among {names}")

    def logged_metrics(self, task: str) -> list[tuple[str, str, float]]:
        """(metric, filter, value) of ``task`` (or group) in results.json, stderr entries and
        non-numeric values ("N/A") left out."""
        values = (self.results.get("results") or {}).get(task, {})
        out = []
        for key, value in sorted(values.items()):
            name, _, filt = key.partition(",")
            if filt and not name.endswith("_stderr") and isinstance(value, (int, float)):
                out.append((name, filt, float(value)))
        return out

    def item_scores(self, task: str, metric: str) -> dict[str, float]:
        """doc_hash -> score; a doc hash seen twice is refused (it would pair two items)."""
        scores: dict[str, float] = {}
        for row in self.samples[task]:
            key = str(row.get("doc_hash") or row["doc_id"])
            if key in scores:
                raise RunError(f"{self.path}: task {task} logs document {key[:12]} twice")
            value = row.get(metric)
            scores[key] = float("nan") if value is None else float(value)
        return scores


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def judge_records(run: Run) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """prompt -> task -> the records ``medinj-eval judge`` wrote for this run's tasks
    (``judge/<prompt>/<task>.jsonl`` in the run folder or beside the results file)."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for base in (run.path.parent, run.path.parent.parent):
        for file in sorted(base.glob("judge/*/*.jsonl")):
            if file.stem in run.samples:
                found.setdefault(file.parent.name, {}).setdefault(file.stem, read_jsonl(file))
    return found


def results_file(folder: Path) -> Path:
    """The newest ``results_*.json`` in ``folder`` or one level below."""
    folder = Path(folder)
    if folder.is_file():
        return folder
    found = sorted(folder.glob("results_*.json")) or sorted(folder.glob("*/results_*.json"))
    if not found:
        raise RunError(f"{folder}: no lm-eval results_*.json here or one folder down")
    return found[-1]


def load_run(folder: str | Path, name: str | None = None) -> Run:
    """Read one run; its samples are the ``samples_<task>_<stamp>.jsonl`` beside the results."""
    path = results_file(Path(folder))
    results = json.loads(path.read_text(encoding="utf-8"))
    stamp = path.stem[len("results_") :]
    samples = {}
    for sample_file in sorted(path.parent.glob(f"samples_*_{stamp}.jsonl")):
        task = sample_file.name[len("samples_") : -len(f"_{stamp}.jsonl")]
        samples[task] = read_jsonl(sample_file)
    if not samples:
        raise RunError(f"{path.parent}: no samples_*.jsonl (run lm_eval with --log_samples)")
    return Run(
        path=path,
        name=name or display_name(results, Path(folder)),
        results=results,
        samples=samples,
        manifest=read_manifest(path),
    )


def model_args(results: dict[str, Any]) -> dict[str, str]:
    """The run's ``--model_args`` as a dict (lm-eval records a string or a dict)."""
    return parse_model_args((results.get("config") or {}).get("model_args"))


def display_name(results: dict[str, Any], folder: Path) -> str:
    """``model`` or ``model+adapter`` from the run's model args, else the folder name."""
    pairs = model_args(results)
    model = Path(pairs.get("pretrained", "")).name
    adapter = Path(pairs["peft"]).name if pairs.get("peft") else ""
    return f"{model}+{adapter}" if model and adapter else model or folder.name


def aligned(runs: list[Run], task: str, metric: str) -> tuple[list[str], list[list[float]]]:
    """Item keys and, per run, the scores in that key order; refuses different item sets."""
    per_run = [run.item_scores(task, metric) for run in runs]
    reference = set(per_run[0])
    for run, scores in zip(runs[1:], per_run[1:]):
        if set(scores) != reference:
            only_ref, only_run = len(reference - set(scores)), len(set(scores) - reference)
            raise RunError(
                f"task {task}: {runs[0].name} has {len(reference)} items, {run.name} has "
                f"{len(scores)}; {only_ref} only in the first, {only_run} only in the second "
                "(same --limit, data and task version needed)"
            )
    keys = sorted(reference)
    return keys, [[scores[k] for k in keys] for scores in per_run]
