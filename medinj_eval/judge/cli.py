"""``medinj-eval judge``: arguments -> backend, prompt, cache -> :func:`runner.judge_run`."""

from __future__ import annotations

import argparse
from pathlib import Path

from medinj_eval.judge.backends import SERVER_FAMILIES


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="medinj-eval judge",
        description="Judge the open-ended answers of an lm-eval run (--log_samples output).",
    )
    p.add_argument("source", type=Path, help="a run folder or one samples_*.jsonl file")
    p.add_argument("--prompt", default="medinjection-binary", help="shipped name or YAML path")
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
    p.add_argument("--max-consecutive-failures", type=int, default=5)
    p.add_argument("--cache", type=Path, help="SQLite file (default: <cache>/judge-cache.sqlite)")
    p.add_argument("--out", type=Path, help="default: <run>/judge/<prompt>/")
    p.add_argument("--no-progress", action="store_true")
    return p


def make_backend(args: argparse.Namespace):
    """The OpenAI-compatible client for ``--base-url``, else the in-process model."""
    from medinj_eval.judge.backends import OpenAIBackend, TransformersBackend, api_key

    if args.base_url:
        key = api_key(args.api_key_env)
        return OpenAIBackend(args.base_url, args.judge_model, key, args.server, args.timeout)
    return TransformersBackend(args.judge_model)


def judge_command(argv: list[str]) -> None:
    from medinj_eval.judge.cache import ReplyCache
    from medinj_eval.judge.prompts import load_prompt
    from medinj_eval.judge.retry import RetryPolicy
    from medinj_eval.judge.runner import JudgeConfig, judge_run
    from medinj_eval.paths import cache_dir

    args = parser().parse_args(argv)
    prompt = load_prompt(args.prompt)
    cache = ReplyCache(args.cache or cache_dir() / "judge-cache.sqlite")
    config = JudgeConfig(
        prompt=prompt,
        backend=make_backend(args),
        cache=cache,
        concurrency=args.concurrency,
        temperature=args.temperature,
        policy=RetryPolicy(max_consecutive_failures=args.max_consecutive_failures),
        progress=not args.no_progress,
    )
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
