"""The normalised extractive-QA item (a question whose answer is a passage of its context)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medinj_eval.data.errors import DataValidationError

SYSTEM_SPAN = (
    "Vous êtes un assistant médical. Répondez à la question en recopiant mot pour mot le "
    "passage exact du texte qui y répond, sans rien ajouter ni reformuler."
)


@dataclass
class SpanItem:
    """One extractive question: the answers are passages of ``context``."""

    id: str
    context: str
    question: str
    answers: list[str]
    answer_starts: list[int] = field(default_factory=list)
    group: str = ""
    # every passage of the context that answers the question as well (QUAERO: each entity
    # of the question's group); the answers themselves when the source gives no more
    group_answers: list[str] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        """The flat dict lm-eval sees; ``answer`` (the first gold) is a demonstration's turn."""
        return {
            "id": self.id,
            "context": self.context,
            "question": self.question,
            "answers": list(self.answers),
            "answer": self.answers[0],
            "group": self.group,
            "group_answers": list(self.group_answers or self.answers),
            "system": SYSTEM_SPAN,
            "prompt": f"Texte : {self.context}\n\nQuestion : {self.question}\nRéponse :",
        }


def check_span_item(item: SpanItem, file: str, row: int) -> SpanItem:
    """Refuse an item that cannot be scored: empty context or question, no answer, or an
    answer whose offset does not point at its text in the context."""
    if not item.context.strip():
        raise DataValidationError(file, row, "context", "empty context")
    if not item.question.strip():
        raise DataValidationError(file, row, "question", "empty question")
    if not item.answers or not all(a.strip() for a in item.answers):
        raise DataValidationError(file, row, "answers.text", "no answer text")
    for i, (text, start) in enumerate(zip(item.answers, item.answer_starts)):
        if item.context[start : start + len(text)] != text:
            found = item.context[start : start + len(text)]
            raise DataValidationError(
                file, row, f"answers.answer_start[{i}]",
                f"{start} points at {found!r}, not at the answer {text!r}",
            )  # fmt: skip
    return item
