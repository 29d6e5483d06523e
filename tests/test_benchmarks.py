"""The benchmark registry: stubs generated from it, families read from it, and a benchmark
added with one declaration and its sample items."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import evaluate

from medinj_eval.benchmarks import (
    MULTI,
    Benchmark,
    all_benchmarks,
    declare,
    forget,
    grid_cells,
    headlines,
)
from medinj_eval.leaderboard.rows import family
from medinj_eval.paths import sample_data_dir, tasks_dir
from medinj_eval.tasks.benchmark_table import benchmark_table, with_table
from medinj_eval.tasks.stubs import HEADER, expected_files, generated_files, write_stubs

DOCS_TASKS = Path(__file__).resolve().parents[1] / "docs" / "tasks.md"


def test_committed_stubs_are_what_the_generator_writes():
    root = tasks_dir()
    expected = expected_files()
    differ = [p for p, text in expected.items() if not (root / p).is_file()
              or (root / p).read_text(encoding="utf-8") != text]  # fmt: skip
    stale = sorted(set(generated_files(root)) - set(expected))
    assert not differ, f"run lm_eval_tasks/_generate_configs.py: {differ[:5]} differ"
    assert not stale, f"generated files no declaration asks for: {stale[:5]}"


def test_the_docs_benchmark_table_is_what_the_generator_writes():
    page = DOCS_TASKS.read_text(encoding="utf-8")
    assert page == with_table(page), "run lm_eval_tasks/_generate_configs.py: docs/tasks.md differs"
    for bench in all_benchmarks():
        assert f"| `{bench.name}` | {bench.family} | {bench.answer_kind} |" in page


def test_stubs_hold_only_what_differs():
    for path, text in expected_files().items():
        if "\ntask: " in text:  # a task, not a group
            assert "metric_list" not in text, path
            assert len(text.splitlines()) <= 16, path


def test_every_benchmark_is_declared_once_with_a_known_family():
    names = [b.name for b in all_benchmarks()]
    assert len(names) == len(set(names))
    assert family("mediqal_mcqm_constrained_3shot") == "mediqal"
    assert family("medinj_fr_sample_enmed_extqa") == "enmed"
    assert family("medinjfr_constrained_em") == "medinjfr"
    assert family("frbmedqa") == "frbmedqa"


def test_enmed_grid_has_nine_cells():
    cells = grid_cells()
    assert sorted({(row, k) for row, k, _ in cells.values()}) == sorted(
        (row, k) for row in ("mcqa", "extqa", "absqa") for k in (0, 3, 5)
    )


def test_a_benchmark_in_an_existing_schema_is_one_declaration(tmp_path, default_model):
    """A FrenchMedMCQA-schema benchmark: its declaration, its sample items, the generator."""
    data = tmp_path / "data" / "pharmaqcm"
    data.mkdir(parents=True)
    source = sample_data_dir() / "frenchmedmcqa"
    for split in ("train", "test"):
        rows = json.loads((source / f"{split}.json").read_text(encoding="utf-8"))[:4]
        for i, row in enumerate(rows):
            row["id"] = f"pharma-{split}-{i}"
        (data / f"{split}.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    tasks = tmp_path / "tasks"
    shutil.copytree(tasks_dir(), tasks, ignore=shutil.ignore_patterns("data"))
    bench = declare(
        Benchmark(
            name="pharmaqcm",
            family="pharmaqcm",
            answer_kind=MULTI,
            parser="medinj_eval.data.frenchmedmcqa:parse_row",
            local_dir="pharmaqcm",
            modes=("greedy", "constrained", "loglik"),
            task_folder="pharmaqcm",
        )
    )
    try:
        written = write_stubs(tasks)
        row = "| `pharmaqcm` | pharmaqcm | multi | none | `pharmaqcm/` | greedy, constrained"
        assert row in with_table(DOCS_TASKS.read_text(encoding="utf-8"))
        assert row in benchmark_table()
        suite = expected_files()
        assert "- pharmaqcm_constrained\n" in suite["medinj_fr/medinj_fr.yaml"]
        sample = suite["medinj_fr_sample/medinj_fr_sample.yaml"]
        assert all(f"- medinj_fr_sample_pharmaqcm_{m}\n" in sample for m in bench.modes)
        assert "medinj_fr_sample/medinj_fr_sample_pharmaqcm_loglik.yaml" in written
        column = {h.key: h for h in headlines()}["pharmaqcm_em"]
        assert column.sources[0].tasks == ("pharmaqcm_constrained",) and column.in_mean
        mine = sorted(p for p in written if p.startswith("pharmaqcm/"))
        assert "pharmaqcm/pharmaqcm_loglik_3shot.yaml" in mine and len(mine) == 9
        assert (tasks / mine[0]).read_text(encoding="utf-8").startswith(HEADER)
        results = evaluate(
            "medinj-hf",
            f"pretrained={default_model},prefix_cache=true",  # fastest; not what is tested
            ["pharmaqcm_loglik", "pharmaqcm_constrained_3shot"],
            include_path=str(tasks),
            metadata={"data_dir": str(tmp_path / "data")},
            apply_chat_template=True,
        )
    finally:
        forget(bench.name)
    samples = results["samples"]
    assert [s["doc"]["item"] for s in samples["pharmaqcm_loglik"]] == [
        f"pharmaqcm/test/pharma-test-{i}" for i in range(4)
    ]
    assert results["configs"]["pharmaqcm_constrained_3shot"]["num_fewshot"] == 3
    assert set(results["results"]["pharmaqcm_loglik"]) >= {"em,none", "hamming,none"}
    assert family("pharmaqcm_loglik") == "other"  # forgotten with its declaration


def test_a_second_declaration_of_a_name_is_refused():
    bench = all_benchmarks()[0]
    with pytest.raises(ValueError, match="declared twice"):
        declare(Benchmark(**{**bench.__dict__, "family": "elsewhere"}))


def test_generated_headers_mark_only_generated_files():
    root = tasks_dir()
    templates = [p for p in Path(root).glob("_*_yaml")]
    assert templates and not any(p.read_text().startswith(HEADER) for p in templates)


def test_a_declared_family_aggregate_gets_its_groups_and_stands_for_its_members():
    """Two sources x two subsets declared with ``aggregate_by``: pooled per subset, then the
    unweighted mean, in the full suite and the sample suite; no code names the family."""
    benches = [
        declare(
            Benchmark(
                name=f"toyfam_{source}_{subset}",
                family="toyfam",
                answer_kind=MULTI,
                parser="medinj_eval.data.frenchmedmcqa:parse_row",
                local_dir="toyfam",
                modes=("constrained",),
                part={"source": source, "subset": subset},
                aggregate_by="subset",
            )
        )
        for source in ("a", "b")
        for subset in ("one", "two")
    ]
    try:
        files = expected_files()
        column = {h.key: h for h in headlines()}["toyfam_em"]
    finally:
        for bench in benches:
            forget(bench.name)
    assert column.sources[0].tasks == ("toyfam_constrained_em",)
    assert column.sources[1].parts == (
        ("toyfam_a_one_constrained", "toyfam_b_one_constrained"),
        ("toyfam_a_two_constrained", "toyfam_b_two_constrained"),
    )
    pooled = files["medinj_fr/toyfam_one_constrained.yaml"]
    assert "- toyfam_a_one_constrained\n- toyfam_b_one_constrained\n" in pooled
    assert "weight_by_size: true" in pooled
    mean = files["medinj_fr/toyfam_constrained_em.yaml"]
    assert "- toyfam_one_constrained\n- toyfam_two_constrained\n" in mean
    assert "weight_by_size: false" in mean
    suite = files["medinj_fr/medinj_fr.yaml"]
    assert "- toyfam_constrained_em\n" in suite and "toyfam_a_one_constrained" not in suite
    assert (
        "- medinj_fr_sample_toyfam_constrained_em\n"
        in files["medinj_fr_sample/medinj_fr_sample.yaml"]
    )
