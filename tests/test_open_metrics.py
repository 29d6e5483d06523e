"""Open-ended automatic metrics: BLEU settings, French-aware ROUGE, BERTScore, task data."""

from __future__ import annotations

import pytest
from rouge_score.rouge_scorer import RougeScorer

from medinj_eval.metrics.bertscore import bertscore_f1
from medinj_eval.metrics.bleu import bleu_signature, sentence_bleu
from medinj_eval.metrics.rouge import FrenchTokenizer, rouge_f


def test_default_rouge_tokenizer_breaks_french_words_and_ours_keeps_them():
    text = "Fièvre élevée et céphalées"
    default = RougeScorer(["rouge1"])._tokenizer.tokenize(text)
    assert "fièvre" not in default and "fi" in default  # rouge_score splits at accents
    assert FrenchTokenizer().tokenize(text) == ["fièvre", "élevée", "et", "céphalées"]


def test_rouge_does_not_match_word_fragments_left_by_accents():
    # rouge_score's own tokenizer turns "fièvre élevée" into "fi vre lev e": fragments match.
    default = RougeScorer(["rouge1"]).score("fièvre élevée", "fi vre lev e")["rouge1"].fmeasure
    assert default == pytest.approx(1.0)
    assert rouge_f("fi vre lev e", "fièvre élevée")["rouge1"] == 0.0
    assert rouge_f("Fièvre élevée", "fièvre élevée")["rouge1"] == 1.0


def test_rouge_values_by_hand():
    # candidate 4 words, reference 5 words, 3 unigrams and 1 bigram shared
    scores = rouge_f("le pneumocoque est responsable", "le pneumocoque reste le responsable")
    p, r = 3 / 4, 3 / 5
    assert scores["rouge1"] == pytest.approx(2 * p * r / (p + r))
    assert scores["rouge2"] == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))


def test_bleu_settings_and_bounds():
    sig = bleu_signature()
    assert "tokenize:none" in sig and "smooth_method:floor" in sig
    assert sentence_bleu("une cystite aiguë simple", "une cystite aiguë simple") == pytest.approx(1)
    assert sentence_bleu("", "une cystite aiguë simple") == 0.0
    partial = sentence_bleu("une cystite simple", "une cystite aiguë simple")
    assert 0.0 < partial < 1.0
    # whitespace tokens: punctuation stays glued, so "simple." does not match "simple"
    assert sentence_bleu("une cystite aiguë simple.", "une cystite aiguë simple") < 1.0


def test_bertscore_orders_paraphrase_above_unrelated_answer():
    ref = "Le pneumocoque est le germe le plus fréquent."
    same, para, other = bertscore_f1(
        [ref, "Le germe le plus fréquent est le pneumocoque.", "Prendre du paracétamol."],
        [ref, ref, ref],
    )
    assert same == pytest.approx(1.0, abs=1e-4)
    assert para > other
    assert bertscore_f1([""], [ref]) == [0.0]


def test_enmed_absqa_slice_is_seeded_shuffle_of_test_order():
    import random

    from medinj_eval.tasks.datasets import load_benchmark

    full = load_benchmark(benchmark="mediqal_oeq", sample=True)["test"]["id"]
    sliced = load_benchmark(benchmark="enmed_absqa", sample=True)["test"]["id"]
    expected = list(full)
    random.Random(42).shuffle(expected)
    assert sliced == expected[: min(248, len(full) // 2)] and sliced != full
    pool = load_benchmark(benchmark="enmed_absqa", sample=True)["train"]["id"]
    assert sorted(pool) == sorted(set(full) - set(sliced))


def test_open_ended_sample_suite_has_30_items_with_references():
    from medinj_eval.tasks.datasets import load_benchmark

    mediqal = load_benchmark(benchmark="mediqal_oeq", sample=True)["test"]
    native = load_benchmark(benchmark="medinjfr_native_oeq", sample=True)["test"]
    translated = load_benchmark(benchmark="medinjfr_translated_oeq", sample=True)
    docs = list(mediqal) + list(native) + list(translated["test"])
    assert len(docs) >= 30
    assert all(d["reference"].strip() and d["prompt"].strip() for d in docs)
    assert {d["question_type"] for d in mediqal} == {"Understanding", "Reasoning"}
    assert native[0]["system"].startswith("Vous êtes")  # the item's own system turn


def test_missing_reference_names_file_row_and_field(tmp_path):
    import json

    from medinj_eval.data.errors import DataValidationError
    from medinj_eval.tasks.datasets import load_benchmark

    (tmp_path / "oeq").mkdir()
    row = {"id": "x", "clinical_case": None, "question": "Q ?", "answer": " "}
    (tmp_path / "oeq" / "test.json").write_text(json.dumps([row]))
    with pytest.raises(DataValidationError) as err:
        load_benchmark(benchmark="mediqal_oeq", data_dir=tmp_path)
    assert "test.json" in str(err.value) and "row 0" in str(err.value)
    assert "'answer'" in str(err.value)


def test_bertscore_encoder_and_layer_are_configurable(monkeypatch, tmp_path):
    from medinj_eval.metrics.bertscore import ENCODER_ENV, default_encoder

    ref, cand = ["Une cystite aiguë simple."], ["Une infection urinaire basse."]
    last = bertscore_f1(cand, ref)[0]
    second = bertscore_f1(cand, ref, num_layers=2)[0]
    assert second != pytest.approx(last, abs=1e-4)
    monkeypatch.setenv(ENCODER_ENV, str(tmp_path / "my-encoder"))
    assert default_encoder() == str(tmp_path / "my-encoder")
