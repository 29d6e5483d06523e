"""Judge throughput on two servers: one judge pass spread over two llama.cpp servers on
127.0.0.1 against each server alone, measured in one run, same verdicts checked.

Each server serves the default model's GGUF file on one thread (two servers on two cores);
each pass judges the same open-ended answers with a fresh cache, so every request reaches a
server. The pooled throughput must be at least 90% of the sum of the two servers' own.
Writes ``benchmarks/results/judge_two_servers.json``.

    python benchmarks/bench_judge_servers.py [--run RUN] [--prompt enmed-4dim]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "tests"))

from servers import MODEL_NAME, Server  # noqa: E402  the tests' server starter

from medinj_eval.judge.backends import backend_for  # noqa: E402
from medinj_eval.judge.cache import ReplyCache  # noqa: E402
from medinj_eval.judge.prompts import load_prompt  # noqa: E402
from medinj_eval.judge.runner import JudgeConfig, judge_run  # noqa: E402


def open_run(folder: Path) -> Path:
    """The open-ended sample tasks answered by the default model."""
    medinj_eval = str(Path(sys.executable).parent / "medinj-eval")
    subprocess.run(
        [medinj_eval, "run", "--model", "hf", "--model_args", "pretrained=default",
         "--tasks", "medinj_fr_sample_open", "--apply_chat_template", "--batch_size", "16",
         "--gen_kwargs", "max_gen_toks=32", "--output_path", str(folder)],
        check=True, capture_output=True,
    )  # fmt: skip
    return folder


def judged(run: Path, urls: list[str], prompt: str, work: Path, name: str) -> tuple[float, dict]:
    """Seconds of one pass over ``urls`` (fresh cache) and its scores per task."""
    backend = backend_for(urls, MODEL_NAME, "llama-cpp", concurrency=1)
    config = JudgeConfig(
        prompt=load_prompt(prompt), backend=backend, cache=ReplyCache(work / f"{name}.sqlite"),
        concurrency=len(urls), progress=False,
    )  # fmt: skip
    started = time.perf_counter()
    summary = judge_run(run, config, work / name)
    seconds = time.perf_counter() - started
    scores = {
        task: [json.loads(line)["score"] for line in (work / name / f"{task}.jsonl").open()]
        for task in summary["tasks"]
    }
    return seconds, scores


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, help="an open-ended run (default: made here)")
    p.add_argument("--prompt", default="enmed-4dim")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run = args.run or open_run(work / "run")
        servers = [
            Server(
                "llama-cpp",
                work / f"server{i}.log",
                extra=("--n_threads", "1", "--n_threads_batch", "1"),
            ).start()
            for i in (1, 2)
        ]
        try:
            urls = [s.base_url for s in servers]
            alone = [
                judged(run, [url], args.prompt, work, f"alone{i}") for i, url in enumerate(urls)
            ]
            pooled = judged(run, urls, args.prompt, work, "pooled")
        finally:
            for server in servers:
                server.stop()
    n = sum(len(v) for v in pooled[1].values()) * load_prompt(args.prompt).runs
    rates = [n / seconds for seconds, _ in alone]
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "prompt": args.prompt,
        "requests": n,
        "alone_s": [round(s, 1) for s, _ in alone],
        "pooled_s": round(pooled[0], 1),
        "alone_requests_per_s": [round(r, 3) for r in rates],
        "pooled_requests_per_s": round(n / pooled[0], 3),
        "share_of_sum": round((n / pooled[0]) / sum(rates), 3),
        "same_verdicts": all(scores == pooled[1] for _, scores in alone),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "judge_two_servers.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not result["same_verdicts"] or result["share_of_sum"] < 0.9:
        sys.exit("pooled throughput under 90% of the two servers' sum, or verdicts differ")


if __name__ == "__main__":
    main()
