"""The judge against REAL OpenAI-compatible servers on 127.0.0.1 serving the default model.

``judge_server`` is llama-cpp-python's server (and vLLM's under ``-m vllm``); request counts
come from the server's own access log. Kill tests kill real processes by PID.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cached_replies, cli
from servers import MODEL_NAME, Server, free_port

from medinj_eval.judge.prompts import load_prompt
from medinj_eval.runs import open_ended_samples as read_samples

pytestmark = pytest.mark.slow


def judge_args(source: Path, server: Server, cache: Path, *extra: str) -> list[str]:
    return [
        "judge", str(source), "--base-url", server.base_url, "--judge-model", MODEL_NAME,
        "--server", server.family, "--cache", str(cache), "--no-progress", *extra,
    ]  # fmt: skip


def samples_file(run: Path, task: str) -> Path:
    return next(run.rglob(f"samples_medinj_fr_sample_{task}_*.jsonl"))


def records(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(out.glob("*.jsonl")) for line in f.open()]


def test_judge_a_run_then_rerun_from_cache_with_zero_calls(judge_server, run_copy, tmp_path):
    cache = tmp_path / "cache.sqlite"
    before = judge_server.completions()
    lm_eval_files = {p.name: p.read_bytes() for p in run_copy.rglob("results_*.json")}
    cli(*judge_args(run_copy, judge_server, cache, "--prompt", "medinjection-binary"))
    out = run_copy / "judge" / "medinjection-binary"
    recs = records(out)
    expected = {
        f.name: read_samples(f)
        for f in run_copy.rglob("samples_*.jsonl")
        if "judge" not in f.relative_to(run_copy).parts
    }
    n_samples = sum(len(s) for s in expected.values())
    assert len(recs) == n_samples
    # EnMed's AbsQA slice repeats MediQAl's items: each distinct prompt is sent once
    distinct = len({r["prompt_sha256"] for r in recs})
    assert judge_server.completions() - before == distinct < n_samples
    assert len({(r["task"], r["doc_id"]) for r in recs}) == n_samples
    # structured output: every reply is the JSON integer 0 or 1
    assert all(r["status"] == "ok" and r["score"] in (0.0, 1.0) for r in recs)
    prompt = load_prompt("medinjection-binary")
    for samples in expected.values():
        for sample in samples:
            rec = next(r for r in recs if (r["task"], r["doc_id"]) == (sample.task, sample.doc_id))
            rendered = json.dumps(
                prompt.render(sample.variables()), sort_keys=True, ensure_ascii=False
            )
            assert rec["prompt_sha256"] == hashlib.sha256(rendered.encode()).hexdigest()
            assert rec["judge_model"] == MODEL_NAME and rec["doc_hash"] == sample.doc_hash
    summary = json.loads((out / "summary.json").read_text())
    entry = summary["tasks"]["medinj_fr_sample_mediqal_oeq"]
    assert entry["n_judged"] == 14 and entry["n_missing"] == 0
    mediqal = [r["score"] for r in recs if r["task"] == "medinj_fr_sample_mediqal_oeq"]
    assert entry["mean"] == pytest.approx(sum(mediqal) / 14)
    assert "mean_reasoning" in entry
    assert summary["settings"]["server"] == judge_server.base_url
    assert {p.name: p.read_bytes() for p in run_copy.rglob("results_*.json")} == lm_eval_files

    before = judge_server.completions()
    again = cli(*judge_args(run_copy, judge_server, cache, "--prompt", "medinjection-binary"))
    assert judge_server.completions() == before
    assert f"0 call(s), {n_samples} reply(ies) from the cache" in again.stdout
    assert records(out) == recs


def test_four_dimensions_median_of_three_runs_with_structured_output(
    judge_server, run_copy, tmp_path
):
    source = samples_file(run_copy, "medinjfr_native_oeq")
    before = judge_server.completions()
    cli(*judge_args(source, judge_server, tmp_path / "c.sqlite", "--prompt", "enmed-4dim"))
    assert judge_server.completions() - before == 9 * 3
    recs = records(source.parent / "judge" / "enmed-4dim")
    assert len(recs) == 9
    for rec in recs:
        assert rec["status"] == "ok" and len(rec["raw"]) == 3
        assert set(rec["dimensions"]) == {"factual", "completeness", "relevance", "safety"}
        assert rec["score"] == pytest.approx(sum(rec["dimensions"].values()) / 4)


def test_concurrent_requests_give_the_verdicts_of_sequential_ones(judge_server, run_copy, tmp_path):
    source = samples_file(run_copy, "mediqal_oeq")
    raws = []
    for concurrency in ("1", "8"):
        out = tmp_path / f"out{concurrency}"
        cli(
            *judge_args(
                source,
                judge_server,
                tmp_path / f"c{concurrency}.sqlite",
                "--prompt",
                "mediqal-10",
                "--concurrency",
                concurrency,
                "--out",
                str(out),
            )
        )
        raws.append([(r["doc_id"], r["raw"]) for r in records(out)])
    assert raws[0] == raws[1]


def binary_prompt_with(tmp_path: Path, param: str) -> Path:
    """A copy of the shipped binary prompt that sends one extra request parameter."""
    prompt = tmp_path / "binary-variant.yaml"
    binary = load_prompt("medinjection-binary").path.read_text()
    prompt.write_text(f"{binary}params:\n  {param}\n")
    return prompt


def test_rejected_request_is_not_retried_and_counted_missing(judge_server, run_copy, tmp_path):
    prompt = binary_prompt_with(tmp_path, "presence_penalty: 9")
    source = samples_file(run_copy, "medinjfr_translated_oeq")
    before = judge_server.completions()
    done = cli(*judge_args(source, judge_server, tmp_path / "c.sqlite", "--prompt", str(prompt)),
               check=False)  # fmt: skip
    assert judge_server.completions() - before == 9  # one request per sample, no retry
    recs = records(source.parent / "judge" / "medinjection-binary")
    assert all(r["score"] is None and r["status"].startswith("failed: rejected") for r in recs)
    assert done.returncode == 3 and "judged 0, failed 9, unparsable 0" in done.stdout
    assert "9 failed (the same command retries them)" in done.stderr


def test_empty_replies_are_retried_then_counted_missing(judge_server, run_copy, tmp_path):
    # a stop string equal to the only possible verdict makes the server answer ""
    prompt = binary_prompt_with(tmp_path, "stop: ['0', '1']")
    source = samples_file(run_copy, "medinjfr_translated_oeq")
    before = judge_server.completions()
    done = cli(*judge_args(source, judge_server, tmp_path / "c.sqlite", "--prompt", str(prompt),
                           "--max-attempts", "3"), check=False)  # fmt: skip
    assert judge_server.completions() - before == 9 * 3
    recs = records(source.parent / "judge" / "medinjection-binary")
    assert all(r["score"] is None and "EmptyReply" in r["status"] for r in recs)
    assert all(r["attempts"] == [3] for r in recs)
    assert done.returncode == 3 and "judged 0, failed 9, unparsable 0" in done.stdout
    assert cached_replies(tmp_path / "c.sqlite") == 0  # failures are not cached: a re-run retries


def test_api_key_is_never_written(judge_server, run_copy, tmp_path):
    secret = "sk-medinj-test-8c1f0e"
    source = samples_file(run_copy, "medinjfr_native_oeq")
    env = {**os.environ, "MY_JUDGE_KEY": secret}
    exe = Path(sys.executable).parent / "medinj-eval"
    args = judge_args(source, judge_server, tmp_path / "c.sqlite", "--api-key-env", "MY_JUDGE_KEY")
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert secret not in done.stdout + done.stderr
    for path in [*run_copy.rglob("*"), *tmp_path.glob("c.sqlite*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def _start_judge(args: list[str]) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "medinj-eval"
    return subprocess.Popen(
        [str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for_cache(cache: Path, at_least: int, proc: subprocess.Popen, timeout=300) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = cached_replies(cache)
        if n >= at_least:
            return n
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError(f"judge did not reach {at_least} cached replies")


def _judge_midway(server: Server, run_copy: Path, cache: Path):
    """A judge subprocess (9 samples x 3 runs, one request at a time) that has cached 6+
    replies: the process, its arguments and its samples file."""
    source = samples_file(run_copy, "medinjfr_native_oeq")
    args = judge_args(source, server, cache, "--prompt", "enmed-4dim", "--concurrency", "1",
                      "--max-wait", "10")  # fmt: skip
    proc = _start_judge(args)
    _wait_for_cache(cache, 6, proc)
    return proc, args, source


def test_kill9_judge_mid_run_then_rerun_judges_every_sample_once(
    private_llama_server, run_copy, tmp_path
):
    server, cache = private_llama_server, tmp_path / "c.sqlite"
    proc, args, source = _judge_midway(server, run_copy, cache)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = cached_replies(cache)
    assert 6 <= kept < 27
    assert not (source.parent / "judge" / "enmed-4dim" / "summary.json").exists()
    done = cli(*args)
    assert f"{kept} reply(ies) from the cache" in done.stdout
    recs = records(source.parent / "judge" / "enmed-4dim")
    assert sorted(int(r["doc_id"]) for r in recs) == list(range(9))
    assert cached_replies(cache) == 27
    # at most the one request in flight at the kill was sent twice
    assert 27 <= server.completions() <= 28


def test_server_killed_mid_run_exits_non_zero_keeps_verdicts_and_resumes(
    private_llama_server, run_copy, tmp_path
):
    server, cache = private_llama_server, tmp_path / "c.sqlite"
    proc, args, source = _judge_midway(server, run_copy, cache)
    server.kill()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "unreachable" in stderr and "run the same command again to resume" in stderr
    kept = cached_replies(cache)
    assert 6 <= kept < 27
    restarted = Server("llama-cpp", tmp_path / "server2.log", port=server.port).start()
    try:
        done = cli(*args)
    finally:
        restarted.stop()
    assert f"{kept} reply(ies) from the cache" in done.stdout
    assert restarted.completions() == 27 - kept
    recs = records(source.parent / "judge" / "enmed-4dim")
    assert len(recs) == 9 and len({r["doc_id"] for r in recs}) == 9


def test_in_process_judge_masks_binary_verdicts(run_copy, tmp_path):
    source = samples_file(run_copy, "medinjfr_translated_oeq")
    cli("judge", str(source), "--prompt", "medinjection-binary", "--cache",
        str(tmp_path / "c.sqlite"), "--no-progress")  # fmt: skip
    recs = records(source.parent / "judge" / "medinjection-binary")
    assert len(recs) == 9
    assert all(r["status"] == "ok" and r["raw"][0] in ("0", "1") for r in recs)
    summary = json.loads((source.parent / "judge" / "medinjection-binary" / "summary.json")
                         .read_text())  # fmt: skip
    assert summary["settings"]["server"] == "in-process"


def test_in_process_greedy_runs_generate_once_sampled_runs_each(default_model, monkeypatch):
    """A prompt's runs differ only by their seed: greedy, the model writes once for all of
    them; sampling, once per run."""
    import asyncio

    from medinj_eval.judge.backends import TransformersBackend

    backend = TransformersBackend("default")
    written = []
    generate = backend._generate

    def counted(messages: list, params: dict):
        written.append(params["seed"])
        return generate(messages, params)

    monkeypatch.setattr(backend, "_generate", counted)
    messages = [{"role": "user", "content": "Combien de reins a un adulte ?"}]

    async def runs(temperature: float) -> list:
        params = {"temperature": temperature, "max_tokens": 6}
        return [await backend.complete(messages, {**params, "seed": s}) for s in range(3)]

    async def both() -> tuple[list, list]:
        return await runs(0.0), await runs(1.0)

    greedy, sampled = asyncio.run(both())
    assert len(set(greedy)) == 1 and greedy[0].text
    assert len(sampled) == 3 and written == [0, 0, 1, 2]


def test_in_process_prompts_start_from_the_keys_they_share_with_the_last_one(
    default_model, monkeypatch
):
    """A judge's prompts share the rubric's system turn: each one after the first evaluates
    only what follows the tokens it shares with the one before, and every reply (a masked
    verdict, free text) equals a pass that evaluates whole prompts."""
    import asyncio

    from medinj_eval.judge.backends import TransformersBackend
    from medinj_eval.judge.prompts import load_prompt

    system = {"role": "system", "content": load_prompt("medinjection-binary").system}
    questions = ["Combien de reins a un adulte ?", "Quel organe filtre le sang ?",
                 "Combien de poumons a un adulte ?", "Où se trouve le foie ?"]  # fmt: skip
    requests = [
        ([system, {"role": "user", "content": f"{q} Réponse : deux."}], params)
        for q in questions
        for params in ({"allowed_verdicts": ["0", "1"], "max_tokens": 1}, {"max_tokens": 8})
    ]

    def replies(backend) -> list:
        async def judged() -> list:
            return [await backend.complete(m, {**p, "temperature": 0.0}) for m, p in requests]

        return asyncio.run(judged())

    reusing, whole = TransformersBackend("default"), TransformersBackend("default")
    kept = []  # tokens each prompt found already evaluated
    reused = reusing._prefix.reused

    def counted(prompt: list[int]):
        cache = reused(prompt)
        kept.append(0 if cache is None else cache.get_seq_length())
        return cache

    monkeypatch.setattr(reusing._prefix, "reused", counted)
    monkeypatch.setattr(whole._prefix, "reused", lambda prompt: None)
    assert replies(reusing) == replies(whole)
    system_turn = len(
        reusing._tokenizer.apply_chat_template([system], return_dict=True)["input_ids"]
    )
    assert kept[0] == 0 and all(n >= system_turn > 100 for n in kept[1:]), (kept, system_turn)


KEPT = 3


def test_in_process_judge_counts_unparsable_verdicts_as_missing(run_copy, tmp_path):
    # four-dimension verdicts are free text in process: whatever does not parse is missing
    source = samples_file(run_copy, "medinjfr_translated_oeq")
    kept = source.read_text(encoding="utf-8").splitlines(keepends=True)[:KEPT]
    source.write_text("".join(kept), encoding="utf-8")  # three samples x three greedy runs
    done = cli("judge", str(source), "--prompt", "enmed-4dim", "--cache",
               str(tmp_path / "c.sqlite"), "--no-progress", check=False)  # fmt: skip
    out = source.parent / "judge" / "enmed-4dim"
    agg = json.loads((out / "summary.json").read_text())["tasks"][
        "medinj_fr_sample_medinjfr_translated_oeq"
    ]
    recs = records(out)
    judged = [r["score"] for r in recs if r["score"] is not None]
    assert agg["n_missing"] == KEPT - len(judged) > 0
    assert agg["n_judged"] == len(judged)
    assert all(r["status"] == "unparsable" for r in recs if r["score"] is None)
    if judged:
        assert agg["mean"] == pytest.approx(sum(judged) / len(judged))
    else:
        assert agg["mean"] is None
    assert f"unparsable {agg['n_unparsable']}" in done.stdout
    assert agg["n_unparsable"] == agg["n_missing"] and agg["n_failed"] == 0
    assert done.returncode == 3 and "add --retry-unparsable to ask again" in done.stderr
    # greedy in process: one try each, and a rerun asks nothing unless told to
    assert all(r["attempts"] == [1, 1, 1] for r in recs)
    again = cli("judge", str(source), "--prompt", "enmed-4dim", "--cache",
                str(tmp_path / "c.sqlite"), "--no-progress", check=False)  # fmt: skip
    assert "0 call(s)" in again.stdout and again.returncode == 3


def test_judge_started_before_its_server_waits_for_it(default_model, run_copy, tmp_path):
    """A closed port is retried with backoff (no attempt used up) until the server answers."""
    port = free_port()
    source = samples_file(run_copy, "medinjfr_native_oeq")
    server = Server("llama-cpp", tmp_path / "server.log", port=port)
    args = judge_args(source, server, tmp_path / "c.sqlite", "--prompt", "medinjection-binary",
                      "--max-wait", "300")  # fmt: skip
    proc = _start_judge(args)
    time.sleep(5)
    assert proc.poll() is None, proc.communicate()  # still waiting, not given up
    server.start()
    try:
        stdout, stderr = proc.communicate(timeout=600)
        answered = server.completions()
    finally:
        server.stop()
    assert proc.returncode == 0, stderr[-3000:]
    assert len(records(source.parent / "judge" / "medinjection-binary")) == 9
    assert answered == 9  # every request reached the server once it was up


def test_judge_stops_after_max_wait_without_a_reply(run_copy, tmp_path):
    source = samples_file(run_copy, "medinjfr_native_oeq")
    server = Server("llama-cpp", tmp_path / "server.log", port=free_port())  # never started
    started = time.monotonic()
    done = cli(*judge_args(source, server, tmp_path / "c.sqlite", "--max-wait", "4"), check=False)
    assert done.returncode != 0 and time.monotonic() - started >= 4
    assert "unreachable: no reply for" in done.stderr and "Traceback" not in done.stderr
    assert not (source.parent / "judge" / "medinjection-binary" / "summary.json").exists()
