"""``medinj-eval leaderboard validate``: every submission under results/ is checked against
its schema, its files and a recomputation of every metric from its samples.

Rejected: a folder without ``submission.json``; a manifest that breaks the JSON schema; a
task medinj-eval does not define; two submissions with the same model id; a missing or
altered samples or judge-records file (sha256); a document whose hash is not lm-eval's hash
of it, or logged twice; a recorded metric (in the manifest or in the run's results.json)
that differs from the recomputation; judge records that do not cover the task's samples
exactly once, mix judges or templates, hold a verdict their raw replies do not give, or
whose aggregate differs from the recorded one; a jury's verdict that its judges' records
(each checked as one judge's) do not give under its rule.

What validation decided is kept in ``<submission>/validation.json`` with the fingerprint of
the files it read; ``leaderboard build`` renders those rows and validates a submission again
only when its files changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from medinj_eval.atomic import write_atomic
from medinj_eval.hashing import json_sha256, sha256_file
from medinj_eval.leaderboard import SubmissionError
from medinj_eval.leaderboard.reported import REPORTED_DIR, load_reported
from medinj_eval.leaderboard.rescore import encoder_available, same, task_metrics, tolerance
from medinj_eval.leaderboard.submission import SCHEMA, config_sha256
from medinj_eval.lm_eval_internals import doc_hash


def known_tasks() -> set[str]:
    from lm_eval.tasks import TaskManager

    from medinj_eval.paths import tasks_dir

    return set(TaskManager(include_path=str(tasks_dir()), include_defaults=False).all_tasks)


def submissions(results_dir: Path) -> list[Path]:
    """Every submission folder; any other folder (a half-written or foreign one) is refused."""
    if not results_dir.is_dir():
        raise SubmissionError(f"{results_dir}: no such results folder (--results)")
    folders = []
    for folder in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        if folder.name == REPORTED_DIR or folder.name.startswith("."):
            continue
        if not (folder / "submission.json").is_file():
            raise SubmissionError(f"{folder}: no submission.json (not a submission folder)")
        folders.append(folder)
    return folders


def validate_submission(
    folder: Path, tasks: set[str], notes: list[str] | None = None
) -> dict[str, Any]:
    """The checked manifest of one submission folder, or SubmissionError; what could only be
    checked as recorded is said in ``notes``."""
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
        note = _check_task(folder, task, entry, results, tasks)
        if note and notes is not None:
            notes.append(f"{manifest['model_id']} {task}: {note}")
    return manifest


def _check_task(folder: Path, task: str, entry: dict, results: dict, tasks: set[str]) -> str | None:
    where = f"{folder / 'submission.json'}: tasks/{task}"
    if task not in tasks:
        raise SubmissionError(f"{where}: unknown task (not defined by medinj-eval)")
    config = (results.get("configs") or {}).get(task)
    if config is None:
        raise SubmissionError(f"{folder / 'results.json'}: no configuration for task {task}")
    if config_sha256(config) != entry["config_sha256"]:
        raise SubmissionError(f"{where}/config_sha256: does not match results.json")
    samples_path = folder / entry["samples"]
    samples = _signed_jsonl(samples_path, entry["samples_sha256"], f"{where}/samples")
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
        if not same(value, metrics[name], tolerance(name)):
            raise SubmissionError(
                f"{where}/metrics/{name}: {value} but the samples give {metrics[name]}"
            )
        recorded = logged.get(f"{name},none")
        if recorded is not None and not same(recorded, metrics[name], tolerance(name)):
            raise SubmissionError(
                f"{folder / 'results.json'}: {task} {name} = {logged[f'{name},none']} but the "
                f"samples give {metrics[name]}"
            )

    for prompt, judge in (entry.get("judge") or {}).items():
        if judge.get("prompt", prompt) != prompt:
            raise SubmissionError(f"{where}/judge/{prompt}/prompt: not {prompt!r}")
        check = _check_jury if "members" in judge else _check_judge
        check(folder, f"{where}/judge/{prompt}", prompt, judge, seen)
    encoder = (config.get("metadata") or {}).get("bertscore_encoder")
    if "bertscore_encoder" in entry and not encoder_available(encoder):
        return f"BERTScore checked as recorded: encoder {entry['bertscore_encoder']} not here"
    return None


def _signed_jsonl(path: Path, sha256: str, named_in: str) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file whose sha256 must be ``sha256``."""
    if not path.is_file():
        raise SubmissionError(f"{path}: missing file (named in {named_in})")
    raw = path.read_bytes()  # hashed and parsed from one read
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise SubmissionError(f"{path}: altered (sha256 differs from {named_in})")
    return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]


def _check_judge(
    folder: Path, where: str, prompt: str, entry: dict, docs: set[str]
) -> list[dict[str, Any]]:
    """Judge records (returned): one per logged document, one judge and template, verdicts
    that their raw replies give, and the aggregate recomputed from them."""
    prompt = entry.get("prompt", prompt)
    path, records = _judged_records(folder, where, entry, docs)
    prompt_spec = _shipped_prompt(prompt, entry["template_sha256"])
    for row, record in enumerate(records):
        for field in ("prompt", "judge_model", "template_sha256"):
            expected = prompt if field == "prompt" else entry[field]
            if record.get(field) != expected:
                raise SubmissionError(f"{path}, row {row}, field '{field}': not {expected!r}")
        if prompt_spec is not None:
            _check_verdict(path, row, record, prompt_spec)
    _check_aggregate(where, entry, records)
    return records


def _check_jury(folder: Path, where: str, jury: str, entry: dict, docs: set[str]) -> None:
    """A jury's records: each of its judges' records checked as one judge's, and each
    verdict recomputed from theirs under the jury's rule (medinj_eval.judge.jury)."""
    from medinj_eval.judge.jury import verdict_of

    scores: dict[str, dict[str, Any]] = {}
    for judge, member in entry["members"].items():
        rows = _check_judge(folder, f"{where}/members/{judge}", member["prompt"], member, docs)
        scores[judge] = {r["doc_hash"]: r.get("score") for r in rows}
    path, records = _judged_records(folder, where, entry, docs)
    for row, record in enumerate(records):
        given = {judge: by_doc[record["doc_hash"]] for judge, by_doc in scores.items()}
        expected = {"prompt": jury, "judge_model": f"jury:{jury}", "rule": entry["rule"],
                    "members": given}  # fmt: skip
        for field, value in expected.items():
            if record.get(field) != value:
                raise SubmissionError(f"{path}, row {row}, field '{field}': not {value!r}")
        score = verdict_of(given, entry["rule"])[0]
        if not same(score, record.get("score")):
            raise SubmissionError(
                f"{path}, row {row}, field 'score': {record.get('score')} but its judges' "
                f"verdicts give {score} ({entry['rule']})"
            )
    _check_aggregate(where, entry, records)


def _judged_records(
    folder: Path, where: str, entry: dict, docs: set[str]
) -> tuple[Path, list[dict[str, Any]]]:
    """The signed records of a judge entry, which must judge each logged document once."""
    path = folder / entry["records"]
    records = _signed_jsonl(path, entry["records_sha256"], f"{where}/records")
    if sorted(r.get("doc_hash") for r in records) != sorted(docs):
        raise SubmissionError(f"{path}: the records do not judge each logged document once")
    return path, records


def _check_aggregate(where: str, entry: dict, records: list[dict[str, Any]]) -> None:
    from medinj_eval.judge.aggregate import summarize

    summary = summarize(records)
    for name in ("mean", "n_judged", "n_missing"):
        if not same(entry[name], summary[name]):
            raise SubmissionError(f"{where}/{name}: {entry[name]} but the records give "
                                  f"{summary[name]}")  # fmt: skip


def _shipped_prompt(name: str, template_sha256: str):
    """The prompt ``name`` when it ships with medinj-eval under the same template, else None
    (its verdicts can then only be checked as recorded)."""
    from medinj_eval.judge import JudgeError
    from medinj_eval.judge.prompts import load_prompt

    try:
        prompt = load_prompt(name)
    except JudgeError:
        return None
    return prompt if prompt.sha256() == template_sha256 else None


def _check_verdict(path: Path, row: int, record: dict, prompt) -> None:
    """The record's score must be the one its raw replies parse to under ``prompt``."""
    from medinj_eval.judge.verdicts import combine_runs, parse_verdict

    raw = record.get("raw") or []
    if not raw or None in raw:
        return
    score = combine_runs([parse_verdict(text, prompt.verdict) for text in raw]).score
    if not same(score, record.get("score")):
        raise SubmissionError(
            f"{path}, row {row}, field 'score': {record.get('score')} but the raw replies "
            f"give {score}"
        )


VALIDATION = "validation.json"


@dataclass
class Validation:
    """What ``validate`` decided about one submission, kept in ``<folder>/validation.json``:
    the manifest, the leaderboard rows recomputed from its samples, the notes, and the
    fingerprint of the files they were computed from."""

    folder: Path
    fingerprint: str
    manifest: dict[str, Any]
    rows: list[dict[str, Any]]
    notes: list[str]

    def record(self) -> str:
        kept = {k: v for k, v in asdict(self).items() if k != "folder"}
        return json.dumps(kept, indent=1, ensure_ascii=False)


def submission_fingerprint(folder: Path) -> str:
    """sha256 over the path and sha256 of every file of the submission (its record aside)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != VALIDATION)
    return json_sha256({str(p.relative_to(folder)): sha256_file(p) for p in files})


def recorded_validation(folder: Path, fingerprint: str) -> Validation | None:
    """The kept validation when it was made from these very files, else None."""
    path = folder / VALIDATION
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if kept.get("fingerprint") != fingerprint:
            return None
        return Validation(folder, fingerprint, kept["manifest"], kept["rows"], kept["notes"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None  # absent or damaged: validated again


def validate_folder(folder: Path, tasks: Callable[[], set[str]]) -> Validation:
    """The submission's validation: the kept one if its files did not change, else a new
    one (every check, every score recomputed), kept beside it."""
    from medinj_eval.leaderboard.rows import submission_rows

    fingerprint = submission_fingerprint(folder)
    kept = recorded_validation(folder, fingerprint)
    if kept is not None:
        return kept
    notes: list[str] = []
    manifest = validate_submission(folder, tasks(), notes)
    validation = Validation(folder, fingerprint, manifest, submission_rows(manifest, folder), notes)
    write_atomic(folder / VALIDATION, validation.record())
    return validation


def validate_all(results_dir: Path, notes: list[str] | None = None) -> list[Validation]:
    """Every submission and reported file under ``results_dir``, each submission validated
    again only when its files changed; raises on the first refusal."""
    tasks = cache(known_tasks)
    validations, owners = [], {}
    for folder in submissions(results_dir):
        validation = validate_folder(folder, tasks)
        model = validation.manifest["model_id"]
        if model in owners:
            raise SubmissionError(
                f"{folder / 'submission.json'}: model_id {model!r} duplicates {owners[model]}"
            )
        owners[model] = folder
        validations.append(validation)
        if notes is not None:
            notes += validation.notes
    load_reported(results_dir / REPORTED_DIR)
    return validations
