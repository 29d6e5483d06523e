"""The Slurm executor: each step a job submitted through submitit, with the plan's
resources for its kind, ``afterok`` dependencies on the jobs of the steps it needs, and the
evaluations that need nothing still to run submitted together as one job array. States come
from ``sacct`` (every call with a deadline: Slurm's clients retry for minutes when a daemon
is down). A job that was cancelled, timed out or died is recorded as failed with its Slurm
state, and the next ``study run`` submits it again; a job still queued or running from an
earlier ``study run`` is waited for, never submitted twice.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from medinj_eval.study import StudyError
from medinj_eval.study.plan import Study
from medinj_eval.study.state import (
    BLOCKED,
    DONE,
    FAILED,
    RUNNING,
    SLURM_LIVE,
    SUBMITTED,
    read_record,
    write_record,
)
from medinj_eval.study.step_process import log_tail, write_spec
from medinj_eval.study.steps import Step

CLIENT_TIMEOUT = 30
POLL_SECONDS = 2.0
ARRAY_KINDS = ("evaluate", "judge")


def slurm_problem() -> str | None:
    """Why Slurm cannot take jobs from here, in one line (None when it can)."""
    for tool in ("sbatch", "sacct", "squeue"):
        if shutil.which(tool) is None:
            return f"no `{tool}` on PATH"
    try:
        done = subprocess.run(["scontrol", "ping"], capture_output=True, text=True,
                              timeout=CLIENT_TIMEOUT)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return "the Slurm controller does not answer `scontrol ping`"
    if "UP" not in done.stdout:
        return f"the Slurm controller is down ({done.stdout.strip() or done.stderr.strip()})"
    return None


def job_states(job_ids: list[str]) -> dict[str, str]:
    """Each job's state as ``sacct`` reports it (first word: ``CANCELLED by 0`` ->
    ``CANCELLED``); ``UNKNOWN`` for a job sacct does not know (yet)."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    ids = sorted({j for j in job_ids if j})
    if not ids:
        return {}
    command = ["sacct", "-o", "JobID,State", "--parsable2"]
    for job_id in {j.split("_")[0] for j in ids}:
        command += ["-j", job_id]
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True,
                                timeout=CLIENT_TIMEOUT).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {j: "UNKNOWN" for j in ids}
    info = SlurmInfoWatcher().read_info(output)
    return {j: (info.get(j, {}).get("State") or "UNKNOWN").split()[0] for j in ids}


class SlurmExecutor:
    def __init__(self, study: Study) -> None:
        self.study = study
        self.root = study.output()

    def run(self, todo: list[Step], done: set[str], live: dict[str, str]) -> dict[str, str]:
        """Submit ``todo`` (``live``: its steps whose jobs from an earlier ``study run`` are
        still queued or running, by job id: waited for, not submitted again) and wait."""
        problem = slurm_problem()
        if problem:
            raise StudyError(f"Slurm is not reachable: {problem}; run the study on this "
                             "machine with --executor local")  # fmt: skip
        jobs = self._submit(todo, dict(live))
        return self._wait(todo, done, jobs)

    def _executor(self, step_kind: str, name: str, dependency: list[str]) -> Any:
        import submitit

        executor = submitit.AutoExecutor(folder=self.root / "slurm" / "%j", cluster="slurm")
        slurm = self.study.executor.slurm
        need = slurm.for_kind(step_kind)
        extra: dict[str, Any] = {"kill-on-invalid-dep": "yes"}
        if dependency:
            extra["dependency"] = "afterok:" + ":".join(dependency)
        executor.update_parameters(
            name=name, timeout_min=need.time_min, mem_gb=need.mem_gb, cpus_per_task=need.cpus,
            gpus_per_node=need.gpus or None, slurm_partition=slurm.partition,
            slurm_account=slurm.account, slurm_additional_parameters=extra,
        )  # fmt: skip
        return executor

    def _submit(self, todo: list[Step], jobs: dict[str, str]) -> dict[str, str]:
        """Job ids of ``todo``, the live ``jobs`` kept; evaluations (and judge passes) that
        wait for nothing go as one job array a kind."""
        waiting = {t.id for t in todo}
        for kind in ARRAY_KINDS:
            free = [s for s in todo if s.kind == kind and s.id not in jobs
                    and not any(d in waiting for d in s.deps)]  # fmt: skip
            if len(free) > 1:
                jobs.update(self._submit_array(kind, free))
        for step in todo:
            if step.id in jobs:
                continue
            after = [jobs[d] for d in step.deps if d in jobs]
            executor = self._executor(step.kind, f"{self.study.name}:{step.id}", after)
            job = executor.submit(_run_step, str(write_spec(step, self.root)))
            jobs[step.id] = self._submitted(step, job.job_id)
        return jobs

    def _submit_array(self, kind: str, steps: list[Step]) -> dict[str, str]:
        executor = self._executor(kind, f"{self.study.name}:{kind}", [])
        specs = [str(write_spec(step, self.root)) for step in steps]
        submitted = executor.map_array(_run_step, specs)
        return {s.id: self._submitted(s, j.job_id) for s, j in zip(steps, submitted)}

    def _submitted(self, step: Step, job_id: str) -> str:
        write_record(step.record(self.root), state=SUBMITTED, identity=step.identity,
                     job_id=job_id, submitted=time.time(), reason=None,
                     log=str(step.record(self.root) / "log.txt"))  # fmt: skip
        print(f"medinj-eval study: submitted {step.id} as Slurm job {job_id}", flush=True)
        return job_id

    def _wait(self, todo: list[Step], done: set[str], jobs: dict[str, str]) -> dict[str, str]:
        ended: dict[str, str] = {s: DONE for s in done}
        waiting = {s.id: s for s in todo}
        while waiting:
            time.sleep(POLL_SECONDS)
            states = job_states([jobs[s] for s in waiting])
            for step_id, step in list(waiting.items()):
                if any(d in waiting for d in step.deps):
                    continue  # decided after the steps it needs: Slurm may cancel it first
                state = states.get(jobs[step_id], "UNKNOWN")
                if state in SLURM_LIVE or state == "UNKNOWN":
                    continue
                del waiting[step_id]
                ended[step_id] = self._finished(step, state, ended)
        return ended

    def _finished(self, step: Step, slurm_state: str, ended: dict[str, str]) -> str:
        record_dir = step.record(self.root)
        record = read_record(record_dir) or {}
        if slurm_state == "COMPLETED" and record.get("state") == DONE:
            print(f"medinj-eval study: done      {step.id} ({record.get('seconds')} s)",
                  flush=True)  # fmt: skip
            return DONE
        never_ran = record.get("state") == SUBMITTED
        if never_ran and any(ended.get(d) in (FAILED, BLOCKED) for d in step.deps):
            print(f"medinj-eval study: blocked   {step.id} (a step it needs failed)", flush=True)
            return BLOCKED  # Slurm cancelled it: its dependency can never be satisfied
        reason = f"Slurm job {record.get('job_id')} ended {slurm_state}"
        if record.get("state") in (SUBMITTED, RUNNING):
            log = record_dir / "log.txt"
            write_record(record_dir, state=FAILED, rc=None, reason=reason,
                         finished=time.time(), log_tail=log_tail(log))  # fmt: skip
        print(f"medinj-eval study: failed    {step.id}: {reason}; log {record_dir / 'log.txt'}",
              flush=True)  # fmt: skip
        return FAILED


def _run_step(spec: str) -> None:
    """The job's function: the step in a process of its own (so a kill of the step ends the
    job with the step's status)."""
    status = subprocess.call([sys.executable, "-m", "medinj_eval.study.step_process", spec])
    if status:
        raise RuntimeError(f"step {Path(spec).parent.name} failed with status {status}")
