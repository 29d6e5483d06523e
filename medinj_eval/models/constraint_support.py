"""Which backends can run the constrained mode, and the refusal of the others.

The constraint reaches each backend through a patch of :mod:`medinj_eval.lm_eval_internals`:

* ``hf`` (and ``medinj-hf``): a logits mask (:mod:`medinj_eval.models.constrained`);
* ``vllm``: vLLM's structured outputs (:mod:`medinj_eval.models.vllm_backend`);
* ``medinj-api``: the server family's structured-output request
  (:mod:`medinj_eval.models.medinj_api`).

Every other backend would pass the private constraint keys on to its library (a
``TypeError`` deep inside it) or, worse, to a server that ignores them and answers
unconstrained. :func:`refuse_unconstrained` stops such a run before its first request, with
one line naming the task, its mode and the backends that can run it.
"""

from __future__ import annotations

from typing import Any

# Backends (``--model`` names) that can run a constrained task, and how.
# lm-eval's names of its HF backend (one class, three registry names).
HF_NAMES = ("hf", "hf-auto", "huggingface")
CONSTRAINING_BACKENDS = {
    **dict.fromkeys(HF_NAMES, "logits mask"),
    "medinj-hf": "logits mask",
    "vllm": "vLLM structured outputs",
    "medinj-api": "the server's structured outputs (server=vllm|llama-cpp)",
}


def can_constrain_name(model: str) -> bool:
    return model in CONSTRAINING_BACKENDS


def refusal(task: str, backend: str) -> str:
    """The one line that stops a constrained task on a backend that cannot constrain."""
    return (
        f"medinj-eval: task {task} (mode constrained) cannot run on backend {backend}: it can "
        "neither mask logits nor send a structured-output request; backends that can: hf, "
        "medinj-hf, vllm, medinj-api with server=vllm|llama-cpp (medinj-hf and medinj-api "
        "through `medinj-eval run`)"
    )


def constrains(lm: Any) -> bool:
    """Whether a built model honours the constraint (a flag each hooked backend carries)."""
    return bool(getattr(getattr(lm, "lm", lm), "medinj_constrains", False))


def constrained_tasks(task_dict: dict) -> list[str]:
    """Names of the constrained medinj-eval tasks in lm-eval's (nested) task dict."""
    found: list[str] = []
    for value in task_dict.values():
        if isinstance(value, dict):
            found += constrained_tasks(value)
        elif getattr(value, "mode", None) == "constrained":
            found.append(value.config.task)
    return found


def refuse_unconstrained(lm: Any, task_dict: dict) -> None:
    """Stop (one line, no request sent) when ``lm`` cannot run a constrained task."""
    if constrains(lm):
        return
    tasks = constrained_tasks(task_dict)
    if tasks:
        backend = type(getattr(lm, "lm", lm)).__name__
        raise SystemExit(refusal(tasks[0], backend))
