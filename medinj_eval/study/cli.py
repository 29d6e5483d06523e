"""``medinj-eval study plan|run|status|tables FILE``: a whole study from one file.

* ``plan``: the steps it would run, each with its state (done, pending, stale, failed,
  interrupted) and command; runs nothing.
* ``run``: every step not done yet, in dependency order, then the tables; non-zero with a
  summary when a step failed (independent steps still run).
* ``status``: one line per step: state, seconds, output, log.
* ``tables``: the study's tables from the steps' outputs (the plan's last step).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medinj_eval.study import StudyError

ACTIONS = ("plan", "run", "status", "tables")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medinj-eval study", description=__doc__.split("\n")[0])
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("study", help="a study file, or a shipped study's name (demo, ...)")
    p.add_argument("--executor", choices=("local", "slurm"), help="replaces the file's")
    p.add_argument("--output-dir", type=Path, help="the study's folder (replaces the file's)")
    p.add_argument("--out", type=Path, help="tables: the folder to write (default: the plan's)")
    return p


def study_command(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        return _act(args)
    except StudyError as err:
        sys.exit(f"medinj-eval study: {err}")


def _act(args: argparse.Namespace) -> int:
    from medinj_eval.study import orchestrate
    from medinj_eval.study.plan import load_study
    from medinj_eval.study.steps import build_steps

    study = load_study(args.study, args.executor, args.output_dir)
    if args.action == "run":
        return orchestrate.run_study(study)
    if args.action == "tables":
        from medinj_eval.study.tables import write_tables

        paths = write_tables(study, args.out or study.output() / "tables")
        print(paths[0].read_text(encoding="utf-8"))
        print(f"medinj-eval study: tables in {', '.join(str(p) for p in paths)}")
        return 0
    steps = build_steps(study)
    found = orchestrate.states(study, steps)
    lines = (orchestrate.plan_lines if args.action == "plan" else orchestrate.status_lines)(
        study, steps, found
    )
    print("\n".join(lines))
    return 0
