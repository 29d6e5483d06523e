"""The one reader of a run: lm-eval's ``results_*.json`` and ``samples_*.jsonl``, the run
manifest, and the judge's records. Read-only: no later step rewrites what it reads.

A run is a folder written by ``lm_eval --output_path`` / ``medinj-eval run``: the results
file may sit in the folder itself or one level down (lm-eval adds a folder per model); the
judge writes under ``judge/<prompt>/<task>.jsonl`` beside it. Items are keyed by lm-eval's
``doc_hash`` (sha256 of the document), so runs of the same task can be paired even when
``doc_id`` orders differ. ``judge``, ``compare``, ``report``, ``agreement``, ``submit`` and the
leaderboard all read runs through this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medinj_eval.benchmarks import benchmark_of_task
from medinj_eval.provenance import parse_model_args, read_manifest

DEFAULT_METRICS = ("em", "acc")
JUDGE_PREFIX = "judge_"
_SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+)_(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.jsonl$")


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
    # task -> prompt -> the judge's records for this run's samples of that task
    judge: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    # prompt (or jury) -> who judged: its summary's identity (medinj_eval.judge.identity)
    judge_identity: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        return sorted(self.samples)

    def n_shot(self, task: str) -> int:
        return int((self.results.get("n-shot") or {}).get(task, 0) or 0)

    def metric_of(self, task: str, metric: str | None = None) -> str:
        """The item metric to compare: ``metric`` if given; else the judge's score when the
        task was judged (``judge_<prompt>``), else its benchmark's primary metric, else
        ``em`` or ``acc``."""
        if metric:
            names = [metric]
        else:
            judged = sorted(self.judge.get(task, {}))
            bench = benchmark_of_task(task)
            primary = [bench.primary_metric] if bench else []
            names = [JUDGE_PREFIX + p for p in judged] + primary + list(DEFAULT_METRICS)
        rows = self.samples[task]
        for name in names:
            if name.startswith(JUDGE_PREFIX) and name[len(JUDGE_PREFIX) :] in self.judge.get(
                task, {}
            ):
                return name
            if rows and name in rows[0]:
                return name
        raise RunError(f"{self.path}: task {task} has no per-item metric among {names}")

    def answer_lengths(self, task: str) -> dict[str, tuple[int, int]]:
        """doc_hash -> (words in the answer, words in the reference) of an open-ended task."""
        out = {}
        for line_no, row in enumerate(self.samples[task], 1):
            doc = row.get("doc") or {}
            if "reference" not in doc:
                return {}
            answer = _candidate(row, self.path, line_no)
            out[str(row.get("doc_hash") or row["doc_id"])] = (
                len(answer.split()),
                len(str(doc["reference"]).split()),
            )
        return out

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
        """doc_hash -> score (a ``judge_<prompt>`` metric reads the judge's records); a doc
        hash seen twice is refused (it would pair two items)."""
        rows = self.samples[task]
        if metric.startswith(JUDGE_PREFIX):
            rows = self.judge.get(task, {}).get(metric[len(JUDGE_PREFIX) :], [])
            metric = "score"
        scores: dict[str, float] = {}
        for row in rows:
            key = str(row.get("doc_hash") or row["doc_id"])
            if key in scores:
                raise RunError(f"{self.path}: task {task} logs document {key[:12]} twice")
            value = row.get(metric)
            scores[key] = float("nan") if value is None else float(value)
        return scores


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file; a line that is not a JSON object is one RunError
    naming the file and the line."""
    return [row for _, row in numbered_rows(path)]


def numbered_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of every non-empty line of a JSON-lines file."""
    for line_no, line in enumerate(_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise RunError(f"{path}, line {line_no}: invalid JSON ({err.msg})") from err
        if not isinstance(row, dict):
            raise RunError(f"{path}, line {line_no}: expected a JSON object")
        yield line_no, row


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file (a results file, a manifest), or one RunError naming it."""
    try:
        data = json.loads(_text(path))
    except json.JSONDecodeError as err:
        raise RunError(
            f"{path}: invalid JSON ({err.msg}, line {err.lineno} column {err.colno})"
        ) from err
    if not isinstance(data, dict):
        raise RunError(f"{path}: expected a JSON object")
    return data


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RunError(f"{path}: not UTF-8 text (byte {err.start})") from err


def judge_records(run: Run) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """prompt -> task -> the records ``medinj-eval judge`` wrote for this run's tasks."""
    by_prompt: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for task, prompts in run.judge.items():
        for prompt, records in prompts.items():
            by_prompt.setdefault(prompt, {})[task] = records
    return dict(sorted(by_prompt.items()))


def _judge_files(results: Path, pattern: str) -> list[Path]:
    """Files under ``judge/`` matching ``pattern``: beside the results file first, then in
    the run folder above it."""
    return [f for base in (results.parent, results.parent.parent)
            for f in sorted(base.glob(f"judge/{pattern}"))]  # fmt: skip


def _read_judge(results: Path, tasks: set[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """task -> prompt -> records of ``judge/<prompt>/<task>.jsonl``."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for file in _judge_files(results, "*/*.jsonl"):
        if file.stem in tasks:
            found.setdefault(file.stem, {}).setdefault(file.parent.name, read_jsonl(file))
    return found


def jury_member_records(run: Run, jury: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """judge -> task -> the records each judge of the jury ``jury`` wrote for this run's
    tasks (``judge/<jury>/members/<judge>/<task>.jsonl``)."""
    members: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for file in _judge_files(run.path, f"{jury}/members/*/*.jsonl"):
        if file.stem in run.samples:
            members.setdefault(file.parent.name, {}).setdefault(file.stem, read_jsonl(file))
    return members


def _read_judge_identities(results: Path) -> dict[str, dict[str, Any] | None]:
    """prompt -> the identity in ``judge/<prompt>/summary.json`` (None: written before
    judges had one)."""
    found: dict[str, dict[str, Any] | None] = {}
    for file in _judge_files(results, "*/summary.json"):
        settings = read_json(file).get("settings") or {}
        found.setdefault(file.parent.name, settings.get("identity"))
    return found


def results_file(folder: Path) -> Path:
    """The newest ``results_*.json`` in ``folder`` or one level below."""
    folder = Path(folder)
    if folder.is_file():
        return folder
    if not folder.is_dir():
        raise RunError(f"{folder}: no such run folder or results file")
    found = sorted(folder.glob("results_*.json")) or sorted(folder.glob("*/results_*.json"))
    if not found:
        raise RunError(f"{folder}: no lm-eval results_*.json here or one folder down")
    return found[-1]


def load_run(folder: str | Path, name: str | None = None) -> Run:
    """Read one run; its samples are the ``samples_<task>_<stamp>.jsonl`` beside the results."""
    path = results_file(Path(folder))
    results = read_json(path)
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
        judge=_read_judge(path, set(samples)),
        judge_identity=_read_judge_identities(path),
    )


def model_args(results: dict[str, Any]) -> dict[str, str]:
    """The run's ``--model_args`` as a dict (lm-eval records a string or a dict)."""
    return parse_model_args((results.get("config") or {}).get("model_args"))


def path_like(name: str) -> bool:
    """A folder of some machine (absolute, home-relative or relative), not a hub id."""
    return name.startswith(("/", "~", "./", "../")) or "\\" in name


def display_name(results: dict[str, Any], folder: Path) -> str:
    """The model by name, never by path: the default model's name, a hub id, or a local
    folder's name; ``+ adapter`` (the adapter folder's name) when there is one."""
    from medinj_eval.models import default_model

    pairs = model_args(results)
    pretrained = pairs.get("pretrained") or pairs.get("model") or ""
    if pretrained == "default" or (
        pretrained and Path(pretrained).resolve() == default_model.model_dir().resolve()
    ):
        model = default_model.HUB_ID.rpartition("/")[2]
    elif path_like(pretrained) or Path(pretrained).is_dir():
        model = Path(pretrained).name
    else:
        model = pretrained or folder.name
    adapter = pairs.get("peft") or pairs.get("lora_local_path")
    return f"{model} + {Path(adapter).name}" if adapter else model


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


@dataclass
class Sample:
    """One open-ended answer to judge, as logged by lm-eval."""

    task: str
    doc_id: str
    question: str
    reference: str
    candidate: str
    doc_hash: str = ""
    question_type: str = ""
    doc: dict[str, Any] = field(default_factory=dict)

    def variables(self) -> dict[str, Any]:
        """What judge templates can use."""
        return {
            "question": self.question,
            "reference": self.reference,
            "candidate": self.candidate,
            "doc": self.doc,
        }


def sample_files(path: Path) -> list[Path]:
    """``path`` itself, or every ``samples_*.jsonl`` under the run folder ``path``."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RunError(f"{path}: no such file or run folder")
    files = sorted(p for p in path.rglob("samples_*.jsonl") if "judge" not in p.parts)
    if not files:
        raise RunError(f"{path}: no samples_*.jsonl (run lm_eval with --log_samples)")
    return files


def task_and_stamp(path: Path) -> tuple[str, str | None]:
    """Task name and timestamp encoded in an lm-eval samples file name."""
    match = _SAMPLES_NAME.match(path.name)
    if match:
        return match["task"], match["stamp"]
    return path.stem, None


def open_ended_samples(path: Path) -> list[Sample]:
    """The open-ended samples of one samples file; ``[]`` when its documents have no
    reference (MCQ, cloze and span tasks are not judged)."""
    task, _ = task_and_stamp(path)
    out = []
    for line_no, row in numbered_rows(path):
        doc = row.get("doc") or {}
        if "reference" not in doc:
            return []
        out.append(
            Sample(
                task=task,
                doc_id=str(row.get("doc_id")),
                question=str(doc.get("prompt") or doc.get("question") or ""),
                reference=str(doc["reference"]),
                candidate=_candidate(row, path, line_no),
                doc_hash=str(row.get("doc_hash") or ""),
                question_type=str(doc.get("question_type") or ""),
                doc=doc,
            )
        )
    return out


def _candidate(row: dict[str, Any], path: Path, line_no: int) -> str:
    filtered = row.get("filtered_resps")
    if isinstance(filtered, list) and filtered and isinstance(filtered[0], str):
        return filtered[0].strip()
    resps = row.get("resps")
    if isinstance(resps, list) and resps and isinstance(resps[0], list) and resps[0]:
        return str(resps[0][0]).strip()
    raise RunError(f"{path}, line {line_no}: field 'filtered_resps' holds no model answer")
