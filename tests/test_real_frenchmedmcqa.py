"""A real run on the real FrenchMedMCQA test set, re-scored here from the logged samples."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

LIMIT = 12  # of the 622 real test items (the benchmarks measure on all of them)


def independent_letters(text: str, options: list[str]) -> set[str] | None:
    """Re-implementation of the reference strict rule, written separately from the package."""
    cleaned = text.upper().strip()
    if re.search(r"[^A-Z,;/|+ \n.():]", cleaned) or set(re.findall(r"[A-Z]", cleaned)) - set(
        options
    ):
        return None
    return set(re.findall(r"[A-Z]", cleaned)) or None


def test_limit_run_scores_match_an_independent_recomputation(shared_data, default_model, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "MEDINJ_DATA_DIR": str(shared_data)}
    cmd = [
        sys.executable,
        "-m",
        "medinj_eval.cli",
        "run",
        "--model",
        "medinj-hf",
        "--model_args",
        "pretrained=default",
        "--tasks",
        "frenchmedmcqa_constrained,frenchmedmcqa_greedy",
        "--limit",
        str(LIMIT),
        "--apply_chat_template",
        "--output_path",
        str(out),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    (results_file,) = out.glob("*/results_*.json")
    results = json.loads(results_file.read_text())["results"]
    for task in ("frenchmedmcqa_constrained", "frenchmedmcqa_greedy"):
        (samples_file,) = out.glob(f"*/samples_{task}_*.jsonl")
        samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
        assert len(samples) == LIMIT
        em = hamming = 0.0
        for s in samples:
            gold = set(s["doc"]["gold"])
            pred = independent_letters(s["filtered_resps"][0], s["doc"]["letters"]) or set()
            em += float(pred == gold)
            hamming += len(pred & gold) / len(pred | gold)
        assert results[task]["em,none"] == pytest.approx(em / LIMIT, abs=1e-12)
        assert results[task]["hamming,none"] == pytest.approx(hamming / LIMIT, abs=1e-12)
    assert (
        results["frenchmedmcqa_constrained"]["valid,none"]
        >= results["frenchmedmcqa_greedy"]["valid,none"]
    )
