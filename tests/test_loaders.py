"""Loaders on the shipped sample suite and on the real FrenchMedMCQA release."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from medinj_eval.data.items import permutation_order
from medinj_eval.paths import sample_data_dir
from medinj_eval.tasks.choices import answer_sets, doc_to_choice, doc_to_target
from medinj_eval.tasks.datasets import load_benchmark

SAMPLE = str(sample_data_dir())


def sample_test_docs():
    yield from load_benchmark(benchmark="frenchmedmcqa", data_dir=SAMPLE)["test"]
    for config in ("mcqu", "mcqm"):
        yield from load_benchmark(benchmark=f"mediqal_{config}", data_dir=SAMPLE)["test"]
    for source in ("Native", "Translated"):
        for subset in ("mcqu", "mcq"):
            yield from load_benchmark(
                benchmark=f"medinjfr_{source.lower()}_{subset}", data_dir=SAMPLE
            )["test"]


def test_sample_suite_has_40_single_and_40_multi_answer_items():
    docs = list(sample_test_docs())
    single_task_items = [d for d in docs if not d["multi"]]
    several_answers = [d for d in docs if len(d["gold"]) > 1]
    assert len(single_task_items) >= 40
    assert all(len(d["gold"]) == 1 for d in single_task_items)
    assert len(several_answers) >= 40


def test_sample_medinjection_items_have_3_to_10_options_and_own_messages():
    counts = set()
    for subset in ("mcqu", "mcq"):
        for doc in load_benchmark(benchmark=f"medinjfr_native_{subset}", data_dir=SAMPLE)["test"]:
            counts.add(len(doc["letters"]))
            assert doc["system"].startswith("Tu es un assistant médical")
            assert doc["prompt"].splitlines()[1].startswith("A. ")
    assert min(counts) == 3 and max(counts) == 10


def test_mediqal_skips_null_options_and_keeps_question_type():
    docs = list(load_benchmark(benchmark="mediqal_mcqu", data_dir=SAMPLE)["test"])
    assert any(len(d["letters"]) == 4 for d in docs)
    assert {d["question_type"] for d in docs} == {"Understanding", "Reasoning"}
    assert all("Cas clinique" in d["prompt"] for d in docs if d["question_type"] == "Reasoning")


def test_frbmedqa_cloze_docs():
    docs = list(load_benchmark(benchmark="frbmedqa", data_dir=SAMPLE)["test"])
    assert len(docs) == 8
    for doc in docs:
        assert "@entity" not in doc["prompt"] and "@placeholder" not in doc["prompt"]
        assert 0 <= doc["gold"] < len(doc["choices"])


def test_answer_sets_and_targets():
    assert answer_sets(list("ABC")) == ["A", "B", "C", "A, B", "A, C", "B, C", "A, B, C"]
    assert len(answer_sets(list("ABCDEFGHIJ"))) == 1023
    doc = {"letters": list("ABCDE"), "multi": True, "gold": ["E", "A"]}
    assert doc_to_choice(doc)[doc_to_target(doc)] == "A, E"


def test_permutations_are_seeded_and_remap_gold():
    plain = load_benchmark(benchmark="frenchmedmcqa", data_dir=SAMPLE)["test"]
    for perm in (1, 2):
        permuted = load_benchmark(benchmark="frenchmedmcqa", data_dir=SAMPLE, perm=perm)["test"]
        for before, after in zip(plain, permuted):
            order = permutation_order(before["id"], 5, perm)
            assert order != list(range(5))
            assert sorted(after["options"]) == sorted(before["options"])
            gold_texts = {before["options"][before["letters"].index(g)] for g in before["gold"]}
            assert {
                after["options"][after["letters"].index(g)] for g in after["gold"]
            } == gold_texts
    again = load_benchmark(benchmark="frenchmedmcqa", data_dir=SAMPLE, perm=1)["test"]
    assert list(again["options"]) == list(
        load_benchmark(benchmark="frenchmedmcqa", data_dir=SAMPLE, perm=1)["test"]["options"]
    )


def test_medinjection_permutation_rewrites_the_user_message():
    plain = load_benchmark(benchmark="medinjfr_native_mcq", data_dir=SAMPLE)["test"][0]
    moved = load_benchmark(benchmark="medinjfr_native_mcq", data_dir=SAMPLE, perm=1)["test"][0]
    assert moved["prompt"] != plain["prompt"]
    for letter, text in zip(moved["letters"], moved["options"]):
        assert f"{letter}. {text}" in moved["prompt"]


def test_real_frenchmedmcqa_answer_count_distribution(shared_data):
    test = load_benchmark(benchmark="frenchmedmcqa", data_dir=str(shared_data))["test"]
    assert len(test) == 622
    assert Counter(len(g) for g in test["gold"]) == {1: 321, 2: 97, 3: 141, 4: 56, 5: 7}
    splits = load_benchmark(benchmark="frenchmedmcqa", data_dir=str(shared_data))
    assert (len(splits["train"]), len(splits["validation"])) == (2171, 312)


def test_drbenchmark_int_label_schema(shared_data, tmp_path):
    """DrBenchmark/FrenchMedMCQA: answer_a..answer_e and ClassLabel ints 0-4."""
    rows = json.loads((shared_data / "frenchmedmcqa" / "test.json").read_text())[:50]
    converted = [
        {
            "id": r["id"],
            "question": r["question"],
            **{f"answer_{k}": v for k, v in r["answers"].items()},
            "correct_answers": ["abcde".index(c) for c in r["correct_answers"]],
        }
        for r in rows
    ]
    (tmp_path / "test.json").write_text(json.dumps(converted))
    raw = load_benchmark(benchmark="frenchmedmcqa", data_dir=str(shared_data))["test"]
    ints = load_benchmark(benchmark="frenchmedmcqa", data_dir=str(tmp_path))["test"]
    assert list(ints["gold"]) == list(raw["gold"])[:50]
    assert list(ints["prompt"]) == list(raw["prompt"])[:50]


@pytest.mark.parametrize("source", ["Native", "Translated"])
def test_medinjection_list_and_string_answers(source):
    docs = load_benchmark(benchmark=f"medinjfr_{source.lower()}_mcq", data_dir=SAMPLE)["test"]
    assert all(1 <= len(d["gold"]) <= len(d["letters"]) for d in docs)


def test_answer_order_variant_of_an_item_without_option_lines_names_file_and_row(tmp_path):
    import shutil

    from medinj_eval.data.errors import DataValidationError

    root = tmp_path / "data"
    shutil.copytree(SAMPLE, root)
    path = root / "medinjection-fr" / "Native" / "Test" / "mcq" / "mcq_test.json"
    rows = json.loads(path.read_text(encoding="utf-8"))
    rows[2]["messages"][1]["content"] = "Question sans ses options"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    assert len(load_benchmark(benchmark="medinjfr_native_mcq", data_dir=root)["test"]) == 10
    with pytest.raises(DataValidationError, match=r"mcq_test\.json, row 2, field 'messages'"):
        load_benchmark(benchmark="medinjfr_native_mcq", data_dir=root, perm=1)
