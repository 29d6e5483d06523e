"""What a study's output folder says about each step: ``steps/<id>/state.json`` (written by
the step's own process, replaced in one rename), the plan that owns the folder and the lock
that keeps a second ``study run`` out.

A step is done only when its record says ``done`` with the identity the plan computes now
and its outputs are there; a record left ``running`` by a process that no longer exists is
``interrupted``; one whose identity differs is ``stale``. Either way the step runs again.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medinj_eval.atomic import write_atomic
from medinj_eval.study import StudyError
from medinj_eval.study.steps import Step

DONE, FAILED, RUNNING, SUBMITTED = "done", "failed", "running", "submitted"
PENDING, STALE, INTERRUPTED, BLOCKED = "pending", "stale", "interrupted", "blocked"
OWNER = "study.json"
SLURM_LIVE = ("PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING",
              "SUSPENDED")  # fmt: skip
SACCT_LAG_S = 120  # a job sacct does not know yet, when it was submitted this recently


def read_record(record: Path) -> dict[str, Any] | None:
    try:
        return json.loads((record / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_record(record: Path, **fields: Any) -> dict[str, Any]:
    """Replace the step's record (the previous one's fields kept unless given anew)."""
    current = {**(read_record(record) or {}), **fields, "updated": time.time()}
    write_atomic(record / "state.json", json.dumps(current, indent=2, sort_keys=True))
    return current


def outputs_ready(step: Step) -> bool:
    """Whether the files a finished step of this kind leaves are all there."""
    out = step.output
    if step.kind == "mix":
        return (out / "mix.jsonl").is_file() and (out / "mix.jsonl.provenance.json").is_file()
    if step.kind == "train":
        return (out / "adapter_config.json").is_file() and any(out.glob("adapter_model.*"))
    if step.kind == "evaluate":
        return any(out.glob("*/results_*.json"))
    if step.kind == "judge":
        return (out / "summary.json").is_file()
    if step.kind == "compare":
        return (out / "comparison.json").is_file()
    if step.kind == "leaderboard":
        return (out / "index.html").is_file() and (out / "data.json").is_file()
    return (out / "tables.md").is_file()


@dataclass(frozen=True)
class StepState:
    state: str
    record: dict[str, Any]

    @property
    def done(self) -> bool:
        return self.state == DONE


def step_state(step: Step, root: Path, slurm: dict[str, str] | None = None) -> StepState:
    """The step's state now; ``slurm`` holds the Slurm jobs' states by job id (None: the
    study does not run on Slurm)."""
    record = read_record(step.record(root)) or {}
    state = record.get("state")
    if not record:
        return StepState(PENDING, record)
    if record.get("identity") != step.identity:
        return StepState(STALE, record)
    if state == DONE:
        return StepState(DONE if outputs_ready(step) else PENDING, record)
    if state in (RUNNING, SUBMITTED) and record.get("job_id") and slurm is not None:
        job = slurm.get(record["job_id"], "UNKNOWN")
        just_sent = job == "UNKNOWN" and time.time() - record.get("updated", 0) < SACCT_LAG_S
        if job not in SLURM_LIVE and not just_sent:
            return StepState(INTERRUPTED, {**record, "reason": f"Slurm job {job}"})
    elif state == RUNNING and not _alive(record):
        return StepState(INTERRUPTED, record)
    return StepState(state or PENDING, record)


def _alive(record: dict[str, Any]) -> bool:
    """A running record's process still exists (checked on its own host only)."""
    if record.get("host") != socket.gethostname() or record.get("job_id"):
        return True  # another machine's process, or a Slurm job (read through sacct)
    pid = record.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def claim_folder(root: Path, name: str, path: Path) -> None:
    """Record which plan owns ``root``; refuse a folder that holds another plan's steps."""
    owner_file = root / OWNER
    if owner_file.is_file():
        owner = json.loads(owner_file.read_text(encoding="utf-8"))
        if owner.get("name") != name:
            raise StudyError(
                f"{root} holds the steps of study {owner.get('name')!r} (from "
                f"{owner.get('file')}), not of {name!r} (from {path}): give this plan another "
                "output_dir, or remove that folder"
            )
        return
    root.mkdir(parents=True, exist_ok=True)
    write_atomic(owner_file, json.dumps({"name": name, "file": str(path)}, indent=2))


class StudyLock:
    """An exclusive lock on the study's folder, held for the whole of one ``study run``."""

    def __init__(self, root: Path) -> None:
        self.path = root / "study.lock"
        self.handle: Any = None

    def __enter__(self) -> StudyLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StudyError(
                f"another `medinj-eval study run` ({holder}) is running the study in "
                f"{self.path.parent}; wait for it, or see `medinj-eval study status`"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc: Any) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
