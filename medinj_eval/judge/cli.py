"""``medinj-eval judge``: arguments -> backend, prompt, cache -> :func:`runner.judge_run`."""

from __future__ import annotations

import argparse
from pathlib import Path

from medinj_eval.judge.backends import SERVER_FAMILIES


def add_backend_arguments(p: argparse.ArgumentParser) -> None:
    """The judge backend and call options, shared by ``judge`` and ``meta-eval``."""
    p.add_argument("--base-url", help="OpenAI-compatible server (omit: judge in process)")
    p.add_argument("--judge-model", default="default", help="model name (in process: a folder)")
    p.add_argument(
        "--server",
        choices=SERVER_FAMILIES,
        default="openai",
        help="server family: how structured output is asked for",
    )
    p.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="environment variable holding the API key (never logged)",
    )
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    p.add_argument("--max-attempts", type=int, default=6, help="tries per request")
    p.add_argument(
        "--max-wait",
        type=float,
        default=300.0,
        help="seconds without any reply from the server before the run stops (resumable)",
    )
    p.add_argument("--cache", type=Path, help="SQLite file (default: <cache>/judge-cache.sqlite)")
    p.add_argument("--no-progress", action="store_true")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="medinj-eval judge",
        description="Judge the open-ended answers of an lm-eval run (--log_samples output).",
    )
    p.add_argument("source", type=Path, help="a run folder or one samples_*.jsonl file")
    p.add_argument("--prompt", default="medinjection-binary", help="shipped name or YAML path")
    p.add_argument("--out", type=Path, help="default: <run>/judge/<prompt>/")
    add_backend_arguments(p)
    return p


def make_backend(args: argparse.Namespace):
    """The OpenAI-compatible client for ``--base-url``, else the in-process model."""
    from medinj_eval.judge.backends import OpenAIBackend, TransformersBackend, api_key

    if args.base_url:
        key = api_key(args.api_key_env)
        return OpenAIBackend(args.base_url, args.judge_model, key, args.server, args.timeout)
    return TransformersBackend(args.judge_model)


def make_config(args: argparse.Namespace, prompt_name: str, cache):
    """A JudgeConfig for one prompt (each gets its own backend: a pass closes its client)."""
    from medinj_eval.judge.prompts import load_prompt
    from medinj_eval.judge.retry import RetryPolicy
    from medinj_eval.judge.runner import JudgeConfig

    return JudgeConfig(
        prompt=load_prompt(prompt_name),
        backend=make_backend(args),
        cache=cache,
        concurrency=args.concurrency,
        temperature=args.temperature,
        policy=RetryPolicy(attempts=args.max_attempts, max_wait=args.max_wait),
        progress=not args.no_progress,
    )


def open_cache(args: argparse.Namespace):
    from medinj_eval.judge.cache import ReplyCache
    from medinj_eval.paths import cache_dir

    return ReplyCache(args.cache or cache_dir() / "judge-cache.sqlite")


def judge_command(argv: list[str]) -> None:
    from medinj_eval.judge.runner import judge_run

    args = parser().parse_args(argv)
    cache = open_cache(args)
    config = make_config(args, args.prompt, cache)
    prompt = config.prompt
    try:
        summary = judge_run(args.source, config, args.out)
    finally:
        cache.close()
    settings = summary["settings"]
    print(
        f"judge {prompt.name} ({settings['judge_model']}): {settings['calls_made']} call(s), "
        f"{settings['replies_from_cache']} reply(ies) from the cache"
    )
    for task, agg in summary["tasks"].items():
        mean = "n/a" if agg["mean"] is None else f"{agg['mean']:.4f}"
        print(f"  {task}: mean {mean}, judged {agg['n_judged']}, missing {agg['n_missing']}")
    print(f"records and summary: {summary['out']}")
