"""``medinj-eval run``'s arguments, read once into :class:`RunOptions`.

The wrapper reads the ``lm_eval run`` options it acts on, in every spelling lm-eval accepts
(short flags, ``--flag=value``, several values after one flag), and passes every other
option through to lm-eval unchanged.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


@dataclass
class RunOptions:
    """What ``medinj-eval run`` was asked for; ``passthrough`` holds lm-eval's other options
    and ``argv`` the arguments as given (recorded in the run's state and manifest)."""

    tasks: list[str]
    model: str = "hf"
    model_args: str = ""
    metadata: dict = field(default_factory=dict)
    output_path: str = ""
    use_cache: str | None = None
    include_path: str | None = None
    limit: str | None = None
    seed: str | None = None
    device: str | None = None
    data_parallel: int | None = None
    passthrough: list[str] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)

    @property
    def output(self) -> Path:
        return Path(self.output_path)


def parse_run_options(args: list[str]) -> RunOptions:
    """The options of ``args``; ``pretrained=default`` resolved, ``--metadata`` parsed and the
    output folder defaulted to ``runs/<timestamp>``; a bad value stops in one line."""
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
    read, rest = parser.parse_known_args(args)
    output = read.output_path or str(Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    return RunOptions(
        tasks=[t for value in read.tasks for t in value.split(",") if t],
        model=read.model,
        model_args=_resolved(",".join(read.model_args)),
        metadata=parse_metadata(read.metadata),
        output_path=output,
        use_cache=read.use_cache,
        include_path=read.include_path,
        limit=read.limit,
        seed=read.seed,
        device=read.device,
        data_parallel=read.data_parallel,
        passthrough=rest,
        argv=list(args),
    )


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


def lm_eval_arguments(options: RunOptions, tasks_folder: str) -> list[str]:
    """lm_eval's arguments: the passed-through ones, then the read ones in one spelling, with
    the include path, samples logged, and a request cache of this model's own."""
    from medinj_eval.provenance import model_identity, request_cache_prefix
    from medinj_eval.task_runs import REQUEST_CACHE

    args, model_args = list(options.passthrough), options.model_args
    args += ["--model", options.model, "--output_path", options.output_path, "--log_samples"]
    args += ["--include_path", options.include_path or tasks_folder]
    if options.tasks:
        args += ["--tasks", ",".join(options.tasks)]
    if options.model == "vllm":
        model_args = _vllm_model_args(model_args, options.data_parallel)
    if model_args:
        args += ["--model_args", model_args]
    if options.metadata:
        args += ["--metadata", json.dumps(options.metadata, ensure_ascii=False)]
    for flag in ("limit", "seed", "device"):
        if getattr(options, flag) is not None:
            args += [f"--{flag}", getattr(options, flag)]
    folder = options.use_cache or str(options.output / REQUEST_CACHE)
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
