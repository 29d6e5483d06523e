"""What every medinj-eval task class shares: the item's system message as the chat system turn."""

from __future__ import annotations

from typing import Any

from lm_eval.api.registry import metric_registry, register_metric
from lm_eval.api.task import ConfigurableTask


def _passthrough(items):
    """Item scores are computed in process_results; lm-eval only needs the name registered."""
    return items


def register_item_metrics(names: tuple[str, ...]) -> None:
    """Register ``names`` so lm-eval does not look them up in HF ``evaluate`` (network)."""
    for name in names:
        if name not in metric_registry:
            register_metric(metric=name, higher_is_better=True)(_passthrough)


class MedinjTask(ConfigurableTask):
    """ConfigurableTask whose chat prompts carry the item's system message verbatim."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=config, **kwargs)
        self.meta = self.config.metadata or {}
        self._plain_description = self.config.description or ""

    def set_fewshot_seed(self, seed: int | None = None) -> None:
        """A benchmark whose protocol fixes the demonstrations' seed (``metadata.fewshot_seed``,
        written with the task's config in the results file) draws with it, whatever
        ``--seed`` says; others take lm-eval's few-shot seed."""
        fixed = self.meta.get("fewshot_seed")
        super().set_fewshot_seed(seed=fixed if fixed is not None else seed)

    def fewshot_context(self, doc: dict, num_fewshot: int, **kwargs: Any):
        """lm-eval's context, with the item's system message verbatim as the chat system turn.

        The YAML description ends with a blank line that separates the system text from the
        question in plain-text prompts; as a chat turn of its own it must not carry it.
        """
        chat = kwargs.get("apply_chat_template", False)
        plain = self._plain_description
        self.config.description = plain.rstrip() if chat else plain
        return super().fewshot_context(doc=doc, num_fewshot=num_fewshot, **kwargs)
