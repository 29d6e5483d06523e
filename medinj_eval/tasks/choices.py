"""Answer candidates of the log-likelihood modes (``loglik``: letters or answer sets;
``optiontext``: the options' texts)."""

from __future__ import annotations

from itertools import combinations


def answer_sets(letters: list[str]) -> list[str]:
    """Every non-empty answer set over ``letters``, rendered like the references ("A, C").

    Multi-answer log-likelihood scoring ranks all 2^n - 1 sets (MedInjection-FR protocol);
    ordered by size then by letter so the list is stable.
    """
    return [
        ", ".join(combo)
        for size in range(1, len(letters) + 1)
        for combo in combinations(letters, size)
    ]


def doc_to_choice(doc: dict) -> list[str]:
    """Letters for single-answer items, all non-empty answer sets for multi-answer items."""
    return answer_sets(doc["letters"]) if doc["multi"] else list(doc["letters"])


def doc_to_target(doc: dict) -> int:
    """Index of the gold answer among :func:`doc_to_choice`."""
    return doc_to_choice(doc).index(", ".join(sorted(doc["gold"])))


def option_texts(doc: dict) -> list[str]:
    """``optiontext`` mode: each option's text, in letter order."""
    return list(doc["options"])


def option_target(doc: dict) -> int:
    """Index of the first gold option (lm-eval needs one; the task scores every gold)."""
    return doc["letters"].index(sorted(doc["gold"])[0])
