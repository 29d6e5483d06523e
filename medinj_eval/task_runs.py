"""``medinj-eval run`` as a resumable job: lm-eval one task at a time, then the whole run.

lm-eval evaluates every task of a run together and writes results only at the very end, so
a killed run keeps nothing. Here the model is loaded once, then each leaf task is evaluated
on its own through lm-eval's request cache (``<out>/requests/`` unless ``--use_cache`` says
otherwise; each request is committed as it is computed), and its results and samples are
kept under ``<out>/tasks/<task>/`` as soon as it ends, with a fingerprint of what decided
them. A last pass over all requested tasks finds every request in the cache and writes
lm-eval's own results and samples files, groups aggregated as lm-eval aggregates them.

Started again with the same arguments and output folder, a run skips every kept task whose
fingerprint (model, adapter, settings, task configuration and documents) still holds, and
the unfinished task reuses its finished requests from the cache. ``<out>/run.json`` holds
the run's identity and arguments (``--resume RUN`` reads them back); a folder holding
another run's identity is refused rather than mixed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medinj_eval.atomic import write_atomic
from medinj_eval.hashing import json_sha256
from medinj_eval.runs import RunError

RUN_STATE = "run.json"
KEPT_TASKS = "tasks"
REQUEST_CACHE = "requests"
TASK_FINGERPRINT = "task.json"


class RunStateError(RunError):
    """An output folder that cannot be resumed as asked."""


@dataclass
class KeptTask:
    """The folder of one finished task of a run."""

    folder: Path

    @property
    def fingerprint_file(self) -> Path:
        return self.folder / TASK_FINGERPRINT

    def fingerprint(self) -> str | None:
        if not self.fingerprint_file.is_file():
            return None
        try:
            return json.loads(self.fingerprint_file.read_text(encoding="utf-8"))["fingerprint"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return None  # a damaged marker: the task is evaluated again

    def keep(self, results: dict[str, Any], samples: list[dict[str, Any]], fingerprint: str):
        """Results, then samples, then the fingerprint (the marker that the task is done),
        each replaced in one rename."""
        from lm_eval.utils import handle_non_serializable

        def dump(value: Any) -> str:
            return json.dumps(value, default=handle_non_serializable, ensure_ascii=False)

        write_atomic(self.folder / "results.json", dump(results))
        write_atomic(self.folder / "samples.jsonl", "".join(dump(s) + "\n" for s in samples))
        write_atomic(self.fingerprint_file, dump({"fingerprint": fingerprint}))


def settings_identity(cfg: Any, model_identity: dict[str, Any]) -> dict[str, Any]:
    """Everything besides a task's own configuration that decides its outputs."""
    return {
        "model": model_identity,
        "tasks": list(cfg.tasks),
        "num_fewshot": cfg.num_fewshot,
        "limit": cfg.limit,
        "samples": cfg.samples,
        "gen_kwargs": cfg.gen_kwargs,
        "apply_chat_template": cfg.apply_chat_template,
        "fewshot_as_multiturn": cfg.fewshot_as_multiturn,
        "system_instruction": cfg.system_instruction,
        "seed": cfg.seed,
        "metadata": cfg.metadata,
        "predict_only": cfg.predict_only,
    }


def _stable(value: Any) -> str:
    """A function in a task's configuration by its qualified name (its repr holds an address
    that changes with every process)."""
    name = getattr(value, "__qualname__", None)
    return f"{getattr(value, '__module__', '')}.{name}" if name else str(value)


def task_fingerprint(task: Any, settings: dict[str, Any]) -> str:
    """sha256 of the run's settings, the task's configuration and its documents."""
    docs = task.eval_docs
    return json_sha256(
        {
            "settings": json.loads(json.dumps(settings, default=_stable, sort_keys=True)),
            "config": json.dumps(task.dump_config(), default=_stable, sort_keys=True),
            "docs": json.dumps(list(docs), default=_stable, sort_keys=True, ensure_ascii=False),
        }
    )


def check_run_state(output: Path, settings: dict[str, Any], argv: list[str]) -> bool:
    """Record the run's identity in ``<out>/run.json``; refuse a folder holding another
    run's. True when this run already finished (its results file written)."""
    path = output / RUN_STATE
    identity = json_sha256(settings)
    if path.is_file():
        state = read_run_state(output)
        if state.get("identity") != identity:
            changed = ", ".join(differences(state, settings))
            raise RunStateError(
                f"{output} holds a run with other settings ({changed}); give a new "
                "--output_path, or --resume it with its own arguments"
            )
        return bool(state.get("results_file"))
    state = {"identity": identity, "settings": settings, "argv": argv, "results_file": None}
    write_atomic(path, json.dumps(state, indent=2, ensure_ascii=False, default=str))
    return False


def differences(state: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    before = json.loads(json.dumps(state.get("settings") or {}, default=str))
    now = json.loads(json.dumps(settings, default=str))
    return [k for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)] or [
        "identity"
    ]


def read_run_state(output: Path) -> dict[str, Any]:
    """``<out>/run.json``: the run's identity, settings and arguments."""
    path = output / RUN_STATE
    if not path.is_file():
        raise RunStateError(f"{output}: no {RUN_STATE} (not a medinj-eval run folder to resume)")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RunStateError(f"{path}: invalid JSON ({err.msg})") from err
    if not isinstance(state, dict) or "argv" not in state:
        raise RunStateError(f"{path}: field 'argv' missing")
    return state


def mark_finished(output: Path, results_file: Path) -> None:
    state = read_run_state(output)
    state["results_file"] = str(results_file.relative_to(output))
    write_atomic(output / RUN_STATE, json.dumps(state, indent=2, ensure_ascii=False, default=str))


def leaf_tasks(loaded: dict[str, Any]) -> dict[str, Any]:
    """name -> Task of every task lm-eval will evaluate (groups left out), in its order."""
    from lm_eval.api.task import Task

    return {name: task for name, task in loaded["tasks"].items() if isinstance(task, Task)}


def make_lm(cfg: Any):
    """The model, loaded once for every pass."""
    from lm_eval.api.registry import get_model

    extra = {
        "batch_size": cfg.batch_size,
        "max_batch_size": cfg.max_batch_size,
        "device": cfg.device,
    }
    factory = get_model(cfg.model)
    if isinstance(cfg.model_args, dict):
        return factory.create_from_arg_obj(cfg.model_args, extra)
    return factory.create_from_arg_string(cfg.model_args or "", extra)


def evaluate_pass(cfg: Any, lm: Any, tasks: list, manager: Any, tracker: Any = None):
    """One ``simple_evaluate`` over ``tasks`` (names, or the Task objects already built) with
    the run's settings and request cache."""
    from lm_eval import simple_evaluate

    seeds = cfg.seed or [None] * 4
    return simple_evaluate(
        model=lm,
        model_args=cfg.model_args,
        tasks=tasks,
        num_fewshot=cfg.num_fewshot,
        batch_size=cfg.batch_size,
        max_batch_size=cfg.max_batch_size,
        device=cfg.device,
        use_cache=cfg.use_cache,
        limit=cfg.limit,
        samples=cfg.samples,
        check_integrity=cfg.check_integrity,
        write_out=cfg.write_out,
        log_samples=True,
        evaluation_tracker=tracker,
        system_instruction=cfg.system_instruction,
        apply_chat_template=cfg.apply_chat_template,
        fewshot_as_multiturn=cfg.fewshot_as_multiturn,
        gen_kwargs=cfg.gen_kwargs,
        task_manager=manager,
        verbosity=cfg.verbosity,
        predict_only=cfg.predict_only,
        random_seed=seeds[0],
        numpy_random_seed=seeds[1],
        torch_random_seed=seeds[2],
        fewshot_random_seed=seeds[3],
        confirm_run_unsafe_code=cfg.confirm_run_unsafe_code,
        metadata=cfg.metadata,
    )


def run_tasks(
    cfg: Any, output: Path, settings: dict[str, Any], manager: Any, log=print
) -> Path | None:
    """Every unfinished leaf task, kept as it ends, then the whole run written by lm-eval;
    the results file (None on ranks other than the first). ``manager`` builds each task
    once: the passes and the last pass evaluate the objects the run's check built."""
    leaves = leaf_tasks(manager.load(cfg.tasks))
    # every rank decides from the same files, before any of them writes one
    todo = {}
    for name, task in leaves.items():
        fingerprint = task_fingerprint(task, settings)
        if KeptTask(output / KEPT_TASKS / name).fingerprint() != fingerprint:
            todo[name] = fingerprint
    for name in leaves:
        if name not in todo:
            log(f"medinj-eval: task {name} finished earlier: kept, not evaluated again")
    lm = make_lm(cfg)
    units = pass_units({n: leaves[n] for n in todo}, cfg.limit, batch_items(cfg.batch_size))
    done = 0
    for unit in units:
        done += len(unit)
        log(f"medinj-eval: task(s) {done - len(unit) + 1}-{done}/{len(todo)}: {', '.join(unit)}")
        results = evaluate_pass(cfg, lm, [leaves[n] for n in unit], manager)
        if results is None:
            continue
        samples = results.pop("samples", {})
        for name in unit:
            KeptTask(output / KEPT_TASKS / name).keep(
                task_part(results, name), samples.get(name, []), todo[name]
            )
    log(f"medinj-eval: all {len(leaves)} task(s) done; writing the run's results")
    return write_run(cfg, lm, manager, output)


def batch_items(batch_size: Any) -> int:
    """Items that fill one batch of the model (64 when the batch size is ``auto``)."""
    try:
        return max(1, int(str(batch_size).partition(":")[0]))
    except ValueError:
        return 64


def n_items(task: Any, limit: float | None) -> int:
    """How many documents lm-eval will evaluate of ``task`` under ``--limit``."""
    n = len(task.eval_docs)
    if limit is None:
        return n
    return min(n, math.ceil(n * limit) if limit < 1 else int(limit))


def pass_units(tasks: dict[str, Any], limit: float | None, batch: int) -> list[list[str]]:
    """The tasks in lm-eval's order, cut into passes: a task alone, unless it holds fewer
    items than a batch; then the next tasks of the same output type join its pass until
    the batch is full, so that small tasks do not leave the model's batches half empty."""
    units: list[list[str]] = []
    items, kind = 0, None
    for name, task in tasks.items():
        output_type = task.get_config("output_type")
        if not units or items >= batch or output_type != kind:
            units.append([])
            items, kind = 0, output_type
        units[-1].append(name)
        items += n_items(task, limit)
    return units


TASK_KEYED = ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples")


def task_part(results: dict[str, Any], name: str) -> dict[str, Any]:
    """lm-eval's results of a pass, narrowed to one task."""
    part = {k: v for k, v in results.items() if k not in TASK_KEYED and k != "groups"}
    for key in TASK_KEYED:
        if name in (results.get(key) or {}):
            part[key] = {name: results[key][name]}
    return part


def write_run(cfg: Any, lm: Any, manager: Any, output: Path) -> Path | None:
    """The pass over every requested task (all its requests in the cache), saved as
    ``lm_eval run`` saves it."""
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.utils import make_table

    tracker = EvaluationTracker(**{**cfg.hf_hub_log_args, "output_path": str(output)})
    results = evaluate_pass(cfg, lm, list(cfg.tasks), manager, tracker)
    if results is None:
        return None
    results["config"]["model"] = cfg.model  # simple_evaluate names a passed model by class
    tracker.general_config_tracker.model_source = cfg.model
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for task_name in results["configs"]:
        tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    print(make_table(results))
    if "groups" in results:
        print(make_table(results, "groups"))
    folder = output / tracker.general_config_tracker.model_name_sanitized
    return folder / f"results_{tracker.date_id}.json"
