"""The answers a constrained MCQ item may produce, defined once for every backend.

MedInjection-FR's constrained protocol lets the model write only option letters (bare or
after a space), the separators ``,`` ``, `` `` `` ``,\\n`` (multi-answer items) and the end
of sequence. Single-answer items must write exactly one letter.

:class:`AnswerLanguage` holds that definition as a list of text pieces. Every backend's
constraint is derived from it:

* the transformers logits mask (:mod:`medinj_eval.models.constrained`) allows the tokens
  whose text is one piece;
* vLLM's structured outputs and llama.cpp's grammar take the regular expression (or the
  GBNF grammar) of the strings made of pieces: :attr:`AnswerLanguage.regex`,
  :attr:`AnswerLanguage.gbnf`.

Both accept the same strings: a string is made of pieces exactly when it matches
:attr:`AnswerLanguage.regex` (tested on every sample item).

A constrained task marks each request with two private generation kwargs
(:data:`CONSTRAINT_LETTERS`, :data:`CONSTRAINT_SINGLE`); backend hooks pop them and build
their own constraint with :func:`pop_language`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

SEPARATORS = (",", ", ", " ", ",\n")

CONSTRAINT_LETTERS = "medinj_letters"
CONSTRAINT_SINGLE = "medinj_single"


@dataclass(frozen=True)
class AnswerLanguage:
    """The strings a constrained answer over ``letters`` may be."""

    letters: str
    single: bool

    def __post_init__(self) -> None:
        if not self.letters or not all(c.isalpha() and c.isupper() for c in self.letters):
            raise ValueError(f"option letters must be upper-case letters, got {self.letters!r}")

    @property
    def letter_pieces(self) -> tuple[str, ...]:
        return tuple(t for letter in self.letters for t in (letter, f" {letter}"))

    @property
    def pieces(self) -> tuple[str, ...]:
        """Texts a generated token may have; single answers take one letter piece."""
        return self.letter_pieces if self.single else self.letter_pieces + SEPARATORS

    @property
    def regex(self) -> str:
        """Strings made of pieces: one letter piece (single), any sequence of pieces (multi).

        A sequence of pieces is any string over the letters, ``,``, space and newline in
        which each newline follows a comma; the empty string is an (invalid) answer too.
        """
        letters = re.escape(self.letters)
        if self.single:
            return f" ?[{letters}]"
        return f"(?:[{letters} ]|,\\n?)*"

    @property
    def choices(self) -> list[str]:
        """The whole language of a single-answer item, as a list (vLLM's ``choice``)."""
        if not self.single:
            raise ValueError("a multi-answer language is not a finite list of choices")
        return list(self.letter_pieces)

    @property
    def gbnf(self) -> str:
        """The same language as a GBNF grammar (llama.cpp's ``grammar`` field)."""
        letters = " | ".join(json.dumps(c) for c in self.letters)
        if self.single:
            return f'root ::= " "? ({letters})\n'
        return f'root ::= piece*\npiece ::= {letters} | " " | "," "\\n"?\n'

    def accepts(self, text: str) -> bool:
        return re.fullmatch(self.regex, text) is not None


def marked(gen_kwargs: dict[str, Any]) -> bool:
    """Whether a request's generation kwargs carry a constraint."""
    return bool(gen_kwargs.get(CONSTRAINT_LETTERS))


def mark(gen_kwargs: dict[str, Any], letters: str, single: bool) -> None:
    gen_kwargs[CONSTRAINT_LETTERS] = letters
    gen_kwargs[CONSTRAINT_SINGLE] = single


def pop_language(gen_kwargs: dict[str, Any]) -> AnswerLanguage | None:
    """Remove the private keys from ``gen_kwargs``; the language they described, if any."""
    letters = gen_kwargs.pop(CONSTRAINT_LETTERS, None)
    single = bool(gen_kwargs.pop(CONSTRAINT_SINGLE, False))
    return AnswerLanguage(str(letters), single) if letters else None
