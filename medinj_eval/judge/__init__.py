"""LLM-as-a-judge post-processor: logged samples -> rendered prompts -> verdicts -> aggregate.

One module per step, the samples being read by :mod:`medinj_eval.runs`: :mod:`prompts`
(templates), :mod:`backends` (OpenAI-compatible servers, in-process transformers),
:mod:`retry`, :mod:`cache` (SQLite), :mod:`verdicts` (parsing), :mod:`aggregate`,
:mod:`runner`.
"""


class JudgeError(RuntimeError):
    """The judge run cannot go on (bad prompt, unreachable server, rejected credentials)."""
