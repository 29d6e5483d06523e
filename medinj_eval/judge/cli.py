"""``medinj-eval judge``: arguments -> backend, prompt, cache -> :func:`runner.judge_run`."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from medinj_eval.judge.backends import IN_PROCESS
from medinj_eval.server_families import SERVER_FAMILIES


def add_backend_arguments(p: argparse.ArgumentParser) -> None:
    """The judge backend and call options, shared by ``judge`` and ``meta-eval``."""
    p.add_argument(
        "--base-url",
        action="extend",
        nargs="+",
        help="OpenAI-compatible server(s) serving one model, each request to the least busy "
        "(omit: judge in process)",
    )
    p.add_argument("--judge-model", default="default", help="model name (in process: a folder)")
    p.add_argument(
        "--server",
        choices=list(SERVER_FAMILIES),
        default="openai",
        help="server family: how structured output is asked for",
    )
    p.add_argument("--judge-revision", help="the served judge model's revision (its identity)")
    p.add_argument(
        "--judge-weights",
        help="the served judge model's weights file or folder, hashed for its identity",
    )
    p.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="environment variable holding the API key (never logged)",
    )
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight per server")
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
    p.add_argument("--out", type=Path, help="default: <run>/judge/<prompt or jury>/")
    p.add_argument(
        "--jury",
        type=Path,
        help="a judges file (judges, rule): every judge grades, their verdicts combined; "
        "replaces --prompt and the server options",
    )
    add_backend_arguments(p)
    return p


def make_config(args: argparse.Namespace, prompt_name: str, cache):
    """A JudgeConfig for one prompt from the command line's server options (each config gets
    its own backend: a pass closes its client)."""
    from medinj_eval.judge.panel import JudgeSpec

    spec = JudgeSpec(
        name="judge", prompt=prompt_name, server=args.base_url or IN_PROCESS,
        model=args.judge_model, family=args.server, revision=args.judge_revision,
        weights=args.judge_weights, api_key_env=args.api_key_env, concurrency=args.concurrency,
    )  # fmt: skip
    return config_for(spec, args, cache)


def config_for(spec, args: argparse.Namespace, cache):
    """The JudgeConfig of one judge (a :class:`~medinj_eval.judge.panel.JudgeSpec`); the call
    options (timeouts, tries, temperature) are the command line's."""
    from medinj_eval.judge.backends import backend_for
    from medinj_eval.judge.identity import judge_identity
    from medinj_eval.judge.prompts import load_prompt
    from medinj_eval.judge.retry import RetryPolicy
    from medinj_eval.judge.runner import JudgeConfig

    prompt = load_prompt(spec.prompt)
    backend = backend_for(
        spec.servers, spec.model, spec.family, spec.api_key_env, args.timeout, spec.concurrency
    )
    return JudgeConfig(
        prompt=prompt,
        backend=backend,
        identity=judge_identity(backend, prompt, spec.revision, spec.weights),
        cache=cache,
        concurrency=spec.concurrency * max(1, len(spec.servers)),
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

    if argv[:1] == ["audit"]:
        return audit_command(argv[1:])
    args = parser().parse_args(argv)
    if args.jury:
        return jury_command(args)
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


def audit_command(argv: list[str]) -> int:
    """``medinj-eval judge audit RUN``: the judge's score shifts under controlled variants."""
    from medinj_eval.judge.audit import audit_run

    p = argparse.ArgumentParser(
        prog="medinj-eval judge audit",
        description="Judge drawn answers and controlled variants of them (padded, hedged, "
        "authoritative, truncated, with the reference's first sentence); report the shifts.",
    )
    p.add_argument("source", type=Path, help="a run folder or one samples_*.jsonl file")
    p.add_argument("--prompt", default="medinjection-binary", help="shipped name or YAML path")
    p.add_argument("-n", "--answers", type=int, default=20, help="answers drawn (seeded)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap draws")
    p.add_argument("--out", type=Path, help="default: <run>/audit/<prompt>/")
    add_backend_arguments(p)
    args = p.parse_args(argv)
    cache = open_cache(args)
    try:
        result = audit_run(
            args.source, make_config(args, args.prompt, cache), args.answers, args.seed,
            args.resamples, args.out,
        )  # fmt: skip
    finally:
        cache.close()
    print(f"judge audit {result['prompt']}: {result['n_answers']} answers, shift per variant")
    for name, row in result["perturbations"].items():
        if row["n"]:
            print(
                f"  {name}: {row['mean_shift']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"
                f", p {row['p_t']:.3g}, {100 * row['changed']:.0f}% changed (n {row['n']})"
            )
    print(f"variants, verdicts and report: {result['out']}")
    return 0


def jury_command(args: argparse.Namespace) -> int:
    """Judge a run with every judge of ``--jury``; 0 when every item has the jury's verdict."""
    from medinj_eval.judge.jury import judge_with_jury
    from medinj_eval.judge.panel import load_panel

    panel = load_panel(args.jury)
    cache = open_cache(args)
    try:
        summary = judge_with_jury(
            args.source, panel, args.jury.stem, lambda spec: config_for(spec, args, cache), args.out
        )
    finally:
        cache.close()
    settings = summary["settings"]
    alpha = summary["krippendorff_alpha"]
    print(
        f"jury {settings['jury']} ({len(panel.judges)} judges, rule {settings['rule']}): "
        f"Krippendorff's alpha {'n/a' if alpha is None else f'{alpha:.3f}'}"
    )
    incomplete = 0
    for task, agg in summary["tasks"].items():
        mean = "n/a" if agg["mean"] is None else f"{agg['mean']:.4f}"
        print(f"  {task}: mean {mean}, judged {agg['n_judged']}, incomplete {agg['n_incomplete']}")
        incomplete += agg["n_incomplete"]
    print(f"records and summary: {summary['out']} (each judge's under members/)")
    if incomplete:
        print(
            f"medinj-eval judge: {incomplete} item(s) lack a judge's verdict and have no jury "
            "verdict (the same command retries the failed ones)",
            file=sys.stderr,
        )
        return INCOMPLETE
    return 0


def incomplete_message(failed: int, unparsable: int) -> str:
    hints = []
    if failed:
        hints.append(f"{failed} failed (the same command retries them)")
    if unparsable:
        hints.append(f"{unparsable} unparsable (add --retry-unparsable to ask again)")
    return f"medinj-eval judge: not every record has a verdict: {'; '.join(hints)}"
