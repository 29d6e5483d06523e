"""The OpenAI-compatible server families and their structured-output requests, in one table.

A constrained answer (an MCQ item's answer language, a judge's JSON verdict) reaches a
server as a request field whose form depends on the server, not on the model. The judge
(``--server``) and the served-model backend (``medinj-api server=``) read the same table;
vLLM in process takes the same ``structured_outputs`` fields as its server does.

* ``openai``: ``response_format`` with a JSON schema; no answer-language request;
* ``vllm``: ``structured_outputs`` (``choice`` for one letter, ``regex`` for a letter set)
  and a JSON-schema ``response_format``;
* ``llama-cpp``: a GBNF ``grammar`` and ``response_format`` ``json_object`` with a schema
  (llama-cpp-python's form);
* ``none``: nothing constrained (the judge parses replies by regex, constrained MCQ tasks
  are refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medinj_eval.models.answer_language import AnswerLanguage


@dataclass(frozen=True)
class ServerFamily:
    name: str
    letters: str | None  # how an answer language is sent: "structured_outputs", "grammar"
    verdict: str | None  # how a JSON schema is sent: "json_schema", "json_object"


SERVER_FAMILIES = {
    f.name: f
    for f in (
        ServerFamily("openai", letters=None, verdict="json_schema"),
        ServerFamily("vllm", letters="structured_outputs", verdict="json_schema"),
        ServerFamily("llama-cpp", letters="grammar", verdict="json_object"),
        ServerFamily("none", letters=None, verdict=None),
    )
}


def server_family(name: str, option: str = "server") -> ServerFamily:
    """The family called ``name``, or a ValueError naming ``option`` and the known ones."""
    try:
        return SERVER_FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"{option}={name} is not a server family; choose one of {', '.join(SERVER_FAMILIES)}"
        ) from None


def letter_families() -> list[str]:
    """Families that can hold a completion to an answer language."""
    return [f.name for f in SERVER_FAMILIES.values() if f.letters]


def structured_request(
    family: ServerFamily,
    *,
    language: AnswerLanguage | None = None,
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The request fields that hold a reply to ``language`` or to the JSON ``schema`` on
    ``family`` (empty when the family sends no such request)."""
    fields: dict[str, Any] = {}
    if language is not None and family.letters == "structured_outputs":
        if language.single:
            fields["structured_outputs"] = {"choice": language.choices}
        else:
            fields["structured_outputs"] = {"regex": language.regex}
    elif language is not None and family.letters == "grammar":
        fields["grammar"] = language.gbnf
    if schema is not None and family.verdict == "json_schema":
        fields["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "verdict", "schema": schema, "strict": True},
        }
    elif schema is not None and family.verdict == "json_object":
        fields["response_format"] = {"type": "json_object", "schema": schema}
    return fields
