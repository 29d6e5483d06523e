"""One table of server families: the judge's and the served-model backend's requests."""

from __future__ import annotations

import pytest

from medinj_eval.judge.backends import sampling_params
from medinj_eval.judge.prompts import load_prompt
from medinj_eval.models.answer_language import AnswerLanguage
from medinj_eval.server_families import (
    SERVER_FAMILIES,
    letter_families,
    server_family,
    structured_request,
)

SINGLE = AnswerLanguage("ABCDE", single=True)
MULTI = AnswerLanguage("ABCDE", single=False)


def test_answer_languages_travel_as_each_family_takes_them():
    vllm, llama = server_family("vllm"), server_family("llama-cpp")
    assert structured_request(vllm, language=SINGLE) == {
        "structured_outputs": {"choice": SINGLE.choices}
    }
    assert structured_request(vllm, language=MULTI) == {
        "structured_outputs": {"regex": MULTI.regex}
    }
    assert structured_request(llama, language=MULTI) == {"grammar": MULTI.gbnf}
    for name in ("openai", "none"):
        assert structured_request(server_family(name), language=SINGLE) == {}
    assert letter_families() == ["vllm", "llama-cpp"]


def test_the_judge_sends_the_verdict_schema_from_the_same_table():
    prompt = load_prompt("medinjection-binary")
    schema = prompt.verdict.json_schema()
    for name in SERVER_FAMILIES:
        params = sampling_params(name, prompt, 0.0, 0)
        expected = structured_request(server_family(name), schema=schema)
        assert params.get("response_format") == expected.get("response_format")
    assert sampling_params("vllm", prompt, 0.0, 0)["response_format"]["type"] == "json_schema"
    assert sampling_params("llama-cpp", prompt, 0.0, 0)["response_format"]["type"] == (
        "json_object"
    )
    assert "response_format" not in sampling_params("none", prompt, 0.0, 0)


def test_an_unknown_family_is_refused_with_the_known_ones():
    with pytest.raises(
        ValueError,
        match="server=tgi is not a server family; choose one of openai, vllm, llama-cpp, none",
    ):
        server_family("tgi")
