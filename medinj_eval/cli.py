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
* ``medinj-eval report RUN|COMPARISON``: one self-contained HTML page (and Markdown).
* ``medinj-eval leaderboard submit RUN --model-id ID | validate | build [--runs RUN...]``:
  submissions under results/, their validation, and the static site.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from medinj_eval.benchmarks import SAMPLE_SUITE
from medinj_eval.paths import tasks_dir

DEMO_ARGS = [
    "--model",
    "medinj-hf",
    "--model_args",
    "pretrained=default,prefix_cache=true",
    "--tasks",
    f"{SAMPLE_SUITE},{SAMPLE_SUITE}_open",
    "--apply_chat_template",
    "--batch_size",
    "64",
]


# Subcommands whose module is imported only when called (they pull heavy libraries).
SUBCOMMANDS = {
    "judge": "medinj_eval.judge.cli:judge_command",
    "meta-eval": "medinj_eval.metaeval.cli:meta_eval_command",
    "train": "medinj_eval.train.sft:main",
    "data": "medinj_eval.train.data_mix_cli:data_command",
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
        options, _ = _task_options(rest)
        checked, _ = preflight(options.tasks, parse_metadata(options.metadata))
        others = [t for t in options.tasks.split(",") if t and t not in checked]
        print(f"data of {','.join(checked) or 'no medinj-eval task'} is valid")
        if others:
            print(f"not medinj-eval tasks, left to lm-eval: {','.join(others)}")
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
        manifests = validate_all(args.results, notes)
        for note in notes:
            print(f"note: {note}")
        print(f"{len(manifests)} submission(s) and the reported rows in {args.results} are valid")
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


def run(lm_eval_args: list[str]) -> int:
    """Run lm_eval with our include path and defaults, resumably; 0 once the results are
    written (failures raise or exit with one line)."""
    if any(a in ("-h", "--help") for a in lm_eval_args):
        return run_help()
    lm_eval_args = resumed_arguments(lm_eval_args)
    demo = not lm_eval_args
    given = list(lm_eval_args) or list(DEMO_ARGS)
    options, rest = _task_options(given)
    metadata = parse_metadata(options.metadata)
    started = time.monotonic()
    _, loaded = preflight(options.tasks, metadata)
    refuse_bad_arguments(options)
    check_backend(options.model, options.model_args, loaded)
    if (options.data_parallel or 1) > 1 and options.model != "vllm":  # vllm: data_parallel_size
        from medinj_eval.data_parallel import launch

        return launch(options, list(lm_eval_args))
    results_file = run_resumable(options, metadata, rest, given)
    if results_file is None or not is_main_rank():
        return 0
    output = Path(options.output_path)
    manifest = write_run_manifest(results_file, options, lm_eval_args)
    print(f"medinj-eval: finished in {time.monotonic() - started:.1f} s; outputs in {output}")
    print(f"medinj-eval: run manifest {manifest}")
    if demo:
        from medinj_eval.leaderboard.site import build_site

        judge_and_meta_eval_demo(output)
        site = build_site(Path("results"), output / "leaderboard", [str(output)])
        print(f"medinj-eval: leaderboard with this run beside the reported rows: {site.resolve()}")
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


def run_resumable(
    options: argparse.Namespace, metadata: dict, rest: list[str], given: list[str]
) -> Path | None:
    """Each task kept as it ends, finished tasks of an earlier start skipped (see
    :mod:`medinj_eval.task_runs`); the results file lm-eval wrote, None when the run had
    finished before or on ranks other than the first."""
    from medinj_eval.lm_eval_internals import install, run_arguments
    from medinj_eval.provenance import model_identity
    from medinj_eval.task_runs import (
        check_run_state,
        mark_finished,
        run_tasks,
        settings_identity,
    )

    register_backend(options.model)
    install()
    output = Path(options.output_path)
    args = lm_eval_command(options, metadata, rest)
    cfg = run_arguments(args)
    if "--model_args" in args:  # recorded in the results as given, not as lm-eval's dict
        cfg.model_args = args[args.index("--model_args") + 1]
    settings = settings_identity(cfg, model_identity(options.model, cfg.model_args))
    argv = [*given, "--output_path", str(output)]
    if check_run_state(output, settings, argv):
        print(f"medinj-eval: {output} already holds this finished run; nothing to do")
        return None
    found = run_tasks(cfg, output, settings)
    if found is not None:
        mark_finished(output, found)
    return found


def refuse_bad_arguments(options: argparse.Namespace) -> None:
    """Stop, after the data checks and before any model loads, on a limit, a process count
    or a local model or adapter folder that cannot work."""
    from medinj_eval.run_inputs import argument_problems

    problems = argument_problems(options.limit, options.data_parallel, options.model_args)
    if problems:
        sys.exit(f"medinj-eval: {problems[0]}")


def register_backend(model: str) -> None:
    """Import the module that registers a medinj-eval backend (``medinj-api`` needs lm-eval's
    API extra, so it is imported only when asked for)."""
    import medinj_eval.models.medinj_hf  # noqa: F401  registers --model medinj-hf

    if model == "medinj-api":
        import medinj_eval.models.medinj_api  # noqa: F401


def check_backend(model: str, model_args: str, loaded: dict) -> None:
    """Refuse, before any model loads, a backend that cannot run the requested tasks."""
    from medinj_eval.models.constraint_support import can_constrain_name, constrained_tasks, refusal
    from medinj_eval.provenance import parse_model_args
    from medinj_eval.server_families import letter_families

    if model == "vllm":
        from medinj_eval.models.vllm_backend import INSTALL_HINT, vllm_available

        if not vllm_available():
            sys.exit(f"medinj-eval: {INSTALL_HINT}")
    constrained = constrained_tasks(loaded)
    server = parse_model_args(model_args).get("server", "vllm")
    if model == "medinj-api" and server not in letter_families():
        model = f"medinj-api (server={server})"
    if constrained and not can_constrain_name(model):
        sys.exit(refusal(constrained[0], model))


def is_main_rank() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def run_help() -> int:
    print(RUN_HELP)
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm_eval", "run", "--help"]
    try:
        cli_evaluate()
    except SystemExit:
        pass
    return 0


def write_run_manifest(results_file: Path, options: argparse.Namespace, argv: list[str]) -> Path:
    """``manifest.json`` beside the run's results file."""
    from medinj_eval.data.files import data_read
    from medinj_eval.provenance import build_manifest, write_manifest

    manifest = build_manifest(
        results_file=results_file,
        model=options.model,
        model_args=options.model_args,
        data_files=data_read(),
        seeds=options.seed or "0,1234,1234,1234",
        device=options.device,
        argv=["run", *argv],
        limit=options.limit,
    )
    return write_manifest(manifest, results_file.parent)


def judge_and_meta_eval_demo(run_dir: Path) -> None:
    """The demo's open-ended steps, as a user would type them: the run's answers judged by
    the embedded model in process, then the meta-evaluation on the authors' labelled pairs."""
    from medinj_eval.judge.cli import judge_command
    from medinj_eval.metaeval.cli import meta_eval_command
    from medinj_eval.paths import sample_data_dir

    cache = str(run_dir / "judge-cache.sqlite")
    judge_command([str(run_dir), "--prompt", "medinjection-binary", "--cache", cache])
    pairs = sorted(str(p) for p in (sample_data_dir() / "judge_calibration").glob("*.json"))
    out = str(run_dir / "metaeval")
    meta_eval_command([*pairs, "--prompt", "medinjection-binary", "--cache", cache, "--out", out])


def _task_options(args: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The lm_eval options the wrapper reads, in every spelling lm_eval accepts (short flags,
    ``--flag=value``, several values after one flag), and the options it passes through."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--tasks", "-t", nargs="+", default=[])
    parser.add_argument("--metadata", nargs="+", default=None)
    parser.add_argument("--model", "-M", default="hf")
    parser.add_argument("--model_args", "-a", nargs="+", default=[])
    parser.add_argument("--output_path", "-o", default=None)
    parser.add_argument("--use_cache", "-c", default=None)
    parser.add_argument("--include_path", default=None)
    parser.add_argument("--limit", "-L", default=None)
    parser.add_argument("--seed", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--log_samples", "-s", action="store_true")
    parser.add_argument("--data-parallel", "--data_parallel", type=int, default=None)
    options, rest = parser.parse_known_args(args)
    options.tasks = ",".join(options.tasks)
    options.model_args = _resolved(",".join(options.model_args))
    if options.output_path is None:
        options.output_path = str(Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    return options, rest


def _resolved(model_args: str) -> str:
    """``pretrained=default`` -> the prepared folder, or one line saying how to prepare it."""
    from medinj_eval.models.default_model import resolve_model_args

    try:
        return resolve_model_args(model_args) if model_args else ""
    except FileNotFoundError as err:
        sys.exit(f"medinj-eval: {err}")


def parse_metadata(values: list[str] | None) -> dict:
    """``--metadata`` as lm_eval reads it (a JSON object, or ``key=value`` pairs), or one
    clear line naming what is wrong."""
    import ast

    if not values:
        return {}
    text = " ".join(values).strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            sys.exit(
                f"medinj-eval: --metadata is not valid JSON ({err.msg} at character {err.pos}):"
                f""" {text!r}; write it as '{{"data_dir": "/path"}}'"""
            )
    out = {}
    for pair in values:
        key, eq, raw = pair.partition("=")
        if not eq or not key:
            sys.exit(f"medinj-eval: --metadata takes a JSON object or key=value pairs: {pair!r}")
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw
    return out


def lm_eval_command(options: argparse.Namespace, metadata: dict, rest: list[str]) -> list[str]:
    """lm_eval's arguments: the passed-through ones, then the read ones in one spelling, with
    the include path, ``pretrained=default`` resolved, samples logged, and a request cache
    of this model's own."""
    args, model_args = list(rest), options.model_args
    args += ["--model", options.model, "--output_path", options.output_path, "--log_samples"]
    args += ["--include_path", options.include_path or str(tasks_dir())]
    if options.tasks:
        args += ["--tasks", options.tasks]
    if options.model == "vllm":
        model_args = _vllm_model_args(model_args, options.data_parallel)
    if model_args:
        args += ["--model_args", model_args]
    if metadata:
        args += ["--metadata", json.dumps(metadata, ensure_ascii=False)]
    for flag in ("limit", "seed", "device"):
        if getattr(options, flag) is not None:
            args += [f"--{flag}", getattr(options, flag)]
    from medinj_eval.provenance import model_identity, request_cache_prefix
    from medinj_eval.task_runs import REQUEST_CACHE

    folder = options.use_cache or str(Path(options.output_path) / REQUEST_CACHE)
    prefix = request_cache_prefix(folder, model_identity(options.model, model_args))
    args += ["--use_cache", prefix]
    print(f"medinj-eval: request cache of this model: {prefix}_rank*.db")
    return args


def _vllm_model_args(model_args: str, data_parallel: int | None) -> str:
    """``peft=`` as vLLM takes it (a LoRA request, or a merged model for DoRA), and
    ``--data-parallel N`` as ``data_parallel_size=N``."""
    from medinj_eval.models.vllm_backend import vllm_model_args
    from medinj_eval.paths import cache_dir
    from medinj_eval.provenance import parse_model_args

    try:
        args = vllm_model_args(parse_model_args(model_args), cache_dir() / "merged")
    except FileNotFoundError as err:
        sys.exit(f"medinj-eval: {err}")
    if data_parallel and data_parallel > 1:
        args["data_parallel_size"] = data_parallel
    return ",".join(f"{k}={v}" for k, v in args.items())


def preflight(tasks: str, metadata: dict) -> tuple[list[str], dict]:
    """Build every requested medinj-eval task (loading and checking its data) before any model
    loads; return the requested names that are ours and the built tasks by name. Names of
    lm-eval's built-in tasks are left to lm-eval; other names are refused."""
    from lm_eval.tasks import TaskManager

    if not tasks:
        sys.exit("medinj-eval: --tasks is required (see `medinj-eval run --help`)")
    manager = TaskManager(include_path=str(tasks_dir()), include_defaults=False, metadata=metadata)
    names = [t for t in tasks.split(",") if t]
    ours = [t for t in names if t in manager.all_tasks]
    refuse_unknown_tasks([t for t in names if t not in ours], manager.all_tasks)
    return ours, (manager.load(ours)["tasks"] if ours else {})


def refuse_unknown_tasks(names: list[str], ours: list[str]) -> None:
    """Stop on a task name that neither medinj-eval nor lm-eval defines (nor a YAML file)."""
    import difflib
    import os

    names = [n for n in names if not os.path.exists(n)]
    if not names:
        return
    from lm_eval.tasks import TaskManager

    known = set(TaskManager().all_tasks)
    unknown = [n for n in names if n not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], ours, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        sys.exit(
            f"medinj-eval: unknown task(s) {', '.join(unknown)}: neither medinj-eval nor "
            f"lm-eval defines them{hint} (medinj-eval's tasks are in {tasks_dir()})"
        )


if __name__ == "__main__":
    main()
