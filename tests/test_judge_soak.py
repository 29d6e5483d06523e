"""The judge through a fault-injecting proxy (tests/fault_proxy.py) in front of the real
llama.cpp server: every fault kind, seeded and bounded, a SIGKILL in the middle, reruns.

Every record is judged exactly once with the verdict the same request gets without faults
(the server's own reply to it, as the proxy forwarded it), or marked failed (or
unparsable) with its reason and tries; a rerun sends only what is
missing, and ``--retry-unparsable`` only the unparsable. The CI count is
``MEDINJ_SOAK_SAMPLES`` (default 80); ``make test-soak`` runs 650, which takes at least
1,000 judge requests (``MEDINJ_SOAK_MIN_REQUESTS``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cached_replies, cli
from fault_proxy import KINDS, FaultPlan, FaultProxy
from servers import MODEL_NAME

pytestmark = pytest.mark.slow

SAMPLES = int(os.environ.get("MEDINJ_SOAK_SAMPLES", "80"))
MIN_REQUESTS = int(os.environ.get("MEDINJ_SOAK_MIN_REQUESTS", "0"))  # faulted ones included
CONCURRENCY = 16
# the server answers one request at a time: --timeout covers 16 queued requests
TIMEOUT = int(os.environ.get("MEDINJ_SOAK_TIMEOUT", "20"))
FAILING, GARBLED = ("[v3]", "[v8]"), ("[v5]", "[v13]")  # never answered within 6 tries
TASK = "soak_open"


def soak_run(open_run: Path, folder: Path, n: int) -> Path:
    """A run folder with one samples file of ``n`` open-ended answers, each a distinct
    judge request: the real run's answers, each marked ``[v<i>]``."""
    base = [
        json.loads(line)
        for path in sorted(open_run.rglob("samples_*mediqal_oeq_*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    rows = []
    for i in range(n):
        row = json.loads(json.dumps(base[i % len(base)]))
        row["doc_id"], row["doc_hash"] = i, f"soak-{i:05d}"
        row["filtered_resps"] = [f"{row['filtered_resps'][0].strip()} [v{i}]"]
        rows.append(row)
    folder.mkdir(parents=True)
    path = folder / f"samples_{TASK}_2026-11-30T00-00-00.000000.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return folder


# A short binary prompt: the soak tries the judge's handling of faults, not the prompt, and
# a short prompt keeps the server's time per request low enough for a thousand of them.
SHORT_PROMPT = """name: soak-binary
verdict:
  kind: binary
max_tokens: 1
system: Reply 1 if the answer is medical, else 0.
user: "{{ candidate }}"
"""


def judge_args(run: Path, base_url: str, cache: Path, out: Path, *extra: str) -> list[str]:
    prompt = run / "soak-binary.yaml"
    prompt.write_text(SHORT_PROMPT, encoding="utf-8")
    return [
        "judge", str(run), "--base-url", base_url, "--judge-model", MODEL_NAME,
        "--prompt", str(prompt),
        "--server", "llama-cpp", "--cache", str(cache), "--out", str(out), "--no-progress",
        "--concurrency", str(CONCURRENCY), "--timeout", str(TIMEOUT), *extra,
    ]  # fmt: skip


def records(out: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in (out / f"{TASK}.jsonl").read_text().splitlines()]
    by_doc = {int(r["doc_id"]): r for r in rows}
    assert len(by_doc) == len(rows)  # each document once
    return by_doc


def test_judge_soak_under_faults_then_kill_then_reruns(judge_server, open_run, tmp_path):
    if judge_server.family != "llama-cpp":
        pytest.skip("the soak runs against llama.cpp")
    n = SAMPLES
    run = soak_run(open_run, tmp_path / "run", n)
    poison = {m: "http500" for m in FAILING} | {m: "prose" for m in GARBLED}
    plan = FaultPlan(seed=7, rate=0.45, max_faults=2, stall=TIMEOUT + 5, poison=poison)
    proxy = FaultProxy(judge_server.base_url, plan).start()
    cache, out = tmp_path / "soak.sqlite", tmp_path / "soak"
    args = judge_args(run, proxy.base_url, cache, out)
    try:
        proxy.phase = "killed"
        exe = Path(sys.executable).parent / "medinj-eval"
        proc = subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 600 + 5 * n
        while cached_replies(cache) < n // 3:
            if proc.poll() is not None:
                raise AssertionError(proc.communicate())
            assert time.monotonic() < deadline, "the judge did not get a third of the way"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kept = cached_replies(cache)
        assert not (out / "summary.json").exists()

        proxy.phase = "resumed"
        first = cli(*args, check=False)
        assert first.returncode == 3, first.stderr[-3000:]
        assert f"{kept} reply(ies) from the cache" in first.stdout
        assert "2 failed (the same command retries them)" in first.stderr
        assert "2 unparsable (add --retry-unparsable to ask again)" in first.stderr
        assert set(proxy.faults) == set(KINDS), proxy.faults
        # a SIGKILL re-sends at most the requests in flight: the concurrency
        resent = sum(1 for count in proxy.forwarded.values() if count > 1)
        assert resent <= CONCURRENCY
        recs = records(out)
        assert len(recs) == n
        for doc, rec in recs.items():
            if f"[v{doc}]" in FAILING:
                assert rec["score"] is None and rec["status"].startswith("failed: failed after 6")
                assert "HTTP" in rec["status"] or "500" in rec["status"]
            elif f"[v{doc}]" in GARBLED:
                assert rec["status"] == "unparsable" and rec["attempts"] == [6]
            else:
                assert rec["status"] == "ok" and rec["raw"] == [proxy.clean[rec["prompt_sha256"]]]

        proxy.phase = "retry-failed"
        plan.poison = {m: "prose" for m in GARBLED}  # the server is healthy again
        second = cli(*args, check=False)
        assert second.returncode == 3 and "failed (" not in second.stderr
        assert "2 unparsable" in second.stderr
        assert proxy.by_phase["retry-failed"] == {"clean": len(FAILING)}
        proxy.phase = "retry-unparsable"
        plan.poison = {}
        third = cli(*args, "--retry-unparsable")
        assert proxy.by_phase["retry-unparsable"] == {"clean": len(GARBLED)}
        assert "Traceback" not in first.stderr + second.stderr + third.stderr
    finally:
        proxy.stop()
    final = records(out)
    assert all(r["raw"] == [proxy.clean[r["prompt_sha256"]]] for r in final.values())
    assert all(r["score"] == float(r["raw"][0]) for r in final.values())
    summary = json.loads((out / "summary.json").read_text())["tasks"][TASK]
    assert (summary["n_judged"], summary["n_failed"], summary["n_unparsable"]) == (n, 0, 0)
    sent = sum(proxy.forwarded.values()) + sum(proxy.faults.values())
    assert sent >= MIN_REQUESTS
    print(f"soak: {n} samples, {sent} requests, faults {dict(proxy.faults)}, sent to the "
          f"server again after the SIGKILL {resent}")  # fmt: skip


def test_a_timeout_is_reported_as_a_timeout(judge_server, open_run, tmp_path):
    if judge_server.family != "llama-cpp":
        pytest.skip("runs against llama.cpp")
    run = soak_run(open_run, tmp_path / "run", 1)
    proxy = FaultProxy(judge_server.base_url, FaultPlan(stall=3, poison={"[v0]": "stall"}))
    proxy.start()
    out = tmp_path / "out"
    try:
        args = judge_args(run, proxy.base_url, tmp_path / "c.sqlite", out)
        args[args.index("--timeout") + 1] = "1"
        done = cli(*args, "--max-attempts", "2", check=False)
    finally:
        proxy.stop()
    assert done.returncode == 3 and "unreachable" not in done.stderr
    (rec,) = records(out).values()
    assert rec["status"] == (
        "failed: failed after 2 tries: timed out (no reply within --timeout 1 s)"
    )
