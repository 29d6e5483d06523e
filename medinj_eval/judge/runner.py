"""Judge every open-ended sample of a run: cached, bounded, retried, resumable.

Flow: samples -> rendered messages (one request per sample and run) -> replies from the
cache or the backend (at most ``concurrency`` in flight) -> parsed verdicts -> one record
per sample (``<out>/<task>.jsonl``) and a summary (``<out>/summary.json``), all under
``<run>/judge/<prompt>/``: lm-eval's own files are never rewritten. Every reply is committed
to the cache when it arrives, and output files are replaced atomically: a killed run loses
nothing, and the same command resumes it.

A request ends in one of three ways: judged (a reply that parses into a verdict), failed
(no usable reply after its tries: a rerun retries it), or unparsable (replies that never
parsed after its tries: kept, and re-asked by a rerun with ``retry_unparsable``). A reply
that does not parse is asked again within the same tries, so a garbled reply from a flaky
server is never a final verdict.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from medinj_eval.atomic import write_atomic
from medinj_eval.hashing import json_sha256
from medinj_eval.judge import JudgeError
from medinj_eval.judge.aggregate import summarize
from medinj_eval.judge.backends import Reply, sampling_params
from medinj_eval.judge.cache import ReplyCache, cache_key
from medinj_eval.judge.prompts import JudgePrompt
from medinj_eval.judge.retry import (
    CONNECTION,
    FATAL,
    INVALID,
    RetryPolicy,
    classify,
    describe,
    retry_after_seconds,
)
from medinj_eval.judge.verdicts import Verdict, combine_runs, parse_verdict
from medinj_eval.runs import Sample, open_ended_samples, sample_files, task_and_stamp

FAILED = "failed"


class JudgeAborted(JudgeError):
    """Too many connection failures in a row: the server is gone."""


@dataclass
class JudgeConfig:
    """Everything one judge pass needs besides its samples."""

    prompt: JudgePrompt
    backend: Any
    cache: ReplyCache
    concurrency: int = 16
    temperature: float = 0.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    seed: int = 0
    progress: bool = True
    retry_unparsable: bool = False
    identity: dict[str, Any] | None = None  # judge.identity.judge_identity


@dataclass
class Outcome:
    reply: Reply | None = None
    error: str | None = None
    attempts: int = 1


@dataclass
class Request:
    sample: int
    messages: list[dict[str, str]]
    params: dict[str, Any]
    key: str


@dataclass
class Counters:
    calls: int = 0
    cached: int = 0
    reasked: int = 0
    consecutive_connection_failures: int = 0
    last_reply: float = field(default_factory=time.monotonic)

    def waited(self) -> float:
        """Seconds since the last reply of the server (or since the run began)."""
        return time.monotonic() - self.last_reply


def build_requests(samples: list[Sample], config: JudgeConfig) -> list[Request]:
    """One request per sample and run; the run index is the request seed."""
    requests = []
    model = config.backend.model
    for i, sample in enumerate(samples):
        messages = config.prompt.render(sample.variables())
        for run in range(config.prompt.runs):
            params = sampling_params(config.backend.family, config.prompt, config.temperature, run)
            requests.append(Request(i, messages, params, cache_key(model, messages, params)))
    return requests


async def _call(request: Request, config: JudgeConfig, counters: Counters, rng) -> Outcome:
    """The reply to one request. Connection failures are retried with backoff until the
    server has been silent for ``max_wait`` seconds; every other retryable error and every
    reply that parses into no verdict uses one of ``attempts`` tries."""
    policy, backend = config.policy, config.backend
    attempts = policy.attempts if backend.retries else 1
    tries, waits = 0, 0
    while True:
        counters.calls += 1
        try:
            reply = await backend.complete(request.messages, request.params)
        except Exception as err:  # noqa: BLE001  classified below; unknown ones are fatal
            kind = classify(err)
            if kind == FATAL:
                raise JudgeError(f"judge backend {backend.base_url}: {err}") from err
            if kind == INVALID:
                return Outcome(error=f"rejected by the server: {describe(err)}", attempts=tries + 1)
            if kind == CONNECTION and backend.retries:
                counters.consecutive_connection_failures += 1
                if counters.waited() >= policy.max_wait:
                    raise JudgeAborted(_abort_message(backend, counters, config)) from err
                delay = policy.delay(waits, None, rng)
            else:
                tries += 1
                if tries >= attempts:
                    reason = describe(err, backend.timeout)
                    return Outcome(error=f"failed after {tries} tries: {reason}", attempts=tries)
                delay = policy.delay(tries - 1, retry_after_seconds(err), rng)
            waits += 1
            await asyncio.sleep(delay)
            continue
        counters.consecutive_connection_failures = 0
        counters.last_reply = time.monotonic()
        tries += 1
        if _unparsable(reply.text, config) and tries < attempts:
            await asyncio.sleep(policy.delay(tries - 1, None, rng))
            continue
        config.cache.put(request.key, backend.model, reply.text, reply.finish_reason, tries)
        return Outcome(reply, attempts=tries)


def _abort_message(backend: Any, counters: Counters, config: JudgeConfig) -> str:
    return (
        f"judge server {backend.base_url} unreachable: no reply for {counters.waited():.0f} s "
        f"(--max-wait {config.policy.max_wait:g}), "
        f"{counters.consecutive_connection_failures} connection failures in a row. "
        f"{len(config.cache)} verdict(s) are kept in {config.cache.path}; "
        "run the same command again to resume."
    )


async def obtain_replies(
    requests: list[Request], config: JudgeConfig
) -> tuple[list[Outcome], Counters]:
    """Cached replies, then the missing ones from the backend, ``concurrency`` at a time;
    identical requests (two tasks sharing items) are sent once and count as cached."""
    counters = Counters()
    outcomes: list[Outcome | None] = [None] * len(requests)
    todo: list[int] = []
    copies: dict[int, list[int]] = {}  # first request -> later requests with its key
    first: dict[str, int] = {}
    for i, request in enumerate(requests):
        hit = config.cache.get(request.key)
        if hit is not None and config.retry_unparsable and _unparsable(hit[0], config):
            hit = None
            counters.reasked += 1
        if hit is not None:
            outcomes[i] = Outcome(Reply(hit[0], hit[1]), attempts=hit[2])
            counters.cached += 1
        elif request.key in first:
            copies[first[request.key]].append(i)
            counters.cached += 1
        else:
            first[request.key] = i
            copies[i] = []
            todo.append(i)
    semaphore = asyncio.Semaphore(max(1, config.concurrency))
    rng = random.Random(config.seed)
    bar = tqdm(
        total=len(todo), desc=f"judge {config.prompt.name}", disable=not config.progress or not todo
    )

    async def one(i: int) -> None:
        async with semaphore:
            outcomes[i] = await _call(requests[i], config, counters, rng)
            for j in copies[i]:
                outcomes[j] = outcomes[i]
            bar.update(1)

    tasks = [asyncio.create_task(one(i)) for i in todo]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        bar.close()
        await config.backend.close()
    return [o or Outcome(error="not attempted") for o in outcomes], counters


def _unparsable(text: str, config: JudgeConfig) -> bool:
    return parse_verdict(text, config.prompt.verdict).score is None


def judge_samples(
    samples: list[Sample], config: JudgeConfig
) -> tuple[list[dict[str, Any]], Counters]:
    """One record per sample (score None when missing, status, raw replies, provenance),
    and the call counters."""
    requests = build_requests(samples, config)
    outcomes, counters = asyncio.run(obtain_replies(requests, config))
    by_sample: dict[int, list[tuple[Request, Outcome]]] = {}
    for request, outcome in zip(requests, outcomes):
        by_sample.setdefault(request.sample, []).append((request, outcome))
    records = [_record(samples[i], pairs, config) for i, pairs in sorted(by_sample.items())]
    return records, counters


def _record(sample: Sample, pairs: list[tuple[Request, Outcome]], config: JudgeConfig) -> dict:
    errors = [o.error for _, o in pairs if o.error]
    if errors:
        verdict = Verdict(None, f"{FAILED}: {errors[0]}")
    else:
        verdict = combine_runs(
            [parse_verdict(o.reply.text, config.prompt.verdict) for _, o in pairs]
        )
    messages = pairs[0][0].messages
    return {
        "task": sample.task,
        "doc_id": sample.doc_id,
        "doc_hash": sample.doc_hash,
        "question_type": sample.question_type,
        "score": verdict.score,
        "dimensions": verdict.dimensions,
        "status": verdict.status,
        "raw": [o.reply.text if o.reply else None for _, o in pairs],
        "finish_reasons": [o.reply.finish_reason if o.reply else None for _, o in pairs],
        "attempts": [o.attempts for _, o in pairs],
        "judge_model": config.backend.model,
        "judge_id": (config.identity or {}).get("id"),
        "prompt": config.prompt.name,
        "prompt_sha256": json_sha256(messages),
        "template_sha256": config.prompt.sha256(),
    }


def judge_run(source: Path, config: JudgeConfig, out: Path | None = None) -> dict[str, Any]:
    """Judge every open-ended samples file under ``source``; write records and summaries."""
    files = [(f, open_ended_samples(f)) for f in sample_files(source)]
    files = [(f, s) for f, s in files if s]
    refuse_duplicate_tasks([f for f, _ in files])
    if not files:
        raise JudgeError(f"{source}: no open-ended samples (documents with a 'reference')")
    base = source if source.is_dir() else source.parent
    out = out or base / "judge" / config.prompt.name
    started = time.time()
    all_samples = [s for _, samples in files for s in samples]
    records, counters = judge_samples(all_samples, config)
    summary: dict[str, Any] = {"settings": _settings(config, counters), "tasks": {}}
    for _, samples in files:
        task = samples[0].task
        task_records = [r for r in records if r["task"] == task]
        write_atomic(
            out / f"{task}.jsonl",
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in task_records),
        )
        summary["tasks"][task] = summarize(task_records)
    summary["settings"]["seconds"] = round(time.time() - started, 2)
    write_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False))
    summary["out"] = str(out)
    return summary


def refuse_duplicate_tasks(files: list[Path]) -> None:
    """Two samples files of one task (lm-eval run twice into one output folder) would be
    judged twice: refused before any request, naming both."""
    seen: dict[str, Path] = {}
    for file in files:
        task, _ = task_and_stamp(file)
        if task in seen:
            raise JudgeError(
                f"two samples files for task {task}: {seen[task]} and {file}; judge one run "
                "at a time (move or delete the older file, or pass one samples file)"
            )
        seen[task] = file


def _settings(config: JudgeConfig, counters: Counters) -> dict[str, Any]:
    return {
        "prompt": config.prompt.name,
        "prompt_file": str(config.prompt.path),
        "template_sha256": config.prompt.sha256(),
        "judge_model": config.backend.model,
        "identity": config.identity,
        "server": config.backend.base_url,
        "server_family": config.backend.family,
        "temperature": config.temperature,
        "runs": config.prompt.runs,
        "max_tokens": config.prompt.max_tokens,
        "concurrency": config.concurrency,
        "cache": str(config.cache.path),
        "calls_made": counters.calls,
        "replies_from_cache": counters.cached,
        "unparsable_reasked": counters.reasked,
    }
