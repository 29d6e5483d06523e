"""EnMed's 9-cell grid end to end on the sample suite, as one study: three systems (the
default model and two real LoRA adapters) run ``enmed_grid``, a real llama.cpp server judges
the AbsQA cells with ``enmed-4dim``, ``compare`` gives the per-cell statistics, the study's
grid table shows them, the leaderboard lines the cells up with EnMed's reported rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO, cli, make_adapter
from servers import MODEL_NAME

from medinj_eval.benchmarks import grid_cells
from medinj_eval.paths import sample_data_dir
from medinj_eval.runs import load_run

pytestmark = pytest.mark.slow
LIMIT = 2
SYSTEMS = ("base", "lora1", "lora2")


@pytest.fixture(scope="module")
def grid_study(default_model, llama_server, tmp_path_factory) -> Path:
    """EnMed's grid as a study: three systems, the judge on the llama.cpp server, the
    comparison and the grid table, from one ``medinj-eval study run``."""
    tmp = tmp_path_factory.mktemp("grid")
    systems = [{"name": "base"}]
    for seed in (1, 2):
        adapter = make_adapter(default_model, tmp / f"adapter{seed}", seed=seed, alpha=32)
        systems.append({"name": f"lora{seed}", "adapter": adapter})
    plan = {
        "name": "grid-sample", "base": "default", "systems": systems, "baseline": "base",
        "evaluate": [{
            "name": "grid", "tasks": ["enmed_grid"], "judge": True,
            "args": {"apply_chat_template": True, "metadata": {"data_dir": str(sample_data_dir())},
                     "limit": LIMIT, "gen_kwargs": "max_gen_toks=12", "batch_size": 8},
        }],
        "judge": {"prompt": "enmed-4dim", "server": llama_server.base_url,
                  "model": MODEL_NAME, "family": llama_server.family},
        "tables": ["enmed-grid"], "output_dir": str(tmp / "study"),
    }  # fmt: skip
    path = tmp / "grid.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    cli("study", "run", str(path))
    return tmp / "study"


@pytest.fixture(scope="module")
def grid_runs(grid_study) -> dict[str, Path]:
    return {name: grid_study / "evaluate" / name / "grid" for name in SYSTEMS}


def test_grid_runs_log_nine_cells_with_their_shots_and_seed(grid_runs):
    run = load_run(grid_runs["base"])
    assert sorted(run.tasks) == sorted(grid_cells())
    for task, (_, shots, bench) in grid_cells().items():
        assert run.n_shot(task) == shots
        assert len(run.samples[task]) == LIMIT
        config = run.results["configs"][task]
        if shots and bench.fewshot_seed is not None:
            assert config["metadata"]["fewshot_seed"] == 42
    # demonstrations are earlier user/assistant turns, never an evaluated item
    for task in ("enmed_absqa_5shot", "enmed_extqa_3shot"):
        evaluated = {s["doc"]["prompt"] for s in run.samples[task]}
        for sample in run.samples[task]:
            prompt = sample["arguments"]["gen_args_0"]["arg_0"]
            shots = int(task[-5])
            assert prompt.count("<|im_start|>assistant") == shots + 1
            demos = prompt.split("<|im_start|>user\n")[1:-1]
            assert not any(d.split("<|im_end|>")[0] in evaluated for d in demos)
    # the judge wrote beside the run and left lm-eval's files alone
    assert set(run.judge) == {"enmed_absqa", "enmed_absqa_3shot", "enmed_absqa_5shot"}


@pytest.fixture(scope="module")
def compared(grid_study) -> dict:
    out = grid_study / "compare" / "grid"
    comparison = json.loads((out / "comparison.json").read_text())
    comparison["out"] = out
    return comparison


def test_compare_sees_the_nine_cells_with_enmed_statistics(compared, grid_runs):
    cells = {c["cell"]: c for c in compared["cells"]}
    assert sorted(cells) == sorted(grid_cells())
    metrics = {c["task"]: c["metric"] for c in compared["cells"]}
    assert {metrics[t] for t in cells if t.startswith("frenchmedmcqa")} == {"em"}
    assert {metrics[t] for t in cells if t.startswith("enmed_extqa")} == {"token_f1"}
    assert {metrics[t] for t in cells if t.startswith("enmed_absqa")} == {"judge_enmed-4dim"}
    # the AbsQA cells compare the judge's composite scores, item by item
    records = load_run(grid_runs["lora1"]).judge["enmed_absqa_3shot"]["enmed-4dim"]
    judged = [r["score"] for r in records]
    assert cells["enmed_absqa_3shot"]["scores"]["lora1"] == pytest.approx(sum(judged) / len(judged))
    for cell in cells.values():
        assert cell["n_items"] == LIMIT and cell["best"]
        for name in ("lora1", "lora2"):
            test = cell["tests"][name]
            assert {"p_t", "p_bh", "sig_bh", "p_bonferroni", "sig_bonferroni"} <= set(test)
    assert set(compared["significance"]) == {"lora1", "lora2"}
    assert compared["significance"]["lora1"]["cells"] == 9
    assert compared["friedman"]["applicable"] and compared["friedman"]["n"] == 9
    assert (compared["out"] / "figures" / "cd_diagram.png").is_file()


def test_the_leaderboard_lines_grid_cells_up_with_enmed_reported_rows(grid_runs, tmp_path):
    """The base run submitted (every item metric recomputed, span tasks included), validated,
    and shown on the site beside EnMed's reported rows under EnMed's cell names."""
    import shutil

    results = tmp_path / "results"
    shutil.copytree(REPO / "results" / "reported", results / "reported")
    cli("leaderboard", "submit", str(grid_runs["base"]), "--model-id", "smollm2-grid",
        "--results", str(results), "--allow-partial")  # fmt: skip
    cli("leaderboard", "validate", "--results", str(results))
    cli("leaderboard", "build", "--results", str(results), "--out", str(tmp_path / "site"))
    rows = json.loads((tmp_path / "site" / "data.json").read_text())["rows"]
    reported = {(r["task"], r["metric"]) for r in rows if r["kind"] == "reported"}
    mine = {(r["task"], r["metric"]): r for r in rows if r["kind"] == "submission"}
    for cell in ("mcqa", "extqa", "absqa"):
        for suffix in ("0shot", "3shot", "5shot", "mean"):
            key = next(k for k in reported if k[0] == f"enmed_{cell}_{suffix}")
            assert key in mine and mine[key]["family"] == "enmed"
    logged = load_run(grid_runs["base"]).results["results"]["enmed_extqa_3shot"]
    assert mine[("enmed_extqa_3shot", "token_f1")]["value"] == pytest.approx(
        logged["token_f1,none"]
    )


def test_the_grid_table_shows_each_cell_best_system_and_significance(grid_study, compared):
    table = (grid_study / "tables" / "tables.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| Model"))
    assert header.count("-shot") == 9 and "AbsQA 5-shot" in header
    rows = {
        line.split(" | ")[0].strip("| "): line.strip("| ").split(" | ")[1:]
        for line in table.splitlines()
        if line.startswith("| ") and "Model" not in line
    }
    assert list(rows) == list(SYSTEMS)
    cells = {c["task"]: c for c in compared["cells"]}
    columns = [t for t in grid_cells() if t in cells]
    for i, task in enumerate(columns):
        scores = cells[task]["scores"]
        best = max(scores.values()) if len(set(scores.values())) > 1 else None  # no tie of all
        for name in SYSTEMS:
            shown = rows[name][i]
            judged = cells[task]["metric"].startswith("judge")  # 1-5, else a rate in percent
            scale, shown_to = (1, 0.0051) if judged else (100, 0.051)
            assert float(shown.strip("*†")) == pytest.approx(scale * scores[name], abs=shown_to)
            assert shown.startswith("**") == (scores[name] == best)
            sig = bool(cells[task]["tests"].get(name, {}).get("sig_bh"))
            assert shown.endswith("†") == sig
    assert "cd_diagram.png" in table
    assert r"\toprule" in (grid_study / "tables" / "tables.tex").read_text()
