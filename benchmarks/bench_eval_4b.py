"""Evaluation speed and peak memory of ``hf`` and ``medinj-hf`` on a model of Qwen3-4B's shape.

FrenchMedMCQA's test set (622 items, the real data: ``--data-dir`` holds
``frenchmedmcqa/test.json``) in the constrained and the log-likelihood modes. The model is
built from ``Qwen3Config`` with Qwen3-4B's dimensions and random bf16 weights (no hub
access): speed and memory do not depend on the weights' values, the answers do, so the
scores are meaningless and not reported. The tokenizer is the default model's (``--tokenizer``,
a folder), whose ids fit Qwen3's vocabulary. Both backends get the same model object.

    PYTHONPATH=. python benchmarks/bench_eval_4b.py --data-dir DIR --tokenizer DIR
        [--shape 4b|tiny] [--limit N] [--batch-size 32] [--out benchmarks/results]

Writes ``<out>/eval_<shape>_<device>.json``: per backend and mode, items/s, wall seconds
and peak memory, and whether the two backends chose the same answers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench_train_4b import SHAPES, device_name, peak_memory, sync

from medinj_eval.stats.backend_agreement import pick

TASKS = ("frenchmedmcqa_constrained", "frenchmedmcqa_loglik")
BACKENDS = {"hf": {}, "medinj-hf": {"prefix_cache": True}}


def build_model(shape: str, tokenizer_dir: str, device: str):
    """The random-weight model (bf16 on a GPU, float32 on a CPU) and the tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    dims = {**SHAPES[shape], "vocab_size": max(SHAPES[shape]["vocab_size"], len(tokenizer))}
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(Qwen3Config(**dims), dtype=dtype)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.eval(), tokenizer


def one_case(backend: str, task: str, model, tokenizer, args, device: str) -> dict:
    """Run one task on one backend; items/s over the whole evaluate() call."""
    import lm_eval
    import torch
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from medinj_eval.models.medinj_hf import MedinjHFLM
    from medinj_eval.paths import tasks_dir

    cls = MedinjHFLM if backend == "medinj-hf" else HFLM
    lm = cls(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size,
             device=device, **BACKENDS[backend])  # fmt: skip
    manager = TaskManager(include_path=str(tasks_dir()), include_defaults=False,
                          metadata={"data_dir": str(args.data_dir)})  # fmt: skip
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(model=lm, tasks=[task], task_manager=manager, limit=args.limit,
                                  log_samples=True, bootstrap_iters=0,
                                  apply_chat_template=True)  # fmt: skip
    sync(device)
    seconds = time.perf_counter() - start
    samples = out["samples"][task]
    return {
        "backend": backend,
        "task": task,
        "items": len(samples),
        "seconds": round(seconds, 2),
        "items_per_second": round(len(samples) / seconds, 2),
        **peak_memory(device),
        "answers": [pick(s) for s in sorted(samples, key=lambda s: s["doc_id"])],
    }


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="holds frenchmedmcqa/")
    parser.add_argument("--tokenizer", required=True, help="a tokenizer folder")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="4b")
    parser.add_argument("--limit", type=int, default=None, help="items (default: all 622)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, tokenizer = build_model(args.shape, args.tokenizer, device)
    cases = []
    for task in TASKS:
        for backend in BACKENDS:
            case = one_case(backend, task, model, tokenizer, args, device)
            print(f"{task:<28} {backend:<10} {case['items']} items  "
                  f"{case['items_per_second']:8.2f} items/s  {case['seconds']:8.1f} s  "
                  f"{ {k: v for k, v in case.items() if 'gib' in k} }", flush=True)  # fmt: skip
            cases.append(case)
    for task in TASKS:
        pair = [c for c in cases if c["task"] == task]
        differ = sum(a != b for a, b in zip(pair[0]["answers"], pair[1]["answers"]))
        same = differ == 0
        print(f"{task}: hf and medinj-hf chose the same answers: {same} ({differ} items differ)")
        for case in pair:
            case["same_answers_as_other_backend"] = same
            case["items_with_other_answer"] = differ
    result = {
        "shape": args.shape,
        "device": device_name(device),
        "torch": torch.__version__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch_size": args.batch_size,
        "cases": [{k: v for k, v in c.items() if k != "answers"} for c in cases],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"eval_{args.shape}_{device}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
