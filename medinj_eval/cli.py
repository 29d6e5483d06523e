"""``medinj-eval``: the command researchers call.

* ``medinj-eval run [lm_eval flags]``: ``lm_eval run`` with our include path, our model
  backends registered, ``pretrained=default`` resolved, data checked before any model is
  loaded, and outputs under ``runs/<timestamp>/`` unless ``--output_path`` is given.
  With no flags it runs the main job: the default model on ``medinj_fr_sample`` and
  ``medinj_fr_sample_open``, the in-process judge, the meta-evaluation on the authors'
  labelled pairs, and the leaderboard site.
* ``medinj-eval tasks-path``: the folder to give ``lm_eval --include_path``.
* ``medinj-eval model prepare|path``: the embedded default model.
* ``medinj-eval validate --tasks ... [--metadata JSON]``: load and check the data only.
* ``medinj-eval compare RUN RUN... --baseline NAME [--out DIR]``: paired statistics,
  corrections, rankings, position bias, figures and a report across runs.
* ``medinj-eval judge RUN|SAMPLES --prompt NAME|FILE [--base-url URL --judge-model M]``:
  LLM-as-a-judge scores of the open-ended samples (cached, resumable) under <run>/judge/.
* ``medinj-eval meta-eval PAIRS... [--prompt P]``: BLEU, ROUGE, BERTScore and judges
  against human labels (correlations, kappa, alpha, bootstrap CIs, verbosity check).
* ``medinj-eval data mix --config ALL --size 33493 --seed 42``: a MedInjection-FR
  data-provenance mix (JSONL + provenance report).
* ``medinj-eval train --recipe R [section.key=value ...]``: SFT of a LoRA/DoRA adapter.
* ``medinj-eval agreement RUN_A RUN_B``: item-level agreement of two runs of the same tasks
  (one model on two backends): same picks, same outputs, valid rates, the items that differ.
* ``medinj-eval study plan|run|status|tables FILE``: a whole study (mixes, adapters,
  evaluations, judge, comparison, the papers' tables) from one file, run once, resumable,
  locally or on Slurm.
* ``medinj-eval report RUN|COMPARISON``: one self-contained HTML page (and Markdown).
* ``medinj-eval leaderboard submit RUN --model-id ID | validate | build [--runs RUN...]``:
  submissions under results/, their validation, and the static site.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from medinj_eval.paths import tasks_dir

# Subcommands whose module is imported only when called (they pull heavy libraries).
SUBCOMMANDS = {
    "judge": "medinj_eval.judge.cli:judge_command",
    "meta-eval": "medinj_eval.metaeval.cli:meta_eval_command",
    "train": "medinj_eval.train.sft:main",
    "data": "medinj_eval.train.data_mix_cli:data_command",
    "study": "medinj_eval.study.cli:study_command",
}


def main(argv: list[str] | None = None) -> None:
    from medinj_eval.data.errors import DataValidationError
    from medinj_eval.judge import JudgeError
    from medinj_eval.leaderboard import SubmissionError
    from medinj_eval.runs import RunError
    from medinj_eval.train import TrainingError

    try:
        _dispatch(list(sys.argv[1:] if argv is None else argv))
    except DataValidationError as err:
        sys.exit(f"medinj-eval: invalid data: {err}")
    except (RunError, SubmissionError, JudgeError, TrainingError) as err:
        sys.exit(f"medinj-eval: {err}")


def _dispatch(argv: list[str]) -> None:
    command = argv[0] if argv else "run"
    rest = argv[1:]
    if command == "run":
        sys.exit(run(rest))
    if command == "tasks-path":
        print(tasks_dir())
    elif command == "model":
        model_command(rest)
    elif command == "compare":
        compare_command(rest)
    elif command == "agreement":
        agreement_command(rest)
    elif command == "report":
        report_command(rest)
    elif command == "leaderboard":
        leaderboard_command(rest)
    elif command in SUBCOMMANDS:
        import importlib

        module, function = SUBCOMMANDS[command].split(":")
        status = getattr(importlib.import_module(module), function)(rest)
        if isinstance(status, int) and status:
            sys.exit(status)
    elif command == "validate":
        validate_command(rest)
    elif command in ("-h", "--help", "help"):
        print(__doc__)
    else:
        sys.exit(f"medinj-eval: unknown command {command!r}; see `medinj-eval --help`")


def model_command(rest: list[str]) -> None:
    from medinj_eval.models import default_model

    action = rest[0] if rest else "path"
    if action == "prepare":
        default_model.prepare()
    elif action == "path":
        print(default_model.model_dir())
    elif action == "gguf":
        print(default_model.gguf_path())
    else:
        sys.exit(f"medinj-eval model: unknown action {action!r} (prepare, path, gguf)")


def compare_command(rest: list[str]) -> None:
    from medinj_eval.reports.compare_and_report import compare

    parser = argparse.ArgumentParser(prog="medinj-eval compare")
    parser.add_argument("runs", nargs="+", help="lm-eval output folders (results + samples)")
    parser.add_argument("--baseline", required=True, help="name of the reference system")
    parser.add_argument("--names", help="comma-separated display names, one per run")
    parser.add_argument("--metric", help="item metric to compare (default: em, else acc)")
    parser.add_argument("--out", type=Path, default=None, help="default: runs/compare-<time>")
    parser.add_argument("--q", type=float, default=0.05, help="FDR level (BH) and alpha")
    parser.add_argument("--resamples", type=int, default=10_000, help="paired bootstrap draws")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = parser.parse_args(rest)
    out = args.out or Path("runs") / f"compare-{datetime.now():%Y%m%d-%H%M%S}"
    paths = compare(
        args.runs,
        args.baseline,
        out,
        names=args.names.split(",") if args.names else None,
        metric=args.metric,
        q=args.q,
        n_resamples=args.resamples,
        seed=args.seed,
    )
    print((out / "comparison.md").read_text(encoding="utf-8"))
    comparison = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    for warning in comparison.get("warnings", []):
        print(f"medinj-eval compare: warning: {warning}", file=sys.stderr)
    print(f"medinj-eval compare: report {paths['html']}")


def agreement_command(rest: list[str]) -> None:
    from medinj_eval.runs import load_run
    from medinj_eval.stats.backend_agreement import agreement_table, backend_agreement

    parser = argparse.ArgumentParser(prog="medinj-eval agreement")
    parser.add_argument("run_a", help="a run folder (for example --model hf)")
    parser.add_argument("run_b", help="a run of the same tasks (for example --model vllm)")
    parser.add_argument("--names", default="a,b", help="display names of the two runs")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(rest)
    names = tuple(args.names.split(",", 1))
    figures = backend_agreement(load_run(args.run_a), load_run(args.run_b))
    print(agreement_table(figures, names))
    for task, f in figures.items():
        for diff in f["differences"]:
            a, b = diff["a"], diff["b"]
            print(f"{task} doc {diff['doc_id']}: {names[0]} {a!r} / {names[1]} {b!r}")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")


def report_command(rest: list[str]) -> None:
    from medinj_eval.reports.compare_and_report import report

    parser = argparse.ArgumentParser(prog="medinj-eval report")
    parser.add_argument("path", help="a run folder or a comparison folder")
    parser.add_argument("--out", type=Path, default=None, help="default: beside the input")
    args = parser.parse_args(rest)
    paths = report(args.path, args.out)
    print(f"medinj-eval report: {paths['html']} and {paths['markdown']}")


def leaderboard_command(rest: list[str]) -> None:
    from medinj_eval.leaderboard.site import build_site
    from medinj_eval.leaderboard.submission import create_submission
    from medinj_eval.leaderboard.validate import validate_all

    parser = argparse.ArgumentParser(prog="medinj-eval leaderboard")
    parser.add_argument("action", choices=("submit", "validate", "build"))
    parser.add_argument("run", nargs="?", help="submit: the run folder to submit")
    parser.add_argument("--model-id", help="submit: the name the leaderboard shows")
    parser.add_argument("--results", type=Path, default=Path("results"), help="default: results")
    parser.add_argument("--out", type=Path, default=Path("runs") / "leaderboard", help="build")
    parser.add_argument("--runs", nargs="*", default=[], help="build: local runs shown too")
    parser.add_argument(
        "--allow-partial", action="store_true", help="submit: accept a --limit run, marked partial"
    )
    parser.add_argument(
        "--local-ok", action="store_true", help="submit: a base model known by a local folder"
    )
    args = parser.parse_args(rest)
    if args.action == "submit":
        if not args.run or not args.model_id:
            sys.exit("medinj-eval leaderboard submit: RUN and --model-id are required")
        written = create_submission(
            args.run, args.model_id, args.results,
            allow_partial=args.allow_partial, local_ok=args.local_ok,
        )  # fmt: skip
        print(f"submission written: {written}")
    elif args.action == "validate":
        notes: list[str] = []
        validations = validate_all(args.results, notes)
        for note in notes:
            print(f"note: {note}")
        print(f"{len(validations)} submission(s) and the reported rows in {args.results} are valid")
    else:
        print(f"leaderboard site: {build_site(args.results, args.out, args.runs).resolve()}")


RUN_HELP = """usage: medinj-eval run [lm_eval run options]

medinj-eval run is `lm_eval run` with:
  --include_path        medinj-eval's tasks (added when absent)
  --model_args          pretrained=default: the embedded SmolLM2-135M-Instruct
  --output_path, -o     default runs/<timestamp>/; manifest.json is written beside the results;
                        each task's results and samples are kept in tasks/<task>/ as it ends
  --resume RUN          go on with a killed run (its own arguments, from RUN/run.json): the
                        same command with the same --output_path does the same
  --log_samples         always on (per-sample logs feed judge, compare and leaderboard)
  --use_cache DIR       the request cache (default: <output_path>/requests), one per model:
                        DIR/model-<key>_rank*.db, the key made of the backend, the model
                        arguments, the base model's revision or weights' sha256 and the
                        adapter's sha256
  --metadata JSON|k=v   checked before the run; {"data_dir": DIR} reads the benchmarks from DIR
  --data-parallel N     split the items over N processes (accelerate; hf/medinj-hf), one result;
                        vllm: data_parallel_size=N
  --model medinj-api    a served model (local-completions + server=vllm|llama-cpp|none, the
                        structured-output request of constrained tasks; max_wait=SECONDS)
Constrained tasks run on hf, medinj-hf, vllm and medinj-api; other backends are refused.
Every medinj-eval task's data is checked before any model loads; unknown tasks are refused.
With no option at all it runs the main job (the sample suite, the judge, the meta-evaluation
and the leaderboard site).

lm_eval's own options follow.
"""


def run(args: list[str]) -> int:
    """``medinj-eval run``: the main job with no arguments, else one evaluation run (see
    :mod:`medinj_eval.run_job`); 0 once done (failures raise or exit with one line)."""
    if any(a in ("-h", "--help") for a in args):
        return run_help()
    args = resumed_arguments(args)
    if not args:
        from medinj_eval.main_job import main_job

        return main_job()
    from medinj_eval.run_job import evaluate_run
    from medinj_eval.run_options import parse_run_options

    evaluate_run(parse_run_options(args))
    return 0


def resumed_arguments(args: list[str]) -> list[str]:
    """``--resume RUN``: the arguments RUN was started with, its folder as the output."""
    if "--resume" not in args and not any(a.startswith("--resume=") for a in args):
        return args
    parser = argparse.ArgumentParser(prog="medinj-eval run", add_help=False)
    parser.add_argument("--resume", type=Path, required=True)
    options, rest = parser.parse_known_args(args)
    if rest:
        sys.exit(f"medinj-eval: --resume takes the run's own arguments; drop {' '.join(rest)}")
    from medinj_eval.task_runs import read_run_state

    state = read_run_state(options.resume)
    print(f"medinj-eval: resuming {options.resume}")
    return [*state["argv"], "--output_path", str(options.resume)]


def run_help() -> int:
    print(RUN_HELP)
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm_eval", "run", "--help"]
    try:
        cli_evaluate()
    except SystemExit:
        pass
    return 0


def validate_command(rest: list[str]) -> None:
    from medinj_eval.run_job import check_tasks
    from medinj_eval.run_options import parse_run_options

    options = parse_run_options(rest)
    checked = check_tasks(options)
    others = [t for t in options.tasks if t not in checked.ours]
    print(f"data of {','.join(checked.ours) or 'no medinj-eval task'} is valid")
    if others:
        print(f"not medinj-eval tasks, left to lm-eval: {','.join(others)}")


if __name__ == "__main__":
    main()
