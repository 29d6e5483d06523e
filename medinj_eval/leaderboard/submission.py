"""Turning a run into a leaderboard submission: ``results/<slug>/`` with ``submission.json``,
the run's ``results.json`` and one ``samples/<task>.jsonl`` per task."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

from medinj_eval.hashing import json_sha256
from medinj_eval.leaderboard.rescore import task_metrics
from medinj_eval.stats.runs import load_run, model_args

SCHEMA = Path(__file__).resolve().parent / "submission.schema.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def config_sha256(config: dict[str, Any]) -> str:
    """sha256 of the task configuration lm-eval recorded, as canonical JSON."""
    return json_sha256(config)


def adapter_sha256(folder: str | None) -> str | None:
    """sha256 over the adapter's files (names and contents), or None without an adapter."""
    if not folder or not Path(folder).is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    except ImportError:
        pass
    return f"CPU {cpu}, {os.cpu_count()} cores"


def slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "__", model_id)


def create_submission(run_path: str | Path, model_id: str, results_dir: Path) -> Path:
    """Write the submission folder of one run; refuses to overwrite an existing one."""
    run = load_run(run_path)
    args = model_args(run.results)
    target = results_dir / slug(model_id)
    if target.exists():
        raise FileExistsError(f"{target} exists: a submission per model id")
    (target / "samples").mkdir(parents=True)
    shutil.copy2(run.path, target / "results.json")
    tasks = {}
    for task, samples in sorted(run.samples.items()):
        file = target / "samples" / f"{task}.jsonl"
        file.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples))
        config = run.results["configs"][task]
        tasks[task] = {
            "n_shot": run.n_shot(task),
            "config_sha256": config_sha256(config),
            "samples": f"samples/{file.name}",
            "samples_sha256": sha256_file(file),
            "n_samples": len(samples),
            "metrics": task_metrics(samples, config),
        }
    manifest = {
        "schema_version": 1,
        "kind": "submission",
        "model_id": model_id,
        "base_model": args.get("pretrained", run.results.get("model_name", "")),
        "adapter": args.get("peft"),
        "revisions": {
            "base_model": args.get("revision"),
            "adapter_sha256": adapter_sha256(args.get("peft")),
        },
        "versions": {"medinj-eval": version("medinj-eval"), "lm_eval": version("lm_eval")},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hardware": hardware(),
        "tasks": tasks,
    }
    (target / "submission.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return target
