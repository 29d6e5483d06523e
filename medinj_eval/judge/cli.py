"""``medinj-eval judge``: arguments -> backend, prompt, cache -> :func:`runner.judge_run`."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from medinj_eval.server_families import SERVER_FAMILIES


def add_backend_arguments(p: argparse.ArgumentParser) -> None:
    """The judge backend and call options, shared by ``judge`` and ``meta-eval``."""
    p.add_argument("--base-url", help="OpenAI-compatible server (omit: judge in process)")
    p.add_argument("--judge-model", default="default", help="model name (in process: a folder)")
    p.add_argument(
        "--server",
        choices=list(SERVER_FAMILIES),
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
    p.add_argument(
        "--retry-unparsable",
        action="store_true",
        help="ask again for the kept replies that gave no verdict (nothing else is re-sent)",
    )
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
        retry_unparsable=args.retry_unparsable,
    )


def open_cache(args: argparse.Namespace):
    from medinj_eval.judge import JudgeError
    from medinj_eval.judge.cache import ReplyCache
    from medinj_eval.paths import cache_dir

    path = args.cache or cache_dir() / "judge-cache.sqlite"
    try:
        return ReplyCache(path)
    except (OSError, sqlite3.Error) as err:
        raise JudgeError(f"--cache {path}: cannot open the judge cache there ({err})") from err


INCOMPLETE = 3  # records written, some of them failed or unparsable


def judge_command(argv: list[str]) -> int:
    """Judge a run; 0 when every record has a verdict, :data:`INCOMPLETE` otherwise."""
    from medinj_eval.judge.runner import judge_run

    args = parser().parse_args(argv)
    cache = open_cache(args)
    try:
        config = make_config(args, args.prompt, cache)
        summary = judge_run(args.source, config, args.out)
    finally:
        cache.close()
    settings = summary["settings"]
    print(
        f"judge {config.prompt.name} ({settings['judge_model']}): {settings['calls_made']} "
        f"call(s), {settings['replies_from_cache']} reply(ies) from the cache"
    )
    failed = unparsable = 0
    for task, agg in summary["tasks"].items():
        mean = "n/a" if agg["mean"] is None else f"{agg['mean']:.4f}"
        print(
            f"  {task}: mean {mean}, judged {agg['n_judged']}, failed {agg['n_failed']}, "
            f"unparsable {agg['n_unparsable']}"
        )
        failed, unparsable = failed + agg["n_failed"], unparsable + agg["n_unparsable"]
    print(f"records and summary: {summary['out']}")
    if failed or unparsable:
        print(incomplete_message(failed, unparsable), file=sys.stderr)
        return INCOMPLETE
    return 0


def incomplete_message(failed: int, unparsable: int) -> str:
    hints = []
    if failed:
        hints.append(f"{failed} failed (the same command retries them)")
    if unparsable:
        hints.append(f"{unparsable} unparsable (add --retry-unparsable to ask again)")
    return f"medinj-eval judge: not every record has a verdict: {'; '.join(hints)}"
