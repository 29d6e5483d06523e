"""Sentence BLEU of one answer against its reference (sacrebleu).

Settings follow MediQAl's open-ended protocol (whitespace tokens, smoothing
method 1 of Chen & Cherry 2014): ``tokenize="none"`` splits on whitespace only;
``smooth_method="floor"`` with ``smooth_value=0.1`` adds 0.1 to a zero n-gram match count,
which is method 1; ``effective_order=True`` ignores n-gram orders longer than the sentence;
case is kept. BLEU = BP * exp(sum_{n<=4} log(p_n) / 4), BP = min(1, exp(1 - r/c)).
sacrebleu reports 0-100; these functions return 0-1.
"""

from __future__ import annotations

from functools import lru_cache

BLEU_SETTINGS = {
    "tokenize": "none",
    "smooth_method": "floor",
    "smooth_value": 0.1,
    "effective_order": True,
    "lowercase": False,
}


@lru_cache(maxsize=1)
def _bleu():
    from sacrebleu.metrics import BLEU

    return BLEU(**BLEU_SETTINGS)


def sentence_bleu(candidate: str, reference: str) -> float:
    """BLEU of ``candidate`` against one ``reference``, in [0, 1]; 0 for an empty answer."""
    if not candidate.strip():
        return 0.0
    return _bleu().sentence_score(candidate, [reference]).score / 100.0


def bleu_signature() -> str:
    """The settings as one string (sacrebleu version included), for reports."""
    import sacrebleu

    settings = "|".join(f"{k}:{v}" for k, v in BLEU_SETTINGS.items())
    return f"sacrebleu:{sacrebleu.__version__}|sentence|refs:1|{settings}"
