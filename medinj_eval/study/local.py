"""The local executor: one process per step, ``parallel`` at a time, each started once its
dependencies are done; with GPUs listed, a step that computes takes its own through
``CUDA_VISIBLE_DEVICES``. A step whose dependency failed is ``blocked``; the others go on.
The steps' processes die with ``study run`` (a killed run leaves no step running unseen).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from medinj_eval.study.plan import Study
from medinj_eval.study.state import BLOCKED, DONE, FAILED, RUNNING, read_record, write_record
from medinj_eval.study.step_process import log_tail, write_spec
from medinj_eval.study.steps import COMPUTES, Step

POLL_SECONDS = 0.2


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the parent (``study run``) dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Running:
    step: Step
    process: subprocess.Popen
    gpus: list[int]


def run_local(study: Study, todo: list[Step], done: set[str], root: Path) -> dict[str, str]:
    """Run ``todo`` (dependency order) given the ``done`` steps; the end state of each."""
    slots = study.executor.parallel if not study.executor.gpus else len(study.executor.gpus)
    free_gpus = list(study.executor.gpus)
    ended: dict[str, str] = {step_id: DONE for step_id in done}
    waiting = list(todo)
    running: list[Running] = []
    while waiting or running:
        for step in list(waiting):
            if any(ended.get(d) in (FAILED, BLOCKED) for d in step.deps):
                ended[step.id] = BLOCKED
                waiting.remove(step)
                _say(f"blocked   {step.id} (a step it needs failed)")
            elif all(ended.get(d) == DONE for d in step.deps) and len(running) < slots:
                need = _gpus_needed(step, study.executor.gpus)
                if len(free_gpus) < need:
                    continue  # waits for its GPUs
                gpus = [free_gpus.pop(0) for _ in range(need)]
                running.append(Running(step, _start(step, root, gpus), gpus))
                waiting.remove(step)
                _say(
                    f"started   {step.id}" + (f" (GPU {','.join(map(str, gpus))})" if gpus else "")
                )
        time.sleep(POLL_SECONDS)
        for item in list(running):
            if item.process.poll() is None:
                continue
            running.remove(item)
            free_gpus += item.gpus
            ended[item.step.id] = _finish(item, root)
    return ended


def _gpus_needed(step: Step, listed: list[int]) -> int:
    """GPUs a step takes: none without listed GPUs or for a step that does not compute; an
    evaluation with ``data_parallel: N`` takes N (at most all of them)."""
    if not listed or step.kind not in COMPUTES:
        return 0
    return min(max(step.gpus, 1), len(listed))


def _start(step: Step, root: Path, gpus: list[int]) -> subprocess.Popen:
    spec = write_spec(step, root)
    env = dict(os.environ)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
    command = [sys.executable, "-m", "medinj_eval.study.step_process", str(spec)]
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent)  # fmt: skip


def _finish(item: Running, root: Path) -> str:
    """The step's end state: its own record's, or failed when its process died first."""
    record_dir = item.step.record(root)
    record = read_record(record_dir) or {}
    code = item.process.returncode
    if record.get("state") == DONE and record.get("identity") == item.step.identity and code == 0:
        _say(f"done      {item.step.id} ({record.get('seconds', '?')} s)")
        return DONE
    if record.get("state") in (RUNNING, None) or code < 0:
        reason = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited {code}"
        log = record_dir / "log.txt"
        try:
            write_record(record_dir, state=FAILED, identity=item.step.identity, rc=code,
                         reason=reason, finished=time.time(), log=str(log),
                         log_tail=log_tail(log))  # fmt: skip
        except OSError as err:  # a full disk: the record stays "running", never "done"
            _say(f"cannot record {item.step.id} as failed: {err}")
    _say(f"failed    {item.step.id}: see {record_dir / 'log.txt'}")
    return FAILED


def _say(line: str) -> None:
    print(f"medinj-eval study: {line}", flush=True)
