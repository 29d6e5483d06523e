"""Step time and peak memory of a training recipe (the MedInjection-FR DoRA one by default)
on a model of Qwen3-4B's shape.

No hub weights are needed: the model is built from a ``Qwen3Config`` with the published
Qwen3-4B dimensions (36 layers, hidden 2560, MLP 9728, 32 query / 8 key-value heads of 128,
vocabulary 151,936, tied embeddings) and random weights. Everything else comes from the
recipe: dtype and bf16 autocast, the adapter (method, r, alpha, dropout, target modules),
per-device batch, gradient accumulation, learning rate, activation checkpointing and
``max_length`` as the sequence length. Every sequence is full length, so the figures are
the recipe's worst case. Step time and peak memory do not depend on the weights' values,
so they stand for the real model's. One step is one optimizer step (batch x accumulation).

    PYTHONPATH=. python benchmarks/bench_train_4b.py [--recipe medinjection-dora]
        [--steps 4] [--warmup 1] [--batch B] [--grad-accum G] [--seq-len L]
        [--shape 4b|tiny] [--out benchmarks/results]

Needs torch, transformers, peft and PyYAML only (what the GPU machines already hold).
Writes ``<out>/train_<shape>_<recipe>_<device>.json`` and prints it. ``--shape tiny`` (2
layers, hidden 64) checks the script on a CPU; the figures that matter need a GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from medinj_eval.named_yaml import read_named_yaml
from medinj_eval.paths import training_dir
from medinj_eval.train.sft import peft_config

SHAPES = {
    "4b": dict(
        hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
        num_key_value_heads=8, head_dim=128, vocab_size=151936, max_position_embeddings=262144,
        rope_theta=5_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
    ),
    "tiny": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, vocab_size=1024, max_position_embeddings=4096,
        tie_word_embeddings=True,
    ),
}  # fmt: skip


def read_recipe(name: str) -> dict[str, Any]:
    """The recipe as written: ``load_recipe``'s checks need trl, which the GPU image lacks."""
    _, recipe = read_named_yaml(name, training_dir() / "recipes", "recipe", SystemExit)
    return recipe


def build(recipe: dict[str, Any], shape: str, device: str):
    """The random-weight model in the recipe's dtype with the recipe's adapter on it."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, Qwen3Config

    torch.manual_seed(0)
    config = Qwen3Config(**SHAPES[shape])
    dtype = recipe["model"].get("dtype", "bfloat16")
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(
            config, dtype=getattr(torch, "bfloat16" if dtype == "auto" else dtype),
            attn_implementation="sdpa",
        )  # fmt: skip
    model.config.use_cache = False
    if recipe["training"].get("activation_checkpointing"):
        checkpointing(model)
    return get_peft_model(model, peft_config(recipe))


def checkpointing(model) -> None:
    """Recompute activations in the backward pass (transformers renamed the method in 5.x;
    the GPU machines' image may hold an older release)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def device_name(device: str) -> str:
    import torch

    if device == "cuda":
        return torch.cuda.get_device_name()
    cpuinfo = Path("/proc/cpuinfo")
    names = [
        line.split(":", 1)[1].strip()
        for line in (cpuinfo.read_text().splitlines() if cpuinfo.is_file() else [])
        if line.startswith("model name")
    ]
    cores = f", {len(names)} cores" if names else ""
    return (names[0] if names else platform.machine()) + cores


def timed_steps(model, recipe: dict[str, Any], shape: dict, device: str) -> list[float]:
    """Seconds of each optimizer step after ``warmup`` untimed ones; each step runs
    ``grad_accum`` forward/backward passes on random full-length sequences."""
    import torch

    train = recipe["training"]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=float(train["learning_rate"]), fused=device == "cuda")
    size = (shape["batch"], shape["seq_len"])
    ids = torch.randint(0, model.config.vocab_size, size, device=device)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=bool(train.get("bf16")))
    times = []
    for step in range(shape["warmup"] + shape["steps"]):
        sync(device)
        start = time.perf_counter()
        for _ in range(shape["grad_accum"]):
            with autocast:
                loss = model(input_ids=ids, labels=ids).loss / shape["grad_accum"]
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        if step >= shape["warmup"]:
            times.append(time.perf_counter() - start)
    return times


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def peak_memory(device: str) -> dict[str, float]:
    import torch

    if device == "cuda":
        return {
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2),
        }
    # ru_maxrss is in KiB on Linux: the whole process, weights included
    return {"peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def recipe_batch(recipe: dict[str, Any]) -> tuple[int, int, int]:
    """(per-device batch, gradient accumulation, max_length) of the recipe."""
    train = recipe["training"]
    return (
        int(train["per_device_train_batch_size"]),
        int(train.get("gradient_accumulation_steps", 1)),
        int(train["max_length"]),
    )


def study_hours(recipe: dict[str, Any], step_s: float) -> float | None:
    """Hours of the recipe's whole run on one device at this step time: ``max_steps`` when
    set (it wins, as in the Trainer), else ``data.size`` examples for ``num_train_epochs``;
    every example is as long as the measured ones, so this bounds the real run from above."""
    train = recipe["training"]
    steps = int(train.get("max_steps") or 0)
    if steps <= 0:
        if "num_train_epochs" not in train or not recipe["data"].get("size"):
            return None
        batch, accumulation, _ = recipe_batch(recipe)
        steps = math.ceil(recipe["data"]["size"] / (batch * accumulation))
        steps *= train["num_train_epochs"]
    return round(steps * step_s / 3600, 1)


def run(args: argparse.Namespace) -> dict:
    import torch

    recipe = read_recipe(args.recipe)
    train = recipe["training"]
    batch, accumulation, max_length = recipe_batch(recipe)
    shape = {
        "batch": args.batch or batch,
        "grad_accum": args.grad_accum or accumulation,
        "seq_len": args.seq_len or max_length,
        "steps": args.steps,
        "warmup": args.warmup,
    }
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = build(recipe, args.shape, device)
    times = timed_steps(model, recipe, shape, device)
    step_s = statistics.median(times)
    tokens = shape["batch"] * shape["grad_accum"] * shape["seq_len"]
    measured = (shape["batch"], shape["grad_accum"], shape["seq_len"])
    as_recipe = measured == (batch, accumulation, max_length)
    return {
        "recipe": recipe.get("name", args.recipe),
        "shape": args.shape,
        "adapter": {k: recipe["adapter"][k] for k in ("method", "r", "alpha", "dropout")},
        "device": device_name(device),
        "torch": torch.__version__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        **{k: shape[k] for k in ("batch", "grad_accum", "seq_len")},
        "batch_as_recipe": as_recipe,
        "bf16_autocast": bool(train.get("bf16")),
        "activation_checkpointing": bool(train.get("activation_checkpointing")),
        "steps_timed": len(times),
        "step_seconds_median": round(step_s, 4),
        "step_seconds": [round(t, 4) for t in times],
        "tokens_per_second": round(tokens / step_s, 1),
        **peak_memory(device),
        "study_hours_upper_bound": study_hours(recipe, step_s) if as_recipe else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="medinjection-dora", help="shipped name or YAML path")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="4b")
    parser.add_argument("--steps", type=int, default=4, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed optimizer steps first")
    parser.add_argument("--batch", type=int, help="per-device batch (default: the recipe's)")
    parser.add_argument("--grad-accum", type=int, help="accumulation (default: the recipe's)")
    parser.add_argument("--seq-len", type=int, help="tokens a sequence (default: max_length)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    result = run(args)
    device = "cuda" if "peak_memory_gib" in result else "cpu"
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"train_{args.shape}_{result['recipe']}_{device}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
