"""Whose score a judge score is: the judge model (name, revision or weights' sha256), the
prompt (name and template digest) and the server family; and whether a run was graded by
its own weights.

The identity is written in every judge pass's ``summary.json`` (``settings.identity``) and
read back by ``compare``, ``report``, the study tables and the leaderboard, which keep the
scores of different judges apart and flag self-judged rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medinj_eval.hashing import json_sha256
from medinj_eval.judge.backends import IN_PROCESS

SELF_JUDGED = "self-judged"


def weights_identity(weights: str | Path) -> dict[str, Any]:
    """A weights file or folder by its sha256; the default model's GGUF file (what a local
    llama.cpp server serves) is named as the default model it was dequantised into."""
    from medinj_eval.hashing import sha256_file
    from medinj_eval.models import default_model
    from medinj_eval.provenance import WEIGHT_SUFFIXES, folder_sha256

    path = Path(weights)
    if path.is_dir():
        return {"weights_sha256": folder_sha256(path, WEIGHT_SUFFIXES)}
    identity: dict[str, Any] = {"weights_sha256": sha256_file(path)}
    if path.resolve() == default_model.gguf_path().resolve():
        identity.update(
            base_model=default_model.HUB_ID,
            revision=f"{default_model.WHEEL_REQUIREMENT} GGUF, dequantised",
        )
    return identity


def judge_identity(
    backend: Any, prompt: Any, revision: str | None = None, weights: str | None = None
) -> dict[str, Any]:
    """The judge of one pass. In process, the model's weights are hashed; a served model is
    known by its name, the ``revision`` given and the sha256 of the ``weights`` given."""
    from medinj_eval.models.default_model import resolve_pretrained
    from medinj_eval.provenance import base_model_identity

    identity: dict[str, Any] = {
        "model": backend.model,
        "server_family": backend.family,
        "prompt": prompt.name,
        "template_sha256": prompt.sha256(),
    }
    if backend.family == IN_PROCESS:
        found = base_model_identity(str(resolve_pretrained(backend.model)), revision)
        identity.update({k: found.get(k) for k in ("base_model", "revision", "weights_sha256")})
    else:
        identity.update(base_model=backend.model, revision=revision, weights_sha256=None)
        if weights:
            identity.update(weights_identity(weights))
    identity["id"] = json_sha256(identity)[:12]
    return identity


def judge_label(identity: dict[str, Any] | None) -> str:
    """``prompt · model@revision · family``, the name of a judge score's column; a jury is
    named with its rule and its judges."""
    if not identity:
        return "judge of unknown identity"
    if "members" in identity:
        members = ", ".join(judge_label(m) for m in identity["members"].values())
        return f"jury {identity['jury']} ({identity['rule']} of {members})"
    version = identity.get("revision") or (identity.get("weights_sha256") or "")[:12]
    model = identity.get("base_model") or identity.get("model")
    model = f"{model}@{version}" if version else str(model)
    return f"{identity.get('prompt')} · {model} · {identity.get('server_family')}"


def is_self_judged(judge: dict[str, Any] | None, model: dict[str, Any] | None) -> bool:
    """The run's model is the judge's own weights: no adapter on it, and the same weights'
    sha256, or the same hub model at the same revision."""
    if not judge or not model or model.get("adapter"):
        return False
    if "members" in judge:  # a jury: one of its judges is the model
        return any(is_self_judged(member, model) for member in judge["members"].values())
    sha = judge.get("weights_sha256")
    if sha and sha == model.get("weights_sha256"):
        return True
    name = judge.get("base_model")
    return (
        bool(name)
        and name == model.get("base_model")
        and (judge.get("revision") == model.get("revision"))
    )
