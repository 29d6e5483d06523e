"""What orchestration costs: a study through ``medinj-eval study run`` against the same steps
as plain ``medinj-eval`` commands typed one after the other, measured in one run, then a
second ``study run`` on the finished study (which must run nothing).

Both ways must give the same answers: every run's logged metrics and the tables are compared
(paths aside). Prints the three wall times and the overhead; writes
``benchmarks/results/study_<name>.json``.

    python benchmarks/bench_study.py [--study demo]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from medinj_eval.runs import load_run
from medinj_eval.study.plan import load_study
from medinj_eval.study.steps import build_steps

MEDINJ_EVAL = str(Path(sys.executable).parent / "medinj-eval")
RESULTS = Path(__file__).resolve().parent / "results"


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def plain_commands(study: str, root: Path) -> float:
    """Each step's command in a process of its own, in dependency order, as a user would."""
    steps = build_steps(load_study(study, output_dir=root))
    return sum(timed([MEDINJ_EVAL, *step.argv]) for step in steps)


def answers(study: str, root: Path) -> dict:
    """Every run's logged metrics and the tables with the folder's path taken out."""
    loaded = load_study(study, output_dir=root)
    out = {}
    for system in loaded.systems:
        for suite in loaded.evaluate:
            run = load_run(root / "evaluate" / system.name / suite.name)
            out[f"{system.name}/{suite.name}"] = {
                task: run.logged_metrics(task) for task in sorted(run.tasks)
            }
    out["tables"] = (root / "tables" / "tables.md").read_text().replace(str(root), "<root>")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", default="demo")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        orchestrated, plain = Path(tmp) / "study", Path(tmp) / "plain"
        run = [MEDINJ_EVAL, "study", "run", args.study, "--output-dir", str(orchestrated)]
        study_s = timed(run)
        again_s = timed(run)
        plain_s = plain_commands(args.study, plain)
        same = answers(args.study, orchestrated) == answers(args.study, plain)
    overhead = study_s / plain_s - 1
    figures = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "study": args.study,
        "study_run_s": round(study_s, 1),
        "plain_commands_s": round(plain_s, 1),
        "overhead": round(overhead, 4),
        "second_study_run_s": round(again_s, 1),
        "same_answers": same,
    }
    print(json.dumps(figures, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"study_{args.study}.json").write_text(json.dumps(figures, indent=2) + "\n")
    if not same:
        sys.exit("the study and the plain commands gave different answers")


if __name__ == "__main__":
    main()
