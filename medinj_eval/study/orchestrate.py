"""``study plan``, ``study run`` and ``study status``: the plan's steps, their states, and the
steps that still have to run handed to the executor."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from medinj_eval.study.plan import Study
from medinj_eval.study.state import (
    BLOCKED,
    DONE,
    FAILED,
    RUNNING,
    SUBMITTED,
    StepState,
    StudyLock,
    claim_folder,
    read_record,
    step_state,
)
from medinj_eval.study.steps import Step, build_steps


def states(study: Study, steps: list[Step]) -> dict[str, StepState]:
    """Each step's state; on Slurm, every job's state from one ``sacct`` call."""
    root = study.output()
    slurm = None
    if study.executor.kind == "slurm":
        from medinj_eval.study.slurm import job_states

        records = [read_record(step.record(root)) or {} for step in steps]
        slurm = job_states([r["job_id"] for r in records if r.get("job_id")])
    return {step.id: step_state(step, root, slurm) for step in steps}


def plan_lines(study: Study, steps: list[Step], found: dict[str, StepState]) -> list[str]:
    """One line per step: state, id, then the command it runs."""
    lines = [f"study {study.name} ({study.path}) -> {study.output()}",
             f"executor: {study.executor.kind}"]  # fmt: skip
    for step in steps:
        state = found[step.id].state
        needs = ", ".join(step.deps) if len(step.deps) <= 3 else f"{len(step.deps)} steps"
        after = f"  after {needs}" if step.deps and state != DONE else ""
        lines.append(f"  {state:<11} {step.id}{after}")
        if state != DONE:
            lines.append(f"              medinj-eval {_shown(step.argv)}")
    todo = sum(1 for s in steps if found[s.id].state != DONE)
    lines.append(f"{len(steps) - todo} of {len(steps)} steps done; {todo} to run")
    return lines


def _shown(argv: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in argv)


def status_lines(study: Study, steps: list[Step], found: dict[str, StepState]) -> list[str]:
    """One line per step: state, seconds, step, output and log (relative to the study's
    folder), and why a failed step failed."""
    root = study.output()
    width = max(len(s.id) for s in steps)
    lines = [f"study {study.name} in {root}",
             f"{'state':<11} {'seconds':>8}  {'step':<{width}}  output -> log"]  # fmt: skip
    for step in steps:
        state = found[step.id]
        seconds = state.record.get("seconds")
        if seconds is None and state.state == "running" and state.record.get("started"):
            seconds = round(time.time() - state.record["started"], 1)
        shown = f"{seconds:>8}" if seconds is not None else f"{'-':>8}"
        log = step.record(root) / "log.txt"
        where = f"{_relative(step.output, root)} -> {_relative(log, root) if log.exists() else '-'}"
        why = f"  ({state.record['reason']})" if state.state != DONE and state.record.get(
            "reason") else ""  # fmt: skip
        lines.append(f"{state.state:<11} {shown}  {step.id:<{width}}  {where}{why}")
    return lines


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def run_study(study: Study, echo: Any = print) -> int:
    """Run every step not done yet; 0 when all are done, else 1 with a summary."""
    root = study.output()
    with StudyLock(root):
        claim_folder(root, study.name, study.path)
        steps = build_steps(study)
        found = states(study, steps)
        done = {s.id for s in steps if found[s.id].done}
        todo = [s for s in steps if s.id not in done]
        # jobs an earlier `study run` submitted that are still queued or running
        live = {
            s.id: found[s.id].record["job_id"]
            for s in todo
            if found[s.id].state in (RUNNING, SUBMITTED) and found[s.id].record.get("job_id")
        }
        echo(f"medinj-eval study: {study.name}: {len(done)} of {len(steps)} steps done, "
             f"{len(todo)} to run ({study.executor.kind})")  # fmt: skip
        ended = _executor(study).run(todo, done, live) if todo else {s: DONE for s in done}
    return _summary(study, steps, ended, echo)


def _executor(study: Study) -> Any:
    if study.executor.kind == "slurm":
        from medinj_eval.study.slurm import SlurmExecutor

        return SlurmExecutor(study)
    return LocalExecutor(study)


class LocalExecutor:
    def __init__(self, study: Study) -> None:
        self.study = study

    def run(self, todo: list[Step], done: set[str], live: dict[str, str]) -> dict[str, str]:
        from medinj_eval.study.local import run_local

        return run_local(self.study, todo, done, self.study.output())


def _summary(study: Study, steps: list[Step], ended: dict[str, str], echo: Any) -> int:
    root = study.output()
    failed = [s for s in steps if ended.get(s.id) == FAILED]
    blocked = [s for s in steps if ended.get(s.id) == BLOCKED]
    if not failed and not blocked:
        tables = root / "tables" / "tables.md"
        if tables.is_file():
            echo(tables.read_text(encoding="utf-8"))
        echo(f"medinj-eval study: {study.name}: all {len(steps)} steps done; outputs in {root}")
        return 0
    echo(f"medinj-eval study: {study.name}: {len(failed)} step(s) failed, {len(blocked)} "
         f"blocked by them; rerun `medinj-eval study run {study.path}` to retry them")  # fmt: skip
    for step in failed:
        echo(f"  failed  {step.id}: log {step.record(root) / 'log.txt'}")
    for step in blocked:
        echo(f"  blocked {step.id}")
    return 1
