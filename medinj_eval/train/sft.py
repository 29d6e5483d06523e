"""``medinj-eval train --recipe R [section.key=value ...]``: SFT of a LoRA/DoRA adapter with
TRL's SFTTrainer and peft. Also ``python -m medinj_eval.train.sft`` for ``accelerate launch``.

Thin on purpose: the recipe holds the run, TRL does the training. What this adds: the data
mix (built and written beside the adapter), loss on the assistant turn only (the data are
prompt-completion pairs), padding-free batching where the attention kernel supports it,
resuming from the last complete checkpoint, the per-step log and the model card.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from medinj_eval.train import TrainingError

CHECKPOINT_FILES = ("trainer_state.json",)


def last_complete_checkpoint(out: Path) -> str | None:
    """The newest ``checkpoint-N`` whose trainer state was written (saved last: a checkpoint
    cut short by a kill has none and is skipped)."""
    found = []
    for path in out.glob("checkpoint-*"):
        step = path.name.rsplit("-", 1)[-1]
        if step.isdigit() and all((path / f).is_file() for f in CHECKPOINT_FILES):
            found.append((int(step), path))
    return str(max(found)[1]) if found else None


def training_data(recipe: dict[str, Any], out: Path) -> tuple[list[dict], dict[str, Any]]:
    """The examples: a prebuilt JSONL (``data.file``) or the recipe's mix, written to
    ``<out>/data/``."""
    from medinj_eval.paths import sample_data_dir
    from medinj_eval.train.mixes import DEFAULT_TASK_TYPES, build_mix, write_mix

    data = recipe["data"]
    if data.get("file"):
        path = Path(data["file"])
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        provenance = path.with_name(path.name + ".provenance.json")
        report = json.loads(provenance.read_text()) if provenance.is_file() else {"file": str(path)}
        return rows, report
    data_dir = sample_data_dir() if data.get("sample") else data.get("data_dir")
    mix, report = build_mix(
        data["mix"],
        int(data["size"]),
        int(data.get("seed", 42)),
        tuple(data.get("task_types") or DEFAULT_TASK_TYPES),
        data_dir,
    )
    name = f"mix-{data['mix']}-{data['size']}-seed{data.get('seed', 42)}.jsonl"
    return mix, write_mix(mix, report, out / "data" / name)


def attention(recipe: dict[str, Any]) -> str:
    """``model.attn_implementation``; ``auto`` = FlashAttention 2 when installed on a GPU."""
    import importlib.util

    import torch

    chosen = recipe["model"].get("attn_implementation", "auto")
    if chosen != "auto":
        return chosen
    has_flash = importlib.util.find_spec("flash_attn") is not None
    return "flash_attention_2" if has_flash and torch.cuda.is_available() else "sdpa"


def sft_config(recipe: dict[str, Any], out: Path, attn: str):
    """``trl.SFTConfig`` from the recipe's ``training`` section plus what the harness needs."""
    from trl import SFTConfig

    training = dict(recipe.get("training") or {})
    # Padding-free batches keep samples apart only under FlashAttention's varlen kernels.
    if training.get("padding_free", "auto") == "auto":
        training["padding_free"] = attn.startswith("flash")
    training.setdefault("report_to", "none")
    training.setdefault("include_num_input_tokens_seen", "non_padding")
    training.setdefault("completion_only_loss", True)
    return SFTConfig(output_dir=str(out), **training)


def load_model(recipe: dict[str, Any], attn: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medinj_eval.models.default_model import resolve_pretrained

    model_cfg = recipe["model"]
    base = resolve_pretrained(model_cfg["base"])
    dtype = model_cfg.get("dtype", "auto")
    kwargs: dict[str, Any] = {"attn_implementation": attn}
    kwargs["dtype"] = dtype if dtype == "auto" else getattr(torch, dtype)
    if model_cfg.get("quantization") == "4bit":
        kwargs["quantization_config"] = four_bit_config(dtype)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    if model_cfg.get("quantization") == "4bit":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    return model, tokenizer, base


def four_bit_config(dtype: str):
    """QLoRA's NF4 with double quantisation (bitsandbytes, CUDA only)."""
    import importlib.util

    import torch
    from transformers import BitsAndBytesConfig

    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise TrainingError("QLoRA (model.quantization: 4bit) needs a CUDA GPU and bitsandbytes")
    compute = torch.bfloat16 if dtype in ("auto", "bfloat16") else getattr(torch, dtype)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )


def peft_config(recipe: dict[str, Any]):
    """The one place that builds the adapter config (``use_dora`` for DoRA)."""
    from peft import LoraConfig

    adapter = recipe["adapter"]
    return LoraConfig(
        r=int(adapter["r"]),
        lora_alpha=int(adapter["alpha"]),
        lora_dropout=float(adapter.get("dropout", 0.0)),
        target_modules=list(adapter["target_modules"]),
        use_dora=adapter["method"] == "dora",
        task_type="CAUSAL_LM",
    )


def train(recipe: dict[str, Any]) -> Path:
    """Run the recipe; return the adapter folder (resumes when checkpoints are there)."""
    import datasets
    from accelerate import PartialState
    from trl import SFTTrainer

    from medinj_eval.train.callbacks import StepLog
    from medinj_eval.train.card import write_model_card
    from medinj_eval.train.recipe import output_dir

    out = output_dir(recipe)
    state = PartialState()
    with state.main_process_first():
        out.mkdir(parents=True, exist_ok=True)
        rows, report = training_data(recipe, out)
    dataset = datasets.Dataset.from_list(
        [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
    )
    attn = attention(recipe)
    model, tokenizer, base = load_model(recipe, attn)
    args = sft_config(recipe, out, attn)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config(recipe),
        callbacks=[StepLog(out / "train_log.jsonl")] if state.is_main_process else [],
    )
    resume = last_complete_checkpoint(out)
    if resume and state.is_main_process:
        print(f"medinj-eval train: resuming from {resume}")
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out))
    if state.is_main_process:
        tokenizer.save_pretrained(str(out))
        metrics = {**result.metrics, "global_step": result.global_step}
        write_model_card(out, recipe, base, report, args, metrics, attn)
        print(f"medinj-eval train: adapter and model card in {out}")
        print(
            "score it: medinj-eval run --model hf "
            f"--model_args pretrained={recipe['model']['base']},peft={out} --tasks medinj_fr"
        )
    return out


def main(argv: list[str] | None = None) -> None:
    import argparse

    from medinj_eval.train.recipe import load_recipe

    parser = argparse.ArgumentParser(prog="medinj-eval train", description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", required=True, help="shipped recipe name or YAML path")
    parser.add_argument("overrides", nargs="*", help="section.key=value (YAML values)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        train(load_recipe(args.recipe, args.overrides))
    except TrainingError as err:
        sys.exit(f"medinj-eval train: {err}")


if __name__ == "__main__":
    main()
