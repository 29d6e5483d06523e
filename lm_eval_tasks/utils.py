"""The tasks' Python module: re-exports for ``!function utils.X`` in the YAMLs (lm-eval
<= 0.4.9 only imports a module next to the YAML; the logic lives in ``medinj_eval``), and
the one place a stock ``lm_eval`` command gets medinj-eval's patches of lm-eval: lm-eval
imports this module when it loads the tasks, before it evaluates them."""

from medinj_eval.lm_eval_internals import install
from medinj_eval.metrics.aggregate import mean_ignoring_none
from medinj_eval.tasks.choices import doc_to_choice, doc_to_target, option_target, option_texts
from medinj_eval.tasks.datasets import load_benchmark
from medinj_eval.tasks.mcq import MedinjMCQTask
from medinj_eval.tasks.open_ended import MedinjOpenTask
from medinj_eval.tasks.spans import MedinjSpanTask

install()

__all__ = [
    "MedinjMCQTask",
    "MedinjOpenTask",
    "MedinjSpanTask",
    "doc_to_choice",
    "doc_to_target",
    "load_benchmark",
    "mean_ignoring_none",
    "option_target",
    "option_texts",
]
