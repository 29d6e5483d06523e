"""``medinj-eval compare`` and ``report`` on real runs of the default model and two adapters."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import cli, make_adapter
from scipy import stats

from medinj_eval.paths import sample_data_dir

TASKS = [
    "frenchmedmcqa_loglik",
    "frenchmedmcqa_loglik_perm1",
    "frenchmedmcqa_loglik_perm2",
    "mediqal_mcqu_loglik",
]
LIMIT = 10


def lora(folder: Path, base: str, seed: int) -> str:
    return make_adapter(base, folder, seed=seed, alpha=32)


@pytest.fixture(scope="module")
def runs(default_model, tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("compare")
    meta = json.dumps({"data_dir": str(sample_data_dir())})
    adapters = {"base": ""}
    adapters.update(
        {f"lora{s}": f",peft={lora(tmp / f'adapter{s}', default_model, s)}" for s in (1, 2)}
    )
    out = {}
    for name, peft in adapters.items():
        out[name] = tmp / name
        cli(
            "run", "--model", "medinj-hf",
            "--model_args", f"pretrained=default,prefix_cache=true{peft}",
            "--tasks", ",".join(TASKS), "--metadata", meta, "--limit", str(LIMIT),
            "--batch_size", "8", "--output_path", str(out[name]),
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def compared(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    paths = [str(runs[n]) for n in ("base", "lora1", "lora2")]
    cli("compare", *paths, "--names", "base,lora1,lora2", "--baseline", "base", "--out", str(out))
    return out


def item_ems(run: Path, task: str) -> dict[str, float]:
    (path,) = run.glob(f"*/samples_{task}_2???-*.jsonl")  # the stamp, not a _perm sibling
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["doc_hash"]: float(r["em"]) for r in rows}


def test_cells_match_an_independent_recomputation(runs, compared):
    comparison = json.loads((compared / "comparison.json").read_text())
    assert [c["cell"] for c in comparison["cells"]] == sorted(TASKS)
    pvalues = []
    for cell in comparison["cells"]:
        base = item_ems(runs["base"], cell["task"])
        assert cell["n_items"] == LIMIT
        for name in ("lora1", "lora2"):
            other = item_ems(runs[name], cell["task"])
            keys = sorted(base)
            a, b = np.array([other[k] for k in keys]), np.array([base[k] for k in keys])
            test = cell["tests"][name]
            assert cell["scores"][name] == pytest.approx(a.mean())
            assert test["delta"] == pytest.approx(a.mean() - b.mean())
            assert test["ci_low"] <= test["delta"] <= test["ci_high"]
            if np.any(a != b) and np.std(a - b) > 0:
                assert test["p_t"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
            pvalues.append(test["p_t"])
    adjusted = stats.false_discovery_control(pvalues)
    recorded = [c["tests"][n]["p_bh"] for c in comparison["cells"] for n in ("lora1", "lora2")]
    assert recorded == pytest.approx(list(adjusted))
    assert comparison["friedman"]["applicable"] and comparison["friedman"]["k"] == 3


def test_outputs_tables_figures_and_a_self_contained_report(compared):
    for name in ("comparison.md", "cells.csv", "report.md"):
        assert (compared / name).stat().st_size > 0
    figures = sorted(p.name for p in (compared / "figures").glob("*.png"))
    assert figures == [
        "cd_diagram.png", "delta.png", "normalised.png", "raw_scores.png", "significance.png"
    ]  # fmt: skip
    for png in (compared / "figures").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (compared / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5
    assert 'src="http' not in html and "<link" not in html
    assert "Position bias" in html and "frenchmedmcqa_loglik" in html


def test_position_bias_per_order_and_letters(runs, compared):
    comparison = json.loads((compared / "comparison.json").read_text())
    (record,) = comparison["position_bias"]["base"]
    assert record["task"] == "frenchmedmcqa_loglik" and record["n_items"] == LIMIT
    for order, task in zip(("original", "perm1", "perm2"), TASKS[:3]):
        ems = item_ems(runs["base"], task)
        assert record["em"][order] == pytest.approx(sum(ems.values()) / LIMIT)
    assert sum(record["gold_letters"].values()) >= 3 * LIMIT
    assert 0.0 <= record["consistency_rate"] <= 1.0


def test_mismatched_items_are_refused_with_task_and_counts(runs, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(runs["lora1"], broken)
    (path,) = broken.glob("*/samples_mediqal_mcqu_loglik_2???-*.jsonl")
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:7]))
    done = cli("compare", str(runs["base"]), str(broken), "--names", "base,cut",
               "--baseline", "base", "--out", str(tmp_path / "out"), check=False)  # fmt: skip
    assert done.returncode != 0
    assert "task mediqal_mcqu_loglik: base has 10 items, cut has 7" in done.stderr


def test_report_of_one_run(runs, tmp_path):
    cli("report", str(runs["lora1"]), "--out", str(tmp_path))
    html = (tmp_path / "report.html").read_text()
    for needle in ("mediqal_mcqu_loglik", "adapter1", "lm_eval", "evaluation time"):
        assert needle in html
