"""One answer language for every backend: its regex, its grammar and the HF token mask agree."""

from __future__ import annotations

import re
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medinj_eval.models.answer_language import SEPARATORS, AnswerLanguage, pop_language

LETTERS = "ABCDE"


def made_of_pieces(text: str, pieces: tuple[str, ...]) -> bool:
    """Whether ``text`` splits into pieces (dynamic programming over prefixes)."""

    @cache
    def from_(i: int) -> bool:
        return i == len(text) or any(text.startswith(p, i) and from_(i + len(p)) for p in pieces)

    return from_(0)


@given(st.lists(st.sampled_from(AnswerLanguage(LETTERS, False).pieces), max_size=12))
def test_every_sequence_of_pieces_is_accepted(pieces):
    assert AnswerLanguage(LETTERS, False).accepts("".join(pieces))


@given(st.text(alphabet="ABCDEF ,\n;x", max_size=10))
def test_multi_regex_accepts_exactly_the_strings_made_of_pieces(text):
    language = AnswerLanguage(LETTERS, False)
    assert language.accepts(text) == made_of_pieces(text, language.pieces)


@given(st.text(alphabet="ABCDEF ,\n", max_size=4))
def test_single_language_is_one_letter_piece(text):
    language = AnswerLanguage(LETTERS, True)
    assert language.accepts(text) == (text in language.letter_pieces)
    assert sorted(language.choices) == sorted(language.letter_pieces)


def test_private_keys_are_removed_and_bad_letters_refused():
    gen = {"max_gen_toks": 4, "medinj_letters": "ABC", "medinj_single": False}
    assert pop_language(gen) == AnswerLanguage("ABC", False)
    assert gen == {"max_gen_toks": 4}
    assert pop_language({"max_gen_toks": 1}) is None
    with pytest.raises(ValueError, match="upper-case"):
        AnswerLanguage("a]", True)


def test_llama_cpp_parses_both_grammars():
    llama_cpp = pytest.importorskip("llama_cpp")
    for single in (True, False):
        llama_cpp.LlamaGrammar.from_string(AnswerLanguage(LETTERS, single).gbnf, verbose=False)


def test_hf_mask_allows_exactly_the_tokens_that_spell_one_piece(default_model):
    from transformers import AutoTokenizer

    from medinj_eval.models.constrained import allowed_token_ids

    tokenizer = AutoTokenizer.from_pretrained(default_model)
    for single in (True, False):
        language = AnswerLanguage(LETTERS, single)
        allowed = allowed_token_ids(tokenizer, language)
        texts = {tokenizer.decode([i], clean_up_tokenization_spaces=False) for i in allowed}
        assert texts <= set(language.pieces)
        assert set(language.letter_pieces) <= texts  # this tokenizer spells each piece
        assert (set(SEPARATORS) & texts == set()) == single
        assert all(re.fullmatch(language.regex, t) for t in texts)
