"""One step in its own process (a child of ``study run``, or a Slurm job): its command's
output goes to ``steps/<id>/log.txt``; its record says ``running`` while it runs and ``done``
only once the command exited 0 and its outputs are there.

``python -m medinj_eval.study.step_process steps/<id>/step.json``
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from medinj_eval.study.state import DONE, FAILED, RUNNING, outputs_ready, read_record, write_record
from medinj_eval.study.steps import Step

TAIL_LINES = 20


def write_spec(step: Step, root: Path) -> Path:
    """The step as its process reads it (no planning in the step's process)."""
    record = step.record(root)
    record.mkdir(parents=True, exist_ok=True)
    spec = {**asdict(step), "output": str(step.output), "root": str(root)}
    path = record / "step.json"
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return path


def read_spec(path: Path) -> tuple[Step, Path]:
    spec = json.loads(path.read_text(encoding="utf-8"))
    root = Path(spec.pop("root"))
    spec["output"] = Path(spec["output"])
    return Step(**spec), root


def log_tail(log: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        return log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def run_spec(path: Path) -> int:
    """Run the step described by ``path``; its exit status."""
    step, root = read_spec(path)
    record = step.record(root)
    log = record / "log.txt"
    _send_output_to(log)
    previous = read_record(record) or {}
    if previous.get("identity") not in (None, step.identity) and step.output.exists():
        shutil.rmtree(step.output)  # another plan's inputs made it: nothing in it is reusable
    started = time.time()
    write_record(record, state=RUNNING, identity=step.identity, pid=os.getpid(),
                 host=socket.gethostname(), job_id=_slurm_job_id(),
                 started=started, finished=None, rc=None, reason=None, log=str(log),
                 output=str(step.output))  # fmt: skip
    print(f"=== {step.id}: medinj-eval {' '.join(step.argv)}", flush=True)
    status, reason = _call(step.argv)
    if status == 0 and not outputs_ready(step):
        status, reason = 1, f"the command ended without writing its outputs in {step.output}"
    sys.stdout.flush()
    sys.stderr.flush()
    write_record(record, state=DONE if status == 0 else FAILED, finished=time.time(),
                 seconds=round(time.time() - started, 1), rc=status, reason=reason,
                 log_tail=log_tail(log) if status else [])  # fmt: skip
    return status


def _slurm_job_id() -> str | None:
    """The id sacct and scancel know this job by: ``<array>_<task>`` for an array's task
    (its ``SLURM_JOB_ID`` is a number of its own, the array's first task's is the array's)."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


def _send_output_to(log: Path) -> None:
    """Everything this process and its children print goes to ``log`` (appended)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _call(argv: list[str]) -> tuple[int, str | None]:
    from medinj_eval.cli import main

    try:
        main(list(argv))
    except SystemExit as done:
        if done.code in (None, 0):
            return 0, None
        if isinstance(done.code, int):
            return done.code, f"exited with status {done.code}"
        print(done.code, file=sys.stderr)
        return 1, str(done.code)
    except BaseException as err:  # noqa: BLE001  the record must say how the step ended
        traceback.print_exc()
        return 1, f"{type(err).__name__}: {err}"
    return 0, None


if __name__ == "__main__":
    sys.exit(run_spec(Path(sys.argv[1])))
