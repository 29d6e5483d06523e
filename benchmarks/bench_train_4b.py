"""Step time and peak memory of the MedInjection-FR DoRA recipe on a model of Qwen3-4B's shape.

No hub weights are needed: the model is built from a ``Qwen3Config`` with the published
Qwen3-4B dimensions (36 layers, hidden 2560, MLP 9728, 32 query / 8 key-value heads of 128,
vocabulary 151,936, tied embeddings) and random weights, in bf16. DoRA r 16 / alpha 16 on
the seven projections (peft), AdamW at lr 1e-4, per-device batch 12 of 2,048 tokens
(the recipe's), activation checkpointing on. Step time and peak memory do not depend on
the weights' values, so they stand for the real model's.

    python benchmarks/bench_train_4b.py [--steps 6] [--batch 12] [--seq-len 2048]
        [--method dora|lora] [--shape 4b|tiny] [--out benchmarks/results]

Writes ``<out>/train_<shape>_<method>_<device>.json`` and prints it. ``--shape tiny`` (2
layers, hidden 64) checks the script on a CPU; the figures that matter need a GPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

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
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build(shape: str, method: str, device: str):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, Qwen3Config

    torch.manual_seed(0)
    config = Qwen3Config(**SHAPES[shape])
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    model.gradient_checkpointing_enable()
    model.enable_input_require_grads()
    adapter = LoraConfig(r=16, lora_alpha=16, lora_dropout=0.05, target_modules=TARGETS,
                         use_dora=method == "dora", task_type="CAUSAL_LM")  # fmt: skip
    return get_peft_model(model, adapter), config


def run(args: argparse.Namespace) -> dict:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, config = build(args.shape, args.method, device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, config.vocab_size, (args.batch, args.seq_len), device=device)
    times = []
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(args.steps + args.warmup):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    return {
        "shape": args.shape,
        "method": args.method,
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor(),
        "torch": torch.__version__,
        "parameters": total,
        "trainable_parameters": trainable,
        "batch": args.batch,
        "seq_len": args.seq_len,
        "steps_timed": len(times),
        "step_seconds_median": round(step_s, 4),
        "step_seconds": [round(t, 4) for t in times],
        "tokens_per_second": round(args.batch * args.seq_len / step_s, 1),
        "peak_memory_gib": (
            round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="4b")
    parser.add_argument("--method", choices=["dora", "lora"], default="dora")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    result = run(args)
    device = "cuda" if result["peak_memory_gib"] is not None else "cpu"
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"train_{args.shape}_{args.method}_{device}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
