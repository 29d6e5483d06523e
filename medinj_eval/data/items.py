"""The normalised multiple-choice item every MCQ loader produces, and its checks."""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from medinj_eval.data.errors import DataValidationError

LETTERS = "ABCDEFGHIJ"

SYSTEM_SINGLE = (
    "Vous êtes un assistant médical. Lisez la question à choix multiples et répondez "
    "uniquement par la lettre de la seule bonne réponse."
)
SYSTEM_MULTI = (
    "Vous êtes un assistant médical. Lisez la question à choix multiples et répondez "
    "uniquement par les lettres de toutes les bonnes réponses, séparées par des virgules."
)

# An option line inside a chat message: "A. texte", "A) texte", "A - texte", "(A) texte".
_OPTION_LINE = re.compile(r"^[ \t]*\(?([A-J])\s*[.):\-]\s?(.*)$", re.MULTILINE)


@dataclass
class McqItem:
    """One multiple-choice question, independent of the benchmark it came from."""

    id: str
    question: str
    letters: list[str]
    options: list[str]
    gold: list[str]
    multi: bool
    context: str = ""
    question_type: str = ""
    subject: str = ""
    system: str = ""
    user_message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        """The flat dict lm-eval sees, with the rendered prompt and the gold answer text."""
        doc = asdict(self)
        doc.pop("extra")
        doc["system"] = self.system or (SYSTEM_MULTI if self.multi else SYSTEM_SINGLE)
        doc["prompt"] = render_user_turn(self)
        doc["answer_text"] = ", ".join(self.gold)
        return doc


def render_user_turn(item: McqItem) -> str:
    """The item's own user message when it has one, else question, context and options."""
    if item.user_message:
        return item.user_message
    parts = []
    if item.context:
        parts.append(f"Cas clinique : {item.context}")
    parts.append(f"Question : {item.question}")
    parts.extend(f"{letter}. {text}" for letter, text in zip(item.letters, item.options))
    parts.append("Réponse :")
    return "\n".join(parts)


def check_item(item: McqItem, file: str, row: int) -> McqItem:
    """Stop on an item that cannot be scored: no options, or a gold letter outside them."""
    options_field = item.extra.get("options_field", "options")
    answer_field = item.extra.get("answer_field", "answer")
    if len(item.letters) < 2:
        raise DataValidationError(file, row, options_field, "fewer than two options")
    if not item.gold:
        raise DataValidationError(file, row, answer_field, "no correct answer given")
    outside = [g for g in item.gold if g not in item.letters]
    if outside:
        raise DataValidationError(
            file, row, answer_field, f"answer letter(s) {outside} not among options {item.letters}"
        )
    if not item.multi and len(item.gold) != 1:
        raise DataValidationError(
            file, row, answer_field, "single-answer item with several answers"
        )
    return item


def check_unique_ids(ids: list[str], file: str) -> None:
    """An evaluation split must hold items, and duplicate ids would merge two items in
    paired statistics: refuse both."""
    if not ids:
        raise DataValidationError(file, None, None, "the test split has no rows (empty file or [])")
    seen: dict[str, int] = {}
    for row, item_id in enumerate(ids):
        if item_id in seen:
            raise DataValidationError(
                file, row, "id", f"duplicate id {item_id!r} (first at row {seen[item_id]})"
            )
        seen[item_id] = row


def row_id(row: dict[str, Any], index: int) -> str:
    """The item's own ``id``, else its row index: never the file's name or place, so an
    item has one identity wherever its file sits (hub, any folder, a wheel)."""
    value = row.get("id")
    return f"row-{index}" if value is None or value == "" else str(value)


def require(row: dict[str, Any], name: str, file: str, index: int) -> Any:
    """The value of a mandatory field, or an error naming file, row and field."""
    if name not in row or row[name] is None:
        raise DataValidationError(file, index, name, "missing required field")
    return row[name]


def permutation_order(item_id: str, n: int, perm: int) -> list[int]:
    """Documented, seeded option order of answer-order variant ``perm`` (1 or 2).

    The seed is the string ``"medinj-eval/perm{perm}/{item_id}"`` given to
    ``random.Random``: stable across machines and Python versions. An order equal to the
    original is rotated by one so every permuted item really moves.
    """
    order = list(range(n))
    random.Random(f"medinj-eval/perm{perm}/{item_id}").shuffle(order)
    if order == list(range(n)):
        order = order[1:] + order[:1]
    return order


def permute(item: McqItem, perm: int) -> McqItem:
    """The item with its options in the order of variant ``perm`` and the gold remapped."""
    if perm == 0:
        return item
    order = permutation_order(item.id, len(item.letters), perm)
    options = [item.options[j] for j in order]
    new_letter_of_old = {item.letters[j]: item.letters[i] for i, j in enumerate(order)}
    gold = sorted(new_letter_of_old[g] for g in item.gold)
    user_message = item.user_message
    if user_message:
        user_message = _rewrite_option_lines(item, options)
    return replace(item, options=options, gold=gold, user_message=user_message)


def options_from_message(message: str, letters: list[str]) -> list[str] | None:
    """Option texts read from the option lines of a chat message, or None if any is missing."""
    found = {m.group(1): m.group(2).strip() for m in _OPTION_LINE.finditer(message)}
    if not all(letter in found for letter in letters):
        return None
    return [found[letter] for letter in letters]


def _rewrite_option_lines(item: McqItem, options: list[str]) -> str:
    text_of = dict(zip(item.letters, options))

    def swap(match: re.Match[str]) -> str:
        letter = match.group(1)
        if letter not in text_of:
            return match.group(0)
        head = match.group(0)[: match.start(2) - match.start(0)]
        return head + text_of[letter]

    return _OPTION_LINE.sub(swap, item.user_message)
