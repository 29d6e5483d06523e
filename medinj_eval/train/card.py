"""The adapter's model card: what it was trained from, on what, and how."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from medinj_eval.train.mixes import provenance_table

HYPERPARAMETERS = (
    "num_train_epochs", "max_steps", "per_device_train_batch_size",
    "gradient_accumulation_steps", "learning_rate", "lr_scheduler_type", "warmup_steps",
    "max_length", "seed", "optim", "bf16", "padding_free", "packing", "completion_only_loss",
)  # fmt: skip


def write_model_card(
    out: Path,
    recipe: dict[str, Any],
    base: str,
    report: dict[str, Any],
    args: Any,
    metrics: dict[str, Any],
    attn: str,
) -> Path:
    """``<out>/README.md`` with YAML front matter (base model, library) and the run's facts."""
    adapter = recipe["adapter"]
    recipe_text = {k: v for k, v in recipe.items() if k not in ("path", "overrides")}
    rows = [f"| {name} | {_plain(getattr(args, name, None))} |" for name in HYPERPARAMETERS]
    base_id = hub_id(recipe["model"]["base"])
    front = {
        "base_model": base_id,
        "library_name": "peft",
        "tags": ["medinj-eval", adapter["method"], "sft", "french", "medical"],
    }
    log = out / "train_log.jsonl"
    steps = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    rates = [s["tokens_per_second"] for s in steps if s.get("tokens_per_second")]
    mix = report.get("config", "custom file")
    text = f"""---
{yaml.safe_dump(front, sort_keys=False).strip()}
---

# {recipe.get("name", "adapter")}: {adapter["method"].upper()} adapter of {base_id}

Trained by `medinj-eval train --recipe {recipe["path"]}` \
{" ".join(recipe.get("overrides") or [])} (TRL SFTTrainer, peft).
{recipe.get("description", "")}

## Base model

`{base_id}` (loaded from `{base}`), attention `{attn}`,
dtype `{recipe["model"].get("dtype", "auto")}`, quantization
`{recipe["model"].get("quantization") or "none"}`.

## Adapter

{adapter["method"]}, r {adapter["r"]}, alpha {adapter["alpha"]}, dropout {adapter.get("dropout")},
target modules {", ".join(adapter["target_modules"])}. Loss on the assistant turn only.

## Data mix

Mix `{mix}`, size {report.get("size")}, seed {report.get("seed")}, task types
{", ".join(report.get("task_types") or [])}; file `{report.get("file")}` (sha256
`{report.get("sha256")}`).

{provenance_table(report) if "sources" in report else ""}

## Hyperparameters

| name | value |
|---|---|
{chr(10).join(rows)}

## Training

Steps {metrics.get("global_step", "")} (train loss {metrics.get("train_loss")}), runtime
{metrics.get("train_runtime")} s, mean {sum(rates) / len(rates) if rates else "n/a"} tokens/s
(per-step log: `train_log.jsonl`).

## Scoring it

```
lm_eval --include_path "$(medinj-eval tasks-path)" --tasks medinj_fr --model hf \\
    --model_args pretrained={base},peft={out.resolve()} --apply_chat_template
```

## Recipe

```yaml
{yaml.safe_dump(recipe_text, sort_keys=False, allow_unicode=True).strip()}
```
"""
    path = out / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def hub_id(base: str) -> str:
    """The hub id of the base model (the embedded default's aliases resolve to its id)."""
    from medinj_eval.models.default_model import DEFAULT_ALIASES, HUB_ID

    return HUB_ID if base in DEFAULT_ALIASES else base


def _plain(value: Any) -> Any:
    """Enum members (scheduler, optimizer) by their value."""
    return getattr(value, "value", value)
