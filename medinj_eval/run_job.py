"""One evaluation run, from parsed options to the results file and its manifest.

Every requested medinj-eval task is built once, its data loaded and checked, before any
model loads; the run's passes and its last pass evaluate those same task objects
(:func:`medinj_eval.lm_eval_internals.built_once_task_manager`), and the manifest lists
the data files those tasks read.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medinj_eval.paths import tasks_dir
from medinj_eval.run_options import RunOptions, lm_eval_arguments


@dataclass
class CheckedTasks:
    """The requested tasks after the data check: medinj-eval's own, built, the manager that
    built them (lm-eval's built-in tasks are left to it), and every data file and hub
    dataset their building read, with its sha256."""

    ours: list[str]
    loaded: dict[str, Any]
    manager: Any
    data_files: list[dict[str, str]]


def check_tasks(options: RunOptions) -> CheckedTasks:
    """Build every requested medinj-eval task (loading and checking its data) before any model
    loads. Names of lm-eval's built-in tasks are left to lm-eval; other names are refused."""
    from medinj_eval.data.files import recording_reads
    from medinj_eval.lm_eval_internals import built_once_task_manager

    if not options.tasks:
        sys.exit("medinj-eval: --tasks is required (see `medinj-eval run --help`)")
    folder = options.include_path or str(tasks_dir())
    manager = built_once_task_manager(
        include_path=folder, include_defaults=False, metadata=options.metadata
    )
    ours = [t for t in options.tasks if t in manager.all_tasks]
    others = [t for t in options.tasks if t not in ours]
    refuse_unknown_tasks(others, manager.all_tasks)
    if others:  # lm-eval's own tasks: the same manager must index them too
        manager = built_once_task_manager(include_path=folder, metadata=options.metadata)
    with recording_reads() as reads:
        loaded = manager.load(ours)["tasks"] if ours else {}
    return CheckedTasks(ours, loaded, manager, [reads[k] for k in sorted(reads)])


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


def refuse_bad_arguments(options: RunOptions) -> None:
    """Stop, after the data checks and before any model loads, on a limit, a process count
    or a local model or adapter folder that cannot work."""
    from medinj_eval.run_inputs import argument_problems

    problems = argument_problems(options.limit, options.data_parallel, options.model_args)
    if problems:
        sys.exit(f"medinj-eval: {problems[0]}")


def check_backend(options: RunOptions, loaded: dict[str, Any]) -> None:
    """Refuse, before any model loads, a backend that cannot run the requested tasks."""
    from medinj_eval.models.constraint_support import (
        can_constrain_name,
        constrained_tasks,
        refusal,
    )
    from medinj_eval.provenance import parse_model_args
    from medinj_eval.server_families import letter_families, server_family

    model = options.model
    if model == "vllm":
        from medinj_eval.models.vllm_backend import INSTALL_HINT, vllm_available

        if not vllm_available():
            sys.exit(f"medinj-eval: {INSTALL_HINT}")
    constrained = constrained_tasks(loaded)
    server = parse_model_args(options.model_args).get("server", "vllm")
    if model == "medinj-api":
        try:
            server_family(server)
        except ValueError as err:
            sys.exit(f"medinj-eval: medinj-api {err}")
        if server not in letter_families():
            model = f"medinj-api (server={server})"
    if constrained and not can_constrain_name(model):
        sys.exit(refusal(constrained[0], model))


def register_backend(model: str) -> None:
    """Import the module that registers a medinj-eval backend (``medinj-api`` needs lm-eval's
    API extra, so it is imported only when asked for)."""
    import medinj_eval.models.medinj_hf  # noqa: F401  registers --model medinj-hf

    if model == "medinj-api":
        import medinj_eval.models.medinj_api  # noqa: F401


def is_main_rank() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def evaluate_run(options: RunOptions) -> Path | None:
    """Check, evaluate (resumably), write the manifest; the results file, or None when the
    run had finished before, ran on several processes, or on ranks other than the first."""
    started = time.monotonic()
    checked = check_tasks(options)
    refuse_bad_arguments(options)
    check_backend(options, checked.loaded)
    if (options.data_parallel or 1) > 1 and options.model != "vllm":  # vllm: data_parallel_size
        from medinj_eval.data_parallel import launch

        status = launch(options, options.argv)
        if status:
            sys.exit(status)
        return None
    results_file = run_resumable(options, checked)
    if results_file is None or not is_main_rank():
        return None
    manifest = write_run_manifest(results_file, options, checked.data_files)
    elapsed = time.monotonic() - started
    print(f"medinj-eval: finished in {elapsed:.1f} s; outputs in {options.output}")
    print(f"medinj-eval: run manifest {manifest}")
    return results_file


def run_resumable(options: RunOptions, checked: CheckedTasks) -> Path | None:
    """Each task kept as it ends, finished tasks of an earlier start skipped (see
    :mod:`medinj_eval.task_runs`); the results file lm-eval wrote, None when the run had
    finished before or on ranks other than the first."""
    from medinj_eval.lm_eval_internals import install, run_arguments
    from medinj_eval.provenance import model_identity
    from medinj_eval.task_runs import check_run_state, mark_finished, run_tasks, settings_identity

    register_backend(options.model)
    install()
    args = lm_eval_arguments(options, str(tasks_dir()))
    cfg = run_arguments(args)
    cfg.tasks = list(options.tasks)
    if "--model_args" in args:  # recorded in the results as given, not as lm-eval's dict
        cfg.model_args = args[args.index("--model_args") + 1]
    settings = settings_identity(cfg, model_identity(options.model, cfg.model_args))
    argv = [*options.argv, "--output_path", options.output_path]
    if check_run_state(options.output, settings, argv):
        print(f"medinj-eval: {options.output} already holds this finished run; nothing to do")
        return None
    found = run_tasks(cfg, options.output, settings, checked.manager)
    if found is not None:
        mark_finished(options.output, found)
    return found


def write_run_manifest(
    results_file: Path, options: RunOptions, data_files: list[dict[str, str]]
) -> Path:
    """``manifest.json`` beside the run's results file, listing the data the tasks read."""
    from medinj_eval.provenance import build_manifest, write_manifest

    manifest = build_manifest(
        results_file=results_file,
        model=options.model,
        model_args=options.model_args,
        data_files=data_files,
        seeds=options.seed or "0,1234,1234,1234",
        device=options.device,
        argv=["run", *options.argv],
        limit=options.limit,
    )
    return write_manifest(manifest, results_file.parent)
