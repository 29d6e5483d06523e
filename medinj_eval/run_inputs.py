"""Checks of ``medinj-eval run``'s own arguments that can fail before any model loads: the
item limit, the number of processes, and the model and adapter folders. Each problem is one
line naming the argument (and the file, for an adapter)."""

from __future__ import annotations

import json
from pathlib import Path

from medinj_eval.provenance import parse_model_args
from medinj_eval.runs import path_like

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def limit_problem(limit: str | None) -> str | None:
    """``--limit`` as lm-eval reads it: a count >= 1, or a fraction in (0, 1)."""
    if limit is None:
        return None
    try:
        value = float(limit)
    except ValueError:
        return f"--limit {limit!r} is not a number (a count of items, or a fraction below 1)"
    if value <= 0 or (value > 1 and not value.is_integer()):
        return f"--limit {limit}: give a count of items >= 1, or a fraction between 0 and 1"
    return None


def data_parallel_problem(processes: int | None) -> str | None:
    if processes is not None and processes < 1:
        return f"--data-parallel {processes}: give a number of processes >= 1"
    return None


def model_problem(model_args: str) -> str | None:
    """A local ``pretrained=`` folder that does not exist, or a ``peft=`` adapter folder
    that does not exist or holds no readable adapter."""
    pairs = parse_model_args(model_args)
    pretrained = pairs.get("pretrained", "")
    if pretrained and path_like(pretrained) and not Path(pretrained).expanduser().is_dir():
        return f"pretrained={pretrained}: no such model folder"
    adapter = pairs.get("peft", "")
    if adapter and (path_like(adapter) or Path(adapter).exists()):
        return adapter_problem(Path(adapter).expanduser())
    return None


def adapter_problem(folder: Path) -> str | None:
    """What keeps ``folder`` from being a PEFT adapter, or None."""
    if not folder.is_dir():
        return f"peft={folder}: no such adapter folder"
    config = folder / ADAPTER_CONFIG
    if not config.is_file():
        return f"peft={folder}: no {ADAPTER_CONFIG} (not a PEFT adapter folder)"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return f"{config}: not valid JSON ({err})"
    if not isinstance(data, dict) or "peft_type" not in data:
        return f"{config}: field 'peft_type' missing (not a PEFT adapter configuration)"
    if not any((folder / name).is_file() for name in ADAPTER_WEIGHTS):
        return f"peft={folder}: no adapter weights ({' or '.join(ADAPTER_WEIGHTS)})"
    return None


def argument_problems(limit: str | None, processes: int | None, model_args: str) -> list[str]:
    """Every problem of the run's arguments, in the order a user would fix them."""
    found = [limit_problem(limit), data_parallel_problem(processes), model_problem(model_args)]
    return [p for p in found if p]
