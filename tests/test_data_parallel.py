"""``medinj-eval run --data-parallel 2`` on the CPU (gloo): one result, the same as 1 process."""

from __future__ import annotations

from conftest import cli

from medinj_eval.runs import load_run

TASKS = ",".join([
    "medinj_fr_sample_mediqal_mcqm_constrained",
    "medinj_fr_sample_mediqal_mcqu_loglik",
    "medinj_fr_sample_frenchmedmcqa_greedy",
])  # fmt: skip


def test_two_processes_give_the_results_and_samples_of_one(default_model, tmp_path):
    common = ["--model", "hf", "--model_args", "pretrained=default", "--tasks", TASKS,
              "--apply_chat_template", "--batch_size", "4", "--limit", "8"]  # fmt: skip
    cli("run", *common, "-o", str(tmp_path / "one"))
    done = cli("run", *common, "--data-parallel", "2", "-o", str(tmp_path / "two"))
    assert "2 data-parallel processes (MULTI_CPU)" in done.stdout
    one, two = load_run(tmp_path / "one"), load_run(tmp_path / "two")
    assert two.results["config"]["model"] == "medinj-hf"
    assert two.results["results"] == one.results["results"]
    for task in one.tasks:
        key = lambda row: row["doc_id"]  # noqa: E731
        rows_one, rows_two = sorted(one.samples[task], key=key), sorted(two.samples[task], key=key)
        assert [r["doc_hash"] for r in rows_two] == [r["doc_hash"] for r in rows_one]
        assert [r["filtered_resps"] for r in rows_two] == [r["filtered_resps"] for r in rows_one]
    # rank 0 alone wrote the results and the manifest
    assert len(list((tmp_path / "two").rglob("results_*.json"))) == 1
    assert len(list((tmp_path / "two").rglob("manifest.json"))) == 1
