"""Speed of medinj-eval's backends against lm-eval's stock ``--model hf``, measured in one run.

Cases on the embedded default model (run ``medinj-eval model prepare`` first):

* multi-answer log-likelihood (2^n - 1 answer sets per item): ``prefix_cache=true``
  scores each prompt's answer sets in one forward pass (the tree scorer);
* ``tree``: on real FrenchMedMCQA test items (``../shared/data``, ``--real-limit`` items),
  multi-answer log-likelihood and option-text scoring, and single-answer letter
  log-likelihood on the sample suite, each ``hf`` against ``medinj-hf`` with the tree scorer;
* a DoRA adapter (all seven projections, r 16): ``medinj-hf`` merges it into the base
  weights, ``hf`` runs it unmerged; prefix caching off, so only the merge differs
  (multi-answer tasks, at most ``--dora-limit`` items each: about 300 forward passes).

* ``vllm``: lm-eval's vLLM backend (the CPU build in ``.venv-vllm``, float32 as the model's
  config says) against ``hf``, both through ``medinj-eval run`` in a process of their own,
  on the multi-answer log-likelihood tasks and on the constrained tasks;
* ``dp``: ``medinj-eval run --data-parallel 2`` against one process.

Prints wall time of each backend and the ratio stock / ours (above 1 = ours is faster),
and checks that both chose the same answers. Whole commands are timed for the ``vllm`` and
``dp`` cases, model loading included (vLLM's engine start is part of its cost).

    python benchmarks/bench_backends.py [--case prefix|tree|dora|vllm|dp|all] [--limit N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from medinj_eval.evaluate import evaluate
from medinj_eval.runs import load_run
from medinj_eval.stats.backend_agreement import backend_agreement, pick

LOGLIK_MULTI = [
    "medinj_fr_sample_frenchmedmcqa_loglik",
    "medinj_fr_sample_mediqal_mcqm_loglik",
    "medinj_fr_sample_medinjfr_native_mcq_loglik",
]
CONSTRAINED = [
    "medinj_fr_sample_frenchmedmcqa_constrained",
    "medinj_fr_sample_mediqal_mcqu_constrained",
    "medinj_fr_sample_mediqal_mcqm_constrained",
]
VLLM_ARGS = "dtype=float32,enforce_eager=True,gpu_memory_utilization=0.3,max_model_len=2048"


LOGLIK_SINGLE = [
    "medinj_fr_sample_mediqal_mcqu_loglik",
    "medinj_fr_sample_medinjfr_native_mcqu_loglik",
    "medinj_fr_sample_medinjfr_translated_mcqu_loglik",
]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def timed(model: str, model_args: str, tasks: list[str], limit: int | None, repeat: int, **kw):
    """Best wall time over ``repeat`` runs, and the items' picks (the most likely choice, the
    parsed letter set or the text) of the last run."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = evaluate(model, model_args, tasks, limit=limit, **kw)
        best = min(best, time.perf_counter() - start)
    picks = {t: [pick(s) for s in out["samples"][t]] for t in tasks}
    return best, picks


def tree_case(base: str, real_limit: int, repeat: int) -> None:
    """The tree scorer against stock ``hf`` on real FrenchMedMCQA items and sample items."""
    real = {"metadata": {"data_dir": str(SHARED_DATA)}, "apply_chat_template": True}
    for name, tasks, limit, kw in (
        ("multi-answer loglik (real, tree)", ["frenchmedmcqa_loglik"], real_limit, real),
        ("option text (real, tree)", ["frenchmedmcqa_optiontext"], real_limit, real),
        ("letter loglik (sample, tree)", LOGLIK_SINGLE, None, {}),
    ):
        compare(
            name,
            timed("hf", base, tasks, limit, repeat, **kw),
            timed("medinj-hf", f"{base},prefix_cache=true", tasks, limit, repeat, **kw),
        )


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
    (t_stock, picks_stock), (t_ours, picks_ours) = stock, ours
    same = picks_stock == picks_ours
    print(
        f"{name:<34} hf {t_stock:7.1f} s   medinj-hf {t_ours:7.1f} s   "
        f"ratio {t_stock / t_ours:5.2f}x   same answers: {same}"
    )


def timed_command(medinj_eval: Path, out: Path, *args: str) -> tuple[float, Path]:
    """Wall time of one ``medinj-eval run`` command, and its output folder."""
    start = time.perf_counter()
    subprocess.run(
        [str(medinj_eval), "run", *args, "--apply_chat_template", "-o", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - start, out


def compare_runs(name: str, stock: tuple, ours: tuple, names: tuple[str, str]) -> None:
    """Ratio of two timed commands and whether every item got the same answer."""
    (t_stock, a), (t_ours, b) = stock, ours
    figures = backend_agreement(load_run(a), load_run(b))
    same = all(f["same_pick"] == 1.0 for f in figures.values())
    print(
        f"{name:<34} {names[0]} {t_stock:7.1f} s   {names[1]} {t_ours:7.1f} s   "
        f"ratio {t_stock / t_ours:5.2f}x   same answers: {same}"
    )


def vllm_case(tmp: Path, limit: list[str]) -> None:
    here = Path(sys.executable).parent / "medinj-eval"
    vllm = Path(".venv-vllm/bin/medinj-eval")
    if not vllm.is_file():
        print("vllm case skipped: no .venv-vllm (make vllm-env)")
        return
    for name, tasks in (("multi-answer loglik", LOGLIK_MULTI), ("constrained", CONSTRAINED)):
        common = ["--tasks", ",".join(tasks), *limit]
        compare_runs(
            f"{name} (vLLM CPU)",
            timed_command(here, tmp / f"hf-{name}", "--model", "hf", "--model_args",
                          "pretrained=default", "--batch_size", "8", *common),
            timed_command(vllm, tmp / f"vllm-{name}", "--model", "vllm", "--model_args",
                          f"pretrained=default,{VLLM_ARGS}", *common),
            ("hf", "vllm"),
        )  # fmt: skip


def data_parallel_case(tmp: Path, limit: list[str]) -> None:
    here = Path(sys.executable).parent / "medinj-eval"
    common = [
        "--model",
        "medinj-hf",
        "--model_args",
        "pretrained=default,prefix_cache=true",
        "--tasks",
        ",".join(LOGLIK_MULTI + CONSTRAINED),
        "--batch_size",
        "8",
        *limit,
    ]
    compare_runs(
        "data-parallel, 2 processes",
        timed_command(here, tmp / "dp1", *common),
        timed_command(here, tmp / "dp2", *common, "--data-parallel", "2"),
        ("1 process", "2 processes"),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="items per task (default: all)")
    parser.add_argument("--dora-limit", type=int, default=5, help="items per task, DoRA case")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--real-limit", type=int, default=100, help="real items, tree case")
    parser.add_argument(
        "--case", choices=("prefix", "tree", "dora", "vllm", "dp", "all"), default="all"
    )
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
    if args.case in ("tree", "all"):
        tree_case(base, args.real_limit, args.repeat)
    if args.case in ("dora", "all"):
        with tempfile.TemporaryDirectory() as tmp:
            peft = f"{base},peft={dora_adapter(tmp, str(model_dir()))}"
            compare(
                "DoRA adapter (merged)",
                timed("hf", peft, LOGLIK_MULTI, args.dora_limit, args.repeat),
                timed("medinj-hf", peft, LOGLIK_MULTI, args.dora_limit, args.repeat),
            )
    limit = ["--limit", str(args.limit)] if args.limit else []
    with tempfile.TemporaryDirectory() as tmp:
        if args.case in ("vllm", "all"):
            vllm_case(Path(tmp), limit)
        if args.case in ("dp", "all"):
            data_parallel_case(Path(tmp), limit)


if __name__ == "__main__":
    main()
