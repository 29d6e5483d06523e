"""The main job (``medinj-eval run`` with no arguments, ``make demo``) as four steps.

Each step reads the files the step before it wrote, through the same readers the commands
use, and prints the command that reruns it alone:

1. evaluate: the default model on the sample suite (MCQ modes and open-ended tasks);
2. judge: the run's open-ended answers, by the default model in process;
3. meta-evaluate: the judge on the labelled pairs shipped with the package;
4. site: the leaderboard with this run beside the published rows.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from medinj_eval.benchmarks import SAMPLE_SUITE

EVALUATE_ARGS = [
    "--model", "medinj-hf",
    "--model_args", "pretrained=default,prefix_cache=true",
    "--tasks", f"{SAMPLE_SUITE},{SAMPLE_SUITE}_open",
    "--apply_chat_template",
    "--batch_size", "64",
]  # fmt: skip
JUDGE_PROMPT = "medinjection-binary"


def main_job() -> int:
    run_dir = evaluate_step()
    if run_dir is None:
        return 0
    judge_step(run_dir)
    meta_eval_step(run_dir)
    site_step(run_dir)
    return 0


def _announce(step: str, args: list[str]) -> None:
    print(f"medinj-eval: main job, {step}: medinj-eval {shlex.join(args)}")


def evaluate_step() -> Path | None:
    """The run's folder once its results are written (None when it finished earlier)."""
    from medinj_eval.run_job import evaluate_run
    from medinj_eval.run_options import parse_run_options

    options = parse_run_options(EVALUATE_ARGS)
    _announce("evaluate", ["run", *EVALUATE_ARGS, "--output_path", options.output_path])
    results_file = evaluate_run(options)
    return None if results_file is None else options.output


def judge_cache(run_dir: Path) -> Path:
    return run_dir / "judge-cache.sqlite"


def judge_step(run_dir: Path) -> None:
    """The run's open-ended samples judged in process; records under ``<run>/judge/``."""
    from medinj_eval.judge.cli import judge_command

    args = [str(run_dir), "--prompt", JUDGE_PROMPT, "--cache", str(judge_cache(run_dir))]
    _announce("judge", ["judge", *args])
    judge_command(args)


def meta_eval_step(run_dir: Path) -> None:
    """The judge against the shipped labelled pairs, its replies shared through the cache."""
    from medinj_eval.metaeval.cli import meta_eval_command
    from medinj_eval.paths import sample_data_dir

    pairs = sorted(str(p) for p in (sample_data_dir() / "judge_calibration").glob("*.json"))
    args = [*pairs, "--prompt", JUDGE_PROMPT, "--cache", str(judge_cache(run_dir))]
    args += ["--out", str(run_dir / "metaeval")]
    _announce("meta-evaluate", ["meta-eval", *args])
    meta_eval_command(args)


def site_step(run_dir: Path) -> Path:
    """The leaderboard site with the run (and its judge records) beside the reported rows."""
    from medinj_eval.leaderboard.site import build_site

    out = run_dir / "leaderboard"
    _announce("site", ["leaderboard", "build", "--runs", str(run_dir), "--out", str(out)])
    site = build_site(Path("results"), out, [str(run_dir)])
    print(f"medinj-eval: leaderboard with this run beside the reported rows: {site.resolve()}")
    return site
