"""Where the constrained mode meets lm-eval's backends, installed when a task is built.

lm-eval builds the model before the tasks, so by the time a constrained task exists the
backend's module is imported and its hook can be installed:

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

import functools
import sys
from typing import Any

# Backends (``--model`` names) that can run a constrained task, and how.
CONSTRAINING_BACKENDS = {
    "hf": "logits mask",
    "hf-auto": "logits mask",
    "huggingface": "logits mask",
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


def install_backend_hooks() -> None:
    """Install the constraint of every backend already imported, and the guard. Idempotent."""
    if "lm_eval.models.huggingface" in sys.modules:
        from medinj_eval.models.constrained import install_hf_hook

        install_hf_hook()
    if "lm_eval.models.vllm_causallms" in sys.modules:
        from medinj_eval.models.vllm_backend import install_vllm_hook

        install_vllm_hook()
    _guard_evaluate()


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


def _guard_evaluate() -> None:
    """Check model and tasks in ``lm_eval.evaluator.evaluate``, which receives both before any
    request; ``simple_evaluate`` looks the function up at call time, so it gets the guard."""
    import lm_eval.evaluator as evaluator

    original = evaluator.evaluate
    if getattr(original, "medinj_guard", False):
        return

    @functools.wraps(original)
    def evaluate(lm, task_dict, *args, **kwargs):
        refuse_unconstrained(lm, task_dict)
        return original(lm, task_dict, *args, **kwargs)

    evaluate.medinj_guard = True  # type: ignore[attr-defined]
    evaluator.evaluate = evaluate
