"""The normalised open-ended item (MediQAl ``oeq``, MedInjection-FR ``oeq``) and its checks."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from medinj_eval.data.errors import DataValidationError

SYSTEM_OPEN = (
    "Vous êtes un assistant médical. Répondez à la question en français, "
    "de façon précise et concise."
)
ENMED_ABSQA_SEED = 42
ENMED_ABSQA_SIZE = 248


@dataclass
class OpenItem:
    """One open-ended question with its reference answer."""

    id: str
    question: str
    reference: str
    context: str = ""
    question_type: str = ""
    subject: str = ""
    system: str = ""
    user_message: str = ""

    def to_doc(self) -> dict[str, Any]:
        """The flat dict lm-eval sees: the chat turns to send and the reference to score."""
        doc = asdict(self)
        doc["system"] = self.system or SYSTEM_OPEN
        doc["prompt"] = self.user_message or render_open_turn(self)
        return doc


def render_open_turn(item: OpenItem) -> str:
    """User turn of an item without its own message: the clinical case, then the question."""
    if item.context:
        return f"Cas clinique : {item.context}\n\nQuestion : {item.question}"
    return f"Question : {item.question}"


def check_open_item(item: OpenItem, file: str, row: int) -> OpenItem:
    """Refuse an item whose question or reference is blank: it could not be scored."""
    if not item.question.strip():
        raise DataValidationError(file, row, "question", "empty question")
    if not item.reference.strip():
        raise DataValidationError(file, row, "answer", "empty reference answer")
    return item


def enmed_absqa_slice(items: list[OpenItem]) -> list[OpenItem]:
    """EnMed's AbsQA slice: the test order shuffled by ``random.Random(42)``, first 248 items.

    Source: EnMed's evaluation protocol (AbsQA test slice); shuffling a copy keeps the input
    intact. The items left out are the few-shot pool (demonstrations are never evaluated
    items), so a test split of fewer than 496 items (a sample) keeps its first half.
    """
    order = list(items)
    random.Random(ENMED_ABSQA_SEED).shuffle(order)
    return order[: min(ENMED_ABSQA_SIZE, len(order) // 2)]
