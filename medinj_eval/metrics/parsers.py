"""Answer parsers: raw model text -> set of option letters.

An empty set means "no valid answer"; every scorer treats it as wrong (unparsable = 0).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Characters the MedInjection-FR strict parser tolerates between letters.
STRICT_SEPARATORS = frozenset(",;/|+ \n.():")

_LENIENT_MARKER = re.compile(r"r[ée]ponses?\s*(?:correctes?\s*)?:", re.IGNORECASE)
_LENIENT_LETTER = re.compile(r"(?<![A-Za-zÀ-ÿ])([A-Za-z])(?![A-Za-zÀ-ÿ])")


def parse_strict(text: str, options: Sequence[str], single: bool) -> frozenset[str]:
    """Strict parser of the MedInjection-FR evaluation code.

    Rules (MedInjection-FR's strict answer parser): upper-case and strip the text; every character
    must be either a valid option letter or one of ``, ; / | + space newline . ( ) :``.
    Any other alphabetic character (a letter that is not an option) or any other symbol
    makes the whole answer invalid. A single-answer item needs exactly one distinct letter.

    Returns the set of predicted letters, or the empty set when the answer is invalid.
    """
    valid = {o.upper() for o in options}
    letters: set[str] = set()
    for char in text.upper().strip():
        if char in valid:
            letters.add(char)
        elif char not in STRICT_SEPARATORS:
            return frozenset()
    if single and len(letters) != 1:
        return frozenset()
    return frozenset(letters)


def parse_lenient(text: str, options: Sequence[str], single: bool) -> frozenset[str]:
    """MediQAl-style lenient parser: read the letters after the last ``Réponse :`` marker.

    The MediQAl prompts ask the model to end with ``Réponse : X`` (or ``Réponse : A, C``).
    The parser takes the text after the last marker up to the end of its line and keeps
    the standalone letters that are valid options. Without a marker it falls back to
    :func:`parse_strict` on the whole text. A single-answer item needs exactly one letter.
    """
    markers = list(_LENIENT_MARKER.finditer(text))
    if not markers:
        return parse_strict(text, options, single)
    tail = text[markers[-1].end() :].strip().split("\n", 1)[0]
    valid = {o.upper() for o in options}
    letters = {m.group(1).upper() for m in _LENIENT_LETTER.finditer(tail)}
    letters &= valid
    if single and len(letters) != 1:
        return frozenset()
    return frozenset(letters)
