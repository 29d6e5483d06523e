"""Speed of ``--model medinj-hf`` against lm-eval's stock ``--model hf``, measured in one run.

Two cases on the embedded default model (run ``medinj-eval model prepare`` first):

* multi-answer log-likelihood (2^n - 1 answer sets per item): ``prefix_cache=true``
  encodes each prompt once instead of once per answer set;
* a DoRA adapter (all seven projections, r 16): ``medinj-hf`` merges it into the base
  weights, ``hf`` runs it unmerged; prefix caching off, so only the merge differs
  (multi-answer tasks, at most ``--dora-limit`` items each: about 300 forward passes).

Prints wall time of each backend and the ratio stock / ours (above 1 = we are faster),
and checks that both backends chose the same answers.

    python benchmarks/bench_backends.py [--case prefix|dora|all] [--limit N] [--repeat R]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from medinj_eval.evaluate import evaluate

LOGLIK_MULTI = [
    "medinj_fr_sample_frenchmedmcqa_loglik",
    "medinj_fr_sample_mediqal_mcqm_loglik",
    "medinj_fr_sample_medinjfr_native_mcq_loglik",
]


def timed(model: str, model_args: str, tasks: list[str], limit: int | None, repeat: int):
    """Best wall time over ``repeat`` runs, and the item scores of the last run."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = evaluate(model, model_args, tasks, limit=limit)
        best = min(best, time.perf_counter() - start)
    ems = {t: [s["em"] for s in out["samples"][t]] for t in tasks}
    return best, ems


def dora_adapter(folder: str, base: str) -> str:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = LoraConfig(
        r=16,
        lora_alpha=16,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
        init_lora_weights=False,
        use_dora=True,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), config)
    model.save_pretrained(folder)
    return folder


def compare(name: str, stock: tuple, ours: tuple) -> None:
    (t_stock, em_stock), (t_ours, em_ours) = stock, ours
    same = em_stock == em_ours
    print(
        f"{name:<34} hf {t_stock:7.1f} s   medinj-hf {t_ours:7.1f} s   "
        f"ratio {t_stock / t_ours:5.2f}x   same answers: {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="items per task (default: all)")
    parser.add_argument("--dora-limit", type=int, default=5, help="items per task, DoRA case")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--case", choices=("prefix", "dora", "all"), default="all")
    args = parser.parse_args()
    from medinj_eval.models.default_model import model_dir

    base = f"pretrained={model_dir()}"
    print(f"default model {model_dir()}; limit {args.limit}; best of {args.repeat}")
    if args.case in ("prefix", "all"):
        compare(
            "multi-answer loglik (prefix cache)",
            timed("hf", base, LOGLIK_MULTI, args.limit, args.repeat),
            timed("medinj-hf", f"{base},prefix_cache=true", LOGLIK_MULTI, args.limit, args.repeat),
        )
    if args.case in ("dora", "all"):
        with tempfile.TemporaryDirectory() as tmp:
            peft = f"{base},peft={dora_adapter(tmp, str(model_dir()))}"
            compare(
                "DoRA adapter (merged)",
                timed("hf", peft, LOGLIK_MULTI, args.dora_limit, args.repeat),
                timed("medinj-hf", peft, LOGLIK_MULTI, args.dora_limit, args.repeat),
            )


if __name__ == "__main__":
    main()
