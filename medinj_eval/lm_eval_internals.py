"""Every contact medinj-eval has with lm-eval's non-public surface, and nothing else.

medinj-eval is pinned to lm-eval ``LM_EVAL_VERSION``. Each private name it reads, overrides
or replaces is a :class:`Target` of :data:`TARGETS`, and ``tests/test_lm_eval_internals.py``
resolves every one of them in the installed lm-eval: a release that moves one fails there,
with the name and the pinned version, instead of far from the cause.

Patches change lm-eval's behaviour globally, so nothing installs them implicitly: building a
task or a model changes nothing. :func:`install` is called by ``medinj-eval run``, by
:func:`medinj_eval.evaluate.evaluate`, and, for a stock ``lm_eval`` command, by the tasks'
own Python module (``lm_eval_tasks/utils.py``, imported when lm-eval loads the tasks).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from typing import Any

from lm_eval.models.huggingface import HFLM

LM_EVAL_VERSION = "0.4.13"


@dataclass(frozen=True)
class Target:
    """One non-public name of lm-eval that medinj-eval depends on."""

    module: str
    name: str  # attribute path inside the module
    why: str
    needs: str | None = None  # an optional library the module imports (vllm)


TARGETS = (
    Target(
        "lm_eval.models.huggingface",
        "HFLM._model_generate",
        "wrapped by install(): a request carrying an answer language gets the logits mask",
    ),
    Target(
        "lm_eval.models.huggingface",
        "HFLM._loglikelihood_tokens",
        "medinj-hf scores the continuations of a shared prompt in one pass (HFBase.score_tokens)",
    ),
    Target(
        "lm_eval.models.huggingface",
        "HFLM.rank",
        "a property over _rank; medinj-hf sets _rank, _world_size and _device from accelerate",
    ),
    Target(
        "lm_eval.models.vllm_causallms",
        "SamplingParams",
        "the module-level name lm-eval's VLLM builds each request's parameters with; "
        "replaced by install() to send the answer language as structured outputs",
        needs="vllm",
    ),
    Target(
        "lm_eval.evaluator",
        "evaluate",
        "wrapped by install(): a constrained task on a backend that cannot constrain is "
        "refused before any request (simple_evaluate looks it up at call time)",
    ),
    Target(
        "lm_eval.models.openai_completions",
        "LocalCompletionsAPI._create_payload",
        "medinj-api adds the structured-output fields to a request (CompletionsBase.payload)",
    ),
    Target(
        "lm_eval.models.openai_completions",
        "LocalCompletionsAPI.parse_logprobs",
        "medinj-api counts the continuation from the end of llama.cpp's echo",
    ),
    Target(
        "lm_eval._cli.run",
        "Run",
        "medinj-eval run reads its arguments with lm-eval's own run subcommand parser",
    ),
    Target(
        "lm_eval.tasks.manager",
        "TaskManager._load_spec",
        "every task and group is built through it; built_once_task_manager() keeps what it "
        "built, so a run loads each task's data once",
    ),
    Target(
        "lm_eval.utils",
        "hash_string",
        "doc_hash(): the formula lm-eval's evaluate() applies inline to each logged document",
    ),
)


class LmEvalSurfaceError(RuntimeError):
    """A name medinj-eval relies on is gone from the installed lm-eval."""


def installed_version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


def resolve(target: Target) -> Any:
    """The object ``target`` names in the installed lm-eval, or one line naming what moved."""
    try:
        value: Any = importlib.import_module(target.module)
        for part in target.name.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as err:
        raise LmEvalSurfaceError(
            f"lm-eval {installed_version()} has no {target.module}:{target.name} ({err}); "
            f"medinj-eval is pinned to lm-eval {LM_EVAL_VERSION}, where it {target.why}"
        ) from None
    return value


def install() -> None:
    """Install every patch, once: the constraint on the HF and vLLM backends and the guard
    on ``evaluate``. Idempotent."""
    _constrain_hf()
    if "lm_eval.models.vllm_causallms" in sys.modules or importlib.util.find_spec("vllm"):
        _constrain_vllm()
    _guard_evaluate()


def _constrain_hf() -> None:
    # lm-eval's HF backend hands generation kwargs straight to model.generate and has no
    # logits-processor hook: the wrapper turns the private constraint keys into a mask.
    from medinj_eval.models.constrained import constrained_generation_kwargs

    original = HFLM._model_generate
    if getattr(original, "medinj_patch", False):
        return

    @functools.wraps(original)
    def _model_generate(self, context, max_length, stop, **generation_kwargs):
        generation_kwargs = constrained_generation_kwargs(self, context, generation_kwargs)
        return original(self, context, max_length, stop, **generation_kwargs)

    _model_generate.medinj_patch = True  # type: ignore[attr-defined]
    HFLM._model_generate = _model_generate
    HFLM.medinj_constrains = True  # type: ignore[attr-defined]


def _constrain_vllm() -> None:
    # lm-eval's VLLM calls SamplingParams(max_tokens=..., stop=..., **gen_kwargs) by the name
    # its module imported; replacing that name is the one place the constraint can enter.
    from medinj_eval.models.vllm_backend import sampling_params

    module = importlib.import_module("lm_eval.models.vllm_causallms")
    module.SamplingParams = sampling_params
    module.VLLM.medinj_constrains = True


def _guard_evaluate() -> None:
    # evaluate() is the first lm-eval function that holds both the model and the tasks.
    import lm_eval.evaluator as evaluator

    from medinj_eval.models.constraint_support import refuse_unconstrained

    original = evaluator.evaluate
    if getattr(original, "medinj_patch", False):
        return

    @functools.wraps(original)
    def evaluate(lm, task_dict, *args, **kwargs):
        refuse_unconstrained(lm, task_dict)
        return original(lm, task_dict, *args, **kwargs)

    evaluate.medinj_patch = True  # type: ignore[attr-defined]
    evaluator.evaluate = evaluate


def installed() -> bool:
    """Whether :func:`install` ran in this process."""
    import lm_eval.evaluator as evaluator

    return bool(getattr(evaluator.evaluate, "medinj_patch", False))


class HFBase(HFLM):
    """lm-eval's HF backend with its private steps under public names, for ``medinj-hf``."""

    def _model_generate(self, context, max_length, stop, **generation_kwargs):
        return self.generate_tokens(context, max_length, stop, **generation_kwargs)

    def generate_tokens(self, context, max_length, stop, **generation_kwargs):
        """lm-eval's own generation of one batch (with the constraint once installed)."""
        return HFLM._model_generate(self, context, max_length, stop, **generation_kwargs)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs=None):
        return self.score_tokens(requests, disable_tqdm, override_bs)

    def score_tokens(self, requests, disable_tqdm: bool = False, override_bs=None):
        """lm-eval's own log-likelihood of tokenised requests."""
        return HFLM._loglikelihood_tokens(self, requests, disable_tqdm, override_bs)

    def adopt_ranks(self, rank: int, world_size: int, device: Any) -> None:
        """Rank, world size and device, which lm-eval keeps in private attributes."""
        self._rank, self._world_size, self._device = rank, world_size, device


def completions_base():
    """lm-eval's ``local-completions`` backend with its request builder under a public name
    (a function: the class needs lm-eval's API extra, imported only for ``medinj-api``)."""
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    class CompletionsBase(LocalCompletionsAPI):
        def _create_payload(self, messages, generate=False, gen_kwargs=None, **kwargs):
            return self.payload(messages, generate=generate, gen_kwargs=gen_kwargs, **kwargs)

        def payload(self, messages, generate=False, gen_kwargs=None, **kwargs):
            """lm-eval's own request body."""
            return LocalCompletionsAPI._create_payload(
                self, messages, generate=generate, gen_kwargs=gen_kwargs, **kwargs
            )

        def parse_logprobs(self, outputs, tokens=None, ctxlens=None, **kwargs):
            return self.continuation_logprobs(outputs, tokens, ctxlens)

        def continuation_logprobs(self, outputs, tokens, ctxlens) -> list[tuple[float, bool]]:
            """lm-eval's own reading of the echoed prompt's log-probabilities."""
            return LocalCompletionsAPI.parse_logprobs(outputs, tokens, ctxlens)

    return CompletionsBase


def built_once_task_manager(**kwargs: Any) -> Any:
    """lm-eval's ``TaskManager`` that builds each named task or group once and hands the same
    objects back after (a run's check, its passes and its last pass share them)."""
    from lm_eval.tasks import TaskManager

    class BuiltOnce(TaskManager):
        def _load_spec(self, spec):
            if not isinstance(spec, str):
                return super()._load_spec(spec)
            if spec not in self.built:
                self.built[spec] = super()._load_spec(spec)
            return self.built[spec]

    manager = BuiltOnce(**kwargs)
    manager.built = {}
    return manager


def run_arguments(args: list[str]) -> Any:
    """lm-eval's reading of ``lm_eval run`` arguments (an ``EvaluatorConfig``), through its
    own subcommand parser, with its logging set up as ``lm_eval`` sets it up."""
    from lm_eval._cli.run import Run
    from lm_eval.config.evaluate_config import EvaluatorConfig
    from lm_eval.utils import setup_logging

    setup_logging()
    parser = argparse.ArgumentParser(prog="lm_eval")
    Run(parser.add_subparsers(dest="command"))
    return EvaluatorConfig.from_cli(parser.parse_args(["run", *args]))


def doc_hash(doc: dict[str, Any]) -> str:
    """lm-eval's ``doc_hash`` of a logged document: sha256 of
    ``json.dumps(doc, indent=2, ensure_ascii=False)`` (non-JSON values as lm-eval writes them)."""
    from lm_eval.utils import handle_non_serializable, hash_string

    return hash_string(
        json.dumps(doc, indent=2, default=handle_non_serializable, ensure_ascii=False)
    )
