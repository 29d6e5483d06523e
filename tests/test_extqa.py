"""Extractive QA: the French SQuAD metrics, the QUAERO and SQuAD readers, their bad input."""

from __future__ import annotations

import json
import shutil
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.quaero import QUESTIONS, _bio
from medinj_eval.metrics.span_scores import (
    normalize_french,
    span_exact_match,
    token_f1,
    token_f1_one,
)
from medinj_eval.paths import sample_data_dir
from medinj_eval.tasks.datasets import load_benchmark
from medinj_eval.tasks.spans import extracted_answer

WORDS = st.lists(
    st.sampled_from(["artère", "Fièvre", "rénale", "le", "d'", "l'", "aiguë", "x", "10", "mg"]),
    max_size=6,
).map(" ".join)


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("L'Artère fémorale.", "artere femorale"),
        ("Une insuffisance  rénale aiguë !", "insuffisance renale aigue"),
        ("la fièvre du patient", "fievre patient"),
        ("« dose de 3 g »", "dose 3 g"),
        ("d'origine", "origine"),
        ("les", ""),
    ],
)
def test_french_normalisation(text, normalised):
    assert normalize_french(text) == normalised


@given(WORDS, WORDS)
def test_token_f1_is_symmetric_bounded_and_one_on_equal_forms(a, b):
    f1 = token_f1_one(a, b)
    assert 0.0 <= f1 <= 1.0
    assert f1 == pytest.approx(token_f1_one(b, a))
    assert token_f1_one(a, a) == float(bool(normalize_french(a)))
    assert span_exact_match(a, [b]) == float(normalize_french(a) == normalize_french(b))
    if normalize_french(a):  # v1.1: two empty answers match exactly but share no token
        assert span_exact_match(a, [b]) <= f1


@given(WORDS, st.lists(WORDS, min_size=1, max_size=3))
def test_scores_are_the_best_over_the_golds(prediction, golds):
    assert token_f1(prediction, golds) == max(token_f1_one(prediction, g) for g in golds)
    assert span_exact_match(prediction, golds) == max(
        span_exact_match(prediction, [g]) for g in golds
    )


def test_token_f1_counts_shared_tokens():
    # prediction "douleur thoracique aiguë" vs gold "douleur thoracique": P = 2/3, R = 1
    assert token_f1_one("douleur thoracique aiguë", "La douleur thoracique") == pytest.approx(0.8)
    assert token_f1_one("", "fièvre") == 0.0
    assert token_f1_one("le", "la") == 0.0  # both normalise to nothing: v1.1 shares no token
    assert span_exact_match("le", ["la"]) == 1.0  # and v1.1's exact match compares the strings
    assert token_f1_one("• douleur", "douleur") == 1.0  # U+2022 is punctuation (Po)


@pytest.mark.parametrize(
    ("output", "answer"),
    [("  la metformine\nautre chose", "la metformine"), ("Réponse : 3 g par jour", "3 g par jour")],
)
def test_the_extracted_answer_is_the_first_line(output, answer):
    assert extracted_answer(output) == answer


def test_largest_of_nested_entities_is_kept():
    tokens = [(0, 13, "chlorhydrate"), (14, 16, "de"), (17, 24, "fentayl"), (25, 26, ".")]
    entities = [("CHEM", 0, 24), ("CHEM", 0, 13), ("CHEM", 17, 24)]
    assert _bio(tokens, entities) == ["B-CHEM", "I-CHEM", "I-CHEM", "O"]


def test_quaero_brat_test_split_gives_the_enmed_slice(shared_data):
    docs = load_benchmark(benchmark="enmed_extqa", data_dir=shared_data / "quaero")
    test, pool = docs["test"], docs["train"]
    # 4,120 test entities once nested and discontinuous ones are left out: 5% is 206
    assert len(test) == 206 and len(pool) > 4000
    assert {d["question"] for d in test} <= set(QUESTIONS.values())
    for doc in test:
        assert doc["answer"] in doc["context"] and doc["answers"] == [doc["answer"]]
        assert doc["group_answers"][0] == doc["answer"]
        assert all(g in doc["context"] for g in doc["group_answers"])
    # "which X does this text mention?": 107 of the 206 contexts hold another right answer
    assert sum(len(d["group_answers"]) > 1 for d in test) == 107
    again = load_benchmark(benchmark="enmed_extqa", data_dir=shared_data / "quaero")["test"]
    assert list(again["item"]) == list(test["item"])


def test_sample_suite_holds_extractive_items_in_both_formats():
    squad = load_benchmark(benchmark="extqa_squad", sample=True)
    quaero = load_benchmark(benchmark="enmed_extqa", sample=True)
    assert len(squad["test"]) + len(quaero["test"]) >= 20
    assert len(squad["train"]) >= 5 and len(quaero["train"]) >= 5
    for doc in [*squad["test"], *quaero["test"]]:
        assert doc["answer"] in doc["context"]


def _copy(tmp_path):
    root = tmp_path / "data"
    shutil.copytree(sample_data_dir(), root)
    return root


def test_a_span_whose_offset_misses_its_text_is_refused(tmp_path):
    root = _copy(tmp_path)
    path = root / "extqa" / "test.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] += 3
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(
        DataValidationError, match=r"test\.json, row 2, field 'answers.answer_start\[0\]'"
    ):
        load_benchmark(benchmark="extqa_squad", data_dir=root)


def test_an_empty_context_is_refused(tmp_path):
    root = _copy(tmp_path)
    path = root / "extqa" / "train.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[3]["context"] = "  "
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"train\.jsonl, row 3, field 'context': empty"):
        load_benchmark(benchmark="extqa_squad", data_dir=root)


@pytest.mark.parametrize(
    ("tags", "where"),
    [(["I-CHEM"], r"ner_tags\[0\]'.*starts"), (["O", "I-DISO"], r"ner_tags\[1\]'.*follows O")],
)
def test_a_bio_entity_opened_by_i_is_refused(tmp_path, tags, where):
    root = _copy(tmp_path)
    path = root / "quaero" / "medline" / "test.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[1]["ner_tags"][: len(tags)] = tags
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    with pytest.raises(DataValidationError, match=r"medline/test\.jsonl, row 1, field '" + where):
        load_benchmark(benchmark="enmed_extqa", data_dir=root)


@pytest.mark.slow
def test_bad_span_data_stops_the_run_before_the_model_loads(tmp_path):
    from conftest import cli

    root = _copy(tmp_path)
    (root / "quaero" / "emea" / "test.jsonl").write_text(
        json.dumps({"id": "x", "tokens": [], "ner_tags": []}) + "\n", encoding="utf-8"
    )
    done = cli(
        "run", "--model", "hf", "--model_args", "pretrained=default", "--tasks", "enmed_extqa",
        "--metadata", json.dumps({"data_dir": str(root)}), "--output_path", str(tmp_path / "o"),
        check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "emea/test.jsonl, row 0, field 'tokens': empty context" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "o").exists()


def test_squad_needs_a_local_folder(monkeypatch):
    monkeypatch.delenv("MEDINJ_DATA_DIR", raising=False)
    with pytest.raises(DataValidationError, match="local folder only"):
        load_benchmark(benchmark="extqa_squad")


def test_punctuation_set_covers_ascii():
    assert normalize_french(string.punctuation) == ""


def squad_v11_f1(prediction: str, gold: str) -> float:
    """SQuAD v1.1's ``f1_score``, written apart from the package: normalisation with the
    ``regex`` module's Unicode punctuation class and NFKD accent stripping."""
    import unicodedata
    from collections import Counter

    import regex

    def normalise(text: str) -> list[str]:
        text = unicodedata.normalize("NFKD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        text = regex.sub(r"[\p{P}" + regex.escape(string.punctuation) + "]", " ", text)
        words = text.split()
        return [w for w in words if w not in {"le", "la", "les", "l", "un", "une", "des", "du",
                                              "de", "d"}]  # fmt: skip

    pred, ref = normalise(prediction), normalise(gold)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


TEXT = st.lists(
    st.one_of(
        st.sampled_from(["artère", "Fièvre", "rénale", "le", "l'", "x", "10"]),
        st.sampled_from(["•", "«", "»", "…", "–", "¿", "·", "‐", "「", "」", "$", "+", "|"]),
        st.text(alphabet=st.characters(categories=["Po", "Pd", "Ps", "Pe", "Ll"]), max_size=3),
    ),
    max_size=8,
).map(" ".join)


@given(TEXT, TEXT)
def test_token_f1_equals_an_independent_squad_v11_implementation(prediction, gold):
    assert token_f1_one(prediction, gold) == pytest.approx(squad_v11_f1(prediction, gold))


def test_span_scores_against_every_answer_of_the_group():
    from medinj_eval.tasks.spans import span_scores

    doc = {"answers": ["fièvre"], "group_answers": ["fièvre", "toux sèche"]}
    scores = span_scores("• toux sèche", doc)
    assert scores == {
        "token_f1": 0.0, "exact_match": 0.0, "token_f1_any": 1.0, "exact_match_any": 1.0,
    }  # fmt: skip
    assert set(span_scores("fièvre", {"answers": ["fièvre"]})) == {"token_f1", "exact_match"}
