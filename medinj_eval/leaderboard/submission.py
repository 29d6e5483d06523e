"""Turning a run into a leaderboard submission: ``results/<slug>/`` with ``submission.json``,
the run's ``results.json``, one ``samples/<task>.jsonl`` per task and, for judged open-ended
tasks, the judge records ``judge/<prompt>/<task>.jsonl`` (a jury's with its judges' records,
``judge/<jury>/members/<judge>/<task>.jsonl``, from which the leaderboard recomputes its verdicts).

The folder is written under a temporary name and renamed at the end: a failed submit leaves
nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medinj_eval.hashing import json_sha256, sha256_file
from medinj_eval.judge.aggregate import summarize
from medinj_eval.leaderboard import SubmissionError
from medinj_eval.leaderboard.rescore import bertscore_encoder_name, task_metrics
from medinj_eval.provenance import (
    base_model_identity,
    folder_sha256,
    hardware,
    machine,
    package_version,
)
from medinj_eval.runs import (
    Run,
    judge_records,
    jury_member_records,
    load_run,
    model_args,
    path_like,
)

SCHEMA = Path(__file__).resolve().parent / "submission.schema.json"


def config_sha256(config: dict[str, Any]) -> str:
    """sha256 of the task configuration lm-eval recorded, as canonical JSON."""
    return json_sha256(config)


def slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "__", model_id)


def create_submission(
    run_path: str | Path,
    model_id: str,
    results_dir: Path,
    *,
    allow_partial: bool = False,
    local_ok: bool = False,
) -> Path:
    """Write the submission folder of one run; refuses a folder that exists, a partial run
    (unless ``allow_partial``) and a base model known only by a local path (unless
    ``local_ok``)."""
    run = load_run(run_path)
    target = results_dir / slug(model_id)
    _refuse_taken(target, model_id)
    limit = run_limit(run)
    if limit is not None and not allow_partial:
        raise SubmissionError(
            f"{run.path}: a partial run (--limit {limit}); submit whole test sets, or pass "
            "--allow-partial to mark the entry partial on the site"
        )
    manifest = {
        "schema_version": 1,
        "kind": "submission",
        "model_id": model_id,
        **model_fields(run, local_ok),
        "partial": limit is not None,
        "limit": None if limit is None else str(limit),
        "versions": {
            "medinj-eval": package_version("medinj-eval"),
            "lm_eval": package_version("lm_eval"),
        },
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hardware": _hardware(run),
        "tasks": {},
    }
    staging = results_dir / f".{slug(model_id)}.{os.getpid()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write_files(run, manifest, staging)
        _refuse_taken(target, model_id)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _refuse_taken(target: Path, model_id: str) -> None:
    """One folder per model id: a folder that exists, or another id that maps to it, is
    refused with the id that holds it."""
    if not target.exists():
        return
    try:
        owner = json.loads((target / "submission.json").read_text(encoding="utf-8"))["model_id"]
    except (OSError, ValueError, KeyError):
        owner = None
    if owner == model_id:
        raise SubmissionError(f"{target} exists: model id {model_id!r} is already submitted")
    held = f"model id {owner!r}" if owner else "a folder without a valid submission.json"
    raise SubmissionError(
        f"model id {model_id!r} maps to the folder {target}, which holds {held}: "
        "choose a model id that differs in more than '/' and '__'"
    )


def run_limit(run: Run) -> str | None:
    """The run's ``--limit`` (from its manifest, else lm-eval's config), None for whole sets."""
    if run.manifest is not None:
        return run.manifest.get("limit")
    limit = (run.results.get("config") or {}).get("limit")
    return None if limit is None else str(limit)


def model_fields(run: Run, local_ok: bool) -> dict[str, Any]:
    """Base model by hub id and revision (weights' sha256 for a local folder), adapter by
    name and sha256: never a path of the submitter's machine."""
    if run.manifest is not None:
        identity = run.manifest["model"]
    else:
        args = model_args(run.results)
        identity = base_model_identity(args.get("pretrained", ""), args.get("revision"))
        if args.get("peft"):
            adapter = Path(args["peft"])
            identity["adapter_name"] = adapter.name
            identity["adapter_sha256"] = folder_sha256(adapter) if adapter.is_dir() else None
    base = identity.get("base_model")
    if not base or path_like(base):
        local = identity.get("local_path") or base
        if not local_ok:
            raise SubmissionError(
                f"{run.path}: the base model is the local folder {local}, not a hub id; "
                "pass --local-ok to submit it by folder name and weights' sha256"
            )
        base = Path(str(local)).name
    return {
        "base_model": base,
        "adapter": identity.get("adapter_name"),
        "revisions": {
            "base_model": identity.get("revision") or identity.get("commit"),
            "base_weights_sha256": identity.get("weights_sha256"),
            "adapter_sha256": identity.get("adapter_sha256"),
        },
    }


def _hardware(run: Run) -> str:
    if run.manifest is not None:
        return hardware(run.manifest["machine"])
    return hardware(machine({}, None))


def _write_files(run: Run, manifest: dict[str, Any], folder: Path) -> None:
    (folder / "samples").mkdir(parents=True)
    shutil.copy2(run.path, folder / "results.json")
    judged = judge_records(run)
    members = {prompt: jury_member_records(run, prompt) for prompt in judged}  # read once
    for task, samples in sorted(run.samples.items()):
        file = folder / "samples" / f"{task}.jsonl"
        write_jsonl(file, samples)
        config = run.results["configs"][task]
        entry: dict[str, Any] = {
            "n_shot": run.n_shot(task),
            "config_sha256": config_sha256(config),
            "samples": f"samples/{file.name}",
            "samples_sha256": sha256_file(file),
            "n_samples": len(samples),
            "metrics": task_metrics(samples, config),
        }
        encoder = bertscore_encoder_name(samples, config)
        if encoder:
            entry["bertscore_encoder"] = encoder
        judges = {
            prompt: _judge_entry(folder, prompt, task, by_task[task], members[prompt])
            | _identity(run.judge_identity.get(prompt))
            for prompt, by_task in sorted(judged.items())
            if task in by_task
        }
        if judges:
            entry["judge"] = judges
        manifest["tasks"][task] = entry
    text = json.dumps(manifest, indent=2, ensure_ascii=False)
    (folder / "submission.json").write_text(text, encoding="utf-8")


def _judge_entry(
    folder: Path,
    prompt: str,
    task: str,
    records: list[dict],
    members: dict[str, dict[str, list[dict]]],
) -> dict[str, Any]:
    """The judge records of one task and prompt (for a jury, its judges' records too:
    ``members``, judge -> task -> records), copied, hashed and summarised."""
    if not any("members" in r for r in records):
        return _records_entry(folder, f"judge/{prompt}", task, records)
    missing = [judge for judge in records[0]["members"] if task not in members.get(judge, {})]
    if missing:
        raise SubmissionError(
            f"judge/{prompt}: the jury's records of {task} without those of its judge(s) "
            f"{', '.join(missing)} (judge/{prompt}/members/<judge>/{task}.jsonl)"
        )
    entry = _records_entry(folder, f"judge/{prompt}", task, records)
    entry["rule"] = records[0]["rule"]
    entry["members"] = {
        judge: _records_entry(folder, f"judge/{prompt}/members/{judge}", task, members[judge][task])
        for judge in records[0]["members"]
    }
    return entry


def _records_entry(folder: Path, where: str, task: str, records: list[dict]) -> dict[str, Any]:
    """Records written to ``<where>/<task>.jsonl`` in the submission, their sha256 and
    aggregate, and their judge model; one judge's (not a jury's, whose records name its
    members) also its prompt and template."""
    file = folder / where / f"{task}.jsonl"
    file.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(file, records)
    summary = summarize(records)
    jury = "members" in records[0]
    keys = ("judge_model",) if jury else ("judge_model", "prompt", "template_sha256")
    named = {k: records[0][k] for k in keys}
    return {
        "records": f"{where}/{file.name}",
        "records_sha256": sha256_file(file),
        **named,
        "mean": summary["mean"],
        "n_judged": summary["n_judged"],
        "n_missing": summary["n_missing"],
    }


def _identity(identity: dict[str, Any] | None) -> dict[str, Any]:
    """The judge's identity as its summary recorded it (paths left out), when it did."""
    if not identity:
        return {}
    return {"identity": {k: v for k, v in identity.items() if k != "local_path"}}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
