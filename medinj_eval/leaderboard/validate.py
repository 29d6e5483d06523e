"""``medinj-eval leaderboard validate``: every submission under results/ is checked against
its schema, its files and a recomputation of every metric from its samples.

Rejected: a manifest that breaks the JSON schema; a task medinj-eval does not define; two
submissions with the same model id; a missing or altered samples file (sha256); a document
whose hash is not lm-eval's hash of it, or logged twice; a recorded metric (in the manifest
or in the run's results.json) that differs from the recomputation.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema

from medinj_eval.leaderboard import SubmissionError
from medinj_eval.leaderboard.reported import REPORTED_DIR, load_reported
from medinj_eval.leaderboard.rescore import doc_hash, same, task_metrics
from medinj_eval.leaderboard.submission import SCHEMA, config_sha256


def known_tasks() -> set[str]:
    from lm_eval.tasks import TaskManager

    from medinj_eval.paths import tasks_dir

    return set(TaskManager(include_path=str(tasks_dir()), include_defaults=False).all_tasks)


def submissions(results_dir: Path) -> list[Path]:
    return sorted(p.parent for p in results_dir.glob("*/submission.json"))


def validate_submission(folder: Path, tasks: set[str]) -> dict[str, Any]:
    """The checked manifest of one submission folder, or SubmissionError."""
    manifest_path = folder / "submission.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SubmissionError(f"{manifest_path}: invalid JSON: {err}") from err
    schema = json.loads(SCHEMA.read_text())
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(manifest)
    )
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise SubmissionError(f"{manifest_path}: field {where}: {error.message}")
    results_path = folder / "results.json"
    if not results_path.is_file():
        raise SubmissionError(f"{results_path}: missing file")
    results = json.loads(results_path.read_text(encoding="utf-8"))
    for task, entry in manifest["tasks"].items():
        _check_task(folder, task, entry, results, tasks)
    return manifest


def _check_task(folder: Path, task: str, entry: dict, results: dict, tasks: set[str]) -> None:
    where = f"{folder / 'submission.json'}: tasks/{task}"
    if task not in tasks:
        raise SubmissionError(f"{where}: unknown task (not defined by medinj-eval)")
    config = (results.get("configs") or {}).get(task)
    if config is None:
        raise SubmissionError(f"{folder / 'results.json'}: no configuration for task {task}")
    if config_sha256(config) != entry["config_sha256"]:
        raise SubmissionError(f"{where}/config_sha256: does not match results.json")
    samples_path = folder / entry["samples"]
    if not samples_path.is_file():
        raise SubmissionError(f"{samples_path}: missing file (named in {where}/samples)")
    raw = samples_path.read_bytes()  # hashed and parsed from one read
    if hashlib.sha256(raw).hexdigest() != entry["samples_sha256"]:
        raise SubmissionError(f"{samples_path}: altered (sha256 differs from {where})")
    samples = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    if len(samples) != entry["n_samples"]:
        raise SubmissionError(f"{where}/n_samples: {entry['n_samples']} != {len(samples)} lines")
    seen: set[str] = set()
    for row, sample in enumerate(samples):
        recomputed = doc_hash(sample["doc"])
        if recomputed != sample.get("doc_hash"):
            raise SubmissionError(
                f"{samples_path}, row {row}, field 'doc_hash': not the doc's hash"
            )
        if recomputed in seen:
            raise SubmissionError(f"{samples_path}, row {row}, field 'doc': duplicate document")
        seen.add(recomputed)
    metrics = task_metrics(samples, config)
    logged = (results.get("results") or {}).get(task, {})
    for name, value in entry["metrics"].items():
        if name not in metrics:
            raise SubmissionError(f"{where}/metrics/{name}: not a metric of this task")
        if not same(value, metrics[name]):
            raise SubmissionError(
                f"{where}/metrics/{name}: {value} but the samples give {metrics[name]}"
            )
        if f"{name},none" in logged and not same(logged[f"{name},none"], metrics[name]):
            raise SubmissionError(
                f"{folder / 'results.json'}: {task} {name} = {logged[f'{name},none']} but the "
                f"samples give {metrics[name]}"
            )


def validate_all(results_dir: Path) -> list[dict[str, Any]]:
    """Every submission and reported file under ``results_dir``; raises on the first refusal."""
    tasks = known_tasks()
    manifests, owners = [], {}
    for folder in submissions(results_dir):
        manifest = validate_submission(folder, tasks)
        model = manifest["model_id"]
        if model in owners:
            raise SubmissionError(
                f"{folder / 'submission.json'}: model_id {model!r} duplicates {owners[model]}"
            )
        owners[model] = folder
        manifests.append(manifest)
    load_reported(results_dir / REPORTED_DIR)
    return manifests
