"""A run killed with SIGKILL in the middle of a multi-task run resumes: finished tasks are
kept and not evaluated again, finished requests come from the run's request cache, and the
results and samples equal those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli

pytestmark = pytest.mark.slow

FIRST, KILLED, LAST = (
    "medinj_fr_sample_mediqal_mcqu_loglik",
    "medinj_fr_sample_frenchmedmcqa_greedy",
    "medinj_fr_sample_medinjfr_native_mcqu_loglik",
)


def run_args(out: Path) -> list[str]:
    return [
        "run", "--model", "hf", "--model_args", "pretrained=default",
        "--tasks", f"{FIRST},{KILLED},{LAST}", "--limit", "4", "--batch_size", "1",
        "--apply_chat_template", "--output_path", str(out),
    ]  # fmt: skip


def cached_requests(out: Path) -> int:
    total = 0
    for db in (out / "requests").glob("*.db"):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            try:
                total += conn.execute("SELECT COUNT(*) FROM unnamed").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    return total


def wait_for(condition, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("the run did not get there in time")


def outputs(out: Path) -> tuple[str, dict[str, list[str]]]:
    """What a run decided: results (no times or dates; NaN as text; functions without the
    memory address lm-eval's configs print) and each task's sample lines."""
    (results_file,) = out.glob("*/results_*.json")
    results = json.loads(results_file.read_text())
    kept = {k: results[k] for k in ("results", "configs", "n-shot", "n-samples", "versions")}
    kept = re.sub(r" at 0x[0-9a-f]+", "", json.dumps(kept, sort_keys=True))
    samples = {}
    for path in results_file.parent.glob("samples_*.jsonl"):
        task = path.name[len("samples_") : path.name.rindex("_")]
        samples[task] = path.read_text().splitlines()
    return kept, samples


def test_a_killed_run_resumes_without_evaluating_finished_tasks_again(default_model, tmp_path):
    whole = tmp_path / "whole"
    cli(*run_args(whole))

    out = tmp_path / "killed"
    exe = Path(sys.executable).parent / "medinj-eval"
    proc = subprocess.Popen(
        [str(exe), *run_args(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    first_done = out / "tasks" / FIRST / "task.json"
    wait_for(first_done.is_file, proc)
    after_first = cached_requests(out)
    wait_for(lambda: cached_requests(out) >= after_first + 2, proc)  # inside the second task
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not list(out.glob("*/results_*.json"))
    assert not (out / "tasks" / KILLED / "task.json").exists()
    kept_first = (out / "tasks" / FIRST / "samples.jsonl").read_bytes()
    assert json.loads((out / "tasks" / FIRST / "results.json").read_text())["results"][FIRST]
    partial = cached_requests(out)
    assert partial > after_first

    resumed = cli(*run_args(out))
    assert f"task {FIRST} finished earlier: kept, not evaluated again" in resumed.stdout
    assert f"task(s) 1-1/2: {KILLED}\n" in resumed.stdout  # FIRST is not evaluated again
    assert f"task(s) 2-2/2: {LAST}\n" in resumed.stdout
    assert (out / "tasks" / FIRST / "samples.jsonl").read_bytes() == kept_first
    assert cached_requests(out) == cached_requests(whole)
    assert outputs(out) == outputs(whole)

    again = cli(*run_args(out))
    assert "already holds this finished run" in again.stdout
    assert len(list(out.glob("*/results_*.json"))) == 1


def test_resume_reads_the_runs_own_arguments_and_refuses_other_settings(default_model, tmp_path):
    out = tmp_path / "run"
    args = run_args(out)
    args[args.index("--tasks") + 1] = FIRST
    cli(*args)
    again = cli("run", "--resume", str(out))
    assert "already holds this finished run" in again.stdout
    other = [*args]
    other[other.index("--limit") + 1] = "3"
    refused = cli(*other, check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert f"{out} holds a run with other settings (limit" in refused.stderr
