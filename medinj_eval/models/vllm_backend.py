"""lm-eval's ``vllm`` backend for this suite: the constraint, adapters and the install check.

* Constraint: lm-eval builds one ``SamplingParams(max_tokens=..., stop=..., **gen_kwargs)``
  per request in its vLLM module; :mod:`medinj_eval.lm_eval_internals` replaces that name
  by :func:`sampling_params`, which turns the private constraint keys into vLLM's
  structured outputs: a ``choice`` among the letter pieces (single answer) or the answer
  language's ``regex`` (multi-answer). Requests without the keys get vLLM's own class.
* Adapters: vLLM takes a LoRA adapter through ``lora_local_path`` and refuses DoRA. For
  ``peft=<adapter>``, :func:`vllm_model_args` passes a LoRA on, and merges a DoRA adapter into
  a full model once, cached under the base model's identity and the adapter's sha256.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

from medinj_eval.models.answer_language import AnswerLanguage, pop_language
from medinj_eval.server_families import SERVER_FAMILIES, structured_request

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "vLLM is not installed in this environment: `make vllm-env` builds .venv-vllm with vLLM's "
    "CPU build and medinj-eval (then run .venv-vllm/bin/medinj-eval), or `pip install vllm` "
    "on a GPU machine"
)
# vLLM's LoRA ranks must be one of these; the adapter's r is rounded up to the next.
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def structured_outputs(language: AnswerLanguage) -> Any:
    """vLLM's parameters of the same ``structured_outputs`` fields its server takes."""
    from vllm.sampling_params import StructuredOutputsParams

    fields = structured_request(SERVER_FAMILIES["vllm"], language=language)
    return StructuredOutputsParams(**fields["structured_outputs"])


def sampling_params(**kwargs: Any) -> Any:
    """vLLM's ``SamplingParams``, with the item's answer language as structured outputs.

    A single-answer item gets at least 2 new tokens: the choice ``" A"`` may be decoded as a
    space token then a letter token, and the grammar ends the answer after the letter
    anyway, so the budget never cuts an answer short.
    """
    from vllm import SamplingParams

    language = pop_language(kwargs)
    if language is None:
        return SamplingParams(**kwargs)
    if language.single:
        kwargs["max_tokens"] = max(2, int(kwargs.get("max_tokens") or 0))
    return SamplingParams(structured_outputs=structured_outputs(language), **kwargs)


def adapter_config(path: str) -> dict[str, Any]:
    config = Path(path) / "adapter_config.json"
    if not config.is_file():
        raise FileNotFoundError(f"peft={path}: no adapter_config.json in that folder")
    return json.loads(config.read_text(encoding="utf-8"))


def vllm_model_args(args: dict[str, Any], cache: Path) -> dict[str, Any]:
    """``--model_args`` for lm-eval's vLLM backend: ``peft=`` becomes a LoRA request, or a
    merged model for DoRA (merged once into ``cache``, then reused)."""
    out = dict(args)
    adapter = out.pop("peft", None)
    if not adapter:
        return out
    config = adapter_config(adapter)
    if config.get("use_dora"):
        base, revision = str(out["pretrained"]), out.get("revision")
        out["pretrained"] = str(merged_model(base, revision, adapter, cache))
        return out
    rank = int(config.get("r", 16))
    out["lora_local_path"] = adapter
    out.setdefault("max_lora_rank", next((r for r in LORA_RANKS if r >= rank), rank))
    return out


def merged_model(base: str, revision: str | None, adapter: str, cache: Path) -> Path:
    """The base model with the DoRA adapter merged in, saved under a key of both identities."""
    from medinj_eval.provenance import base_model_identity, folder_sha256

    identity = {
        "base": base_model_identity(base, revision),
        "adapter": folder_sha256(Path(adapter)),
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    target = cache / f"merged-{key}"
    if (target / "config.json").is_file():
        log.warning("vLLM refuses DoRA adapters: using the merged model %s", target)
        return target
    log.warning("vLLM refuses DoRA adapters: merging %s into %s once: %s", adapter, base, target)
    save_merged(base, revision, adapter, target)
    return target


def save_merged(base: str, revision: str | None, adapter: str, target: Path) -> None:
    """Merge on the CPU in float32 and save with the tokenizer; the folder appears whole."""
    import shutil

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(base, revision=revision, dtype="float32")
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    merged.save_pretrained(partial)
    AutoTokenizer.from_pretrained(base, revision=revision).save_pretrained(partial)
    partial.rename(target)
