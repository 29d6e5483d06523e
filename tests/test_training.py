"""training/: data-provenance mixes, recipes, assistant-only loss and DDP under accelerate.
A real SFT run on the default model, scored, and resumed after a kill: ``test_study.py``
(the demo study trains its adapters that way)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, cli

from medinj_eval.data.errors import DataValidationError
from medinj_eval.train import TrainingError
from medinj_eval.train.mixes import build_mix
from medinj_eval.train.recipe import load_recipe, recipes_dir

SAMPLE = REPO / "lm_eval_tasks" / "medinj_fr_sample" / "data"


def test_mix_is_byte_identical_for_a_seed_with_equal_shares(tmp_path):
    for name, seed in (("a", "42"), ("b", "42"), ("c", "7")):
        cli("data", "mix", "--config", "ALL", "--size", "24", "--seed", seed, "--sample",
            "--out", str(tmp_path / f"{name}.jsonl"))  # fmt: skip
    a, b, c = ((tmp_path / f"{n}.jsonl").read_bytes() for n in "abc")
    assert a == b and a != c
    rows = [json.loads(line) for line in a.decode().splitlines()]
    assert len(rows) == 24
    report = json.loads((tmp_path / "a.jsonl.provenance.json").read_text())
    assert {s: v["total"] for s, v in report["sources"].items()} == {
        "Native": 8, "Translated": 8, "Synthetic": 8,
    }  # fmt: skip
    taken = sum(sum(v["taken"].values()) for v in report["sources"].values())
    assert taken == 24 and report["seed"] == 42 and report["config"] == "ALL"
    assert all(r["completion"][0]["role"] == "assistant" for r in rows)
    assert all(r["prompt"][-1]["role"] == "user" for r in rows)


def test_uneven_size_and_selectable_task_types():
    mix, report = build_mix("NAT-TRAD", 7, 1, ("mcqu",), SAMPLE)
    assert len(mix) == 7 and {r["task_type"] for r in mix} == {"mcqu"}
    assert report["sources"]["Native"]["total"] == 4  # first source takes the remainder
    assert report["sources"]["Translated"]["total"] == 3


def test_not_enough_data_says_how_many_are_available():
    done = cli("data", "mix", "--config", "NAT-SYN", "--size", "40", "--sample", check=False)
    assert done.returncode != 0
    assert "needs 20 examples from Native" in done.stderr
    assert "only 8 are available (mcq 4, mcqu 4)" in done.stderr
    assert "largest equal mix of these sources holds 16" in done.stderr


def test_bad_training_row_names_file_row_and_field(tmp_path):
    folder = tmp_path / "Native" / "Train" / "mcqu"
    folder.mkdir(parents=True)
    row = {"id": "x", "messages": [{"role": "system", "content": "s"},
                                   {"role": "user", "content": "q"}]}  # fmt: skip
    (folder / "mcqu_train.json").write_text(json.dumps([row]))
    with pytest.raises(DataValidationError) as err:
        build_mix("NAT", 1, 42, ("mcqu",), tmp_path)
    assert "mcqu_train.json" in str(err.value) and "row 0" in str(err.value)
    assert "'messages'" in str(err.value)


def test_medinjection_recipe_matches_the_model_card():
    recipe = load_recipe("medinjection-dora")
    assert recipe["model"]["base"] == "Qwen/Qwen3-4B-Instruct-2507"
    assert recipe["adapter"] == {
        "method": "dora", "r": 16, "alpha": 16, "dropout": 0.05,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj",
                           "gate_proj", "up_proj", "down_proj"],
    }  # fmt: skip
    t = recipe["training"]
    assert (t["num_train_epochs"], t["per_device_train_batch_size"]) == (10, 12)
    assert (t["gradient_accumulation_steps"], t["learning_rate"]) == (8, 1e-4)
    assert (t["lr_scheduler_type"], t["warmup_steps"], t["max_length"], t["seed"]) == (
        "cosine", 0.05, 2048, 42,
    )  # fmt: skip
    assert recipe["data"]["size"] == 33493
    assert load_recipe("medinjection-lora")["adapter"]["method"] == "lora"
    qlora = load_recipe("medinjection-qlora")
    assert qlora["model"]["quantization"] == "4bit"
    assert qlora["training"]["optim"].startswith("paged_adamw")


def test_overrides_and_unknown_fields(tmp_path):
    recipe = load_recipe("medinjection-dora", ["training.max_steps=3", "data.mix=NAT-SYN"])
    assert recipe["training"]["max_steps"] == 3 and recipe["data"]["mix"] == "NAT-SYN"
    with pytest.raises(TrainingError) as err:
        load_recipe("medinjection-dora", ["training.lr=0.1"])
    assert "command line 'training.lr=0.1' (over " in str(err.value)
    assert "medinjection-dora.yaml): unknown field 'training.lr'" in str(err.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {base: x}\nadapter: {method: ia3}\ndata: {}\n")
    with pytest.raises(TrainingError, match="bad.yaml: field 'adapter.method'"):
        load_recipe(str(bad))
    wrong_values = {
        "data.mix=FOO": "field 'data.mix' must be one of ['NAT', ",
        "data.task_types=[mcq,xx]": "field 'data.task_types' must be a list among",
        "data.size=0": "field 'data.size' must be a positive integer, got 0",
        "data.seed=x": "field 'data.seed' must be an integer, got 'x'",
        "data.sample=3": "field 'data.sample' must be true or false, got 3",
        "adapter.r=abc": "field 'adapter.r' must be a positive integer, got 'abc'",
        "adapter.dropout=1.5": "field 'adapter.dropout' must be a number in",
        "adapter.target_modules=q_proj": "field 'adapter.target_modules' must be a list",
        "model.dtype=float8": "field 'model.dtype' must be one of ['auto', ",
        "training.learning_rate=abc": "field 'training.learning_rate' must be a number, got 'abc'",
        "training.max_steps=1.5": "field 'training.max_steps' must be an integer, got 1.5",
        "training.per_device_train_batch_size=true": (
            "field 'training.per_device_train_batch_size' must be an integer, got True"
        ),
        "training.bf16=maybe": "field 'training.bf16' must be true or false, got 'maybe'",
        "training.lr_scheduler_type=foo": "field 'training.lr_scheduler_type' must be one of [",
        "training.save_strategy=weekly": (
            "field 'training.save_strategy' must be one of ['no', 'steps', 'epoch', 'best']"
        ),
    }
    for override, message in wrong_values.items():
        with pytest.raises(TrainingError) as err:
            load_recipe("smollm2-dora-sample", [override])
        assert f"command line {override!r} (over " in str(err.value), override
        assert f"smollm2-dora-sample.yaml): {message}" in str(err.value), override
    in_file = tmp_path / "typo.yaml"
    in_file.write_text(
        (recipes_dir() / "smollm2-dora-sample.yaml").read_text().replace("1.0e-3", "fast")
    )
    with pytest.raises(TrainingError, match="typo.yaml: field 'training.learning_rate' must be"):
        load_recipe(str(in_file))


@pytest.mark.slow
def test_a_wrong_training_value_stops_before_the_model_loads(tmp_path):
    out = tmp_path / "out"
    done = cli("train", "--recipe", "smollm2-dora-sample", "training.learning_rate=abc",
               f"output_dir={out}", check=False)  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "command line 'training.learning_rate=abc'" in done.stderr
    assert not out.exists()  # nothing left behind


@pytest.mark.slow
def test_qlora_refuses_clearly_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: QLoRA can run")
    done = cli("train", "--recipe", "medinjection-qlora", "model.base=default",
               "data.sample=true", "data.size=6", f"output_dir={tmp_path}",
               check=False)  # fmt: skip
    assert done.returncode != 0 and "QLoRA" in done.stderr and "CUDA" in done.stderr


def test_loss_is_only_on_the_assistant_turn(default_model, tmp_path):
    import datasets
    from trl import SFTTrainer

    from medinj_eval.train.sft import load_model, peft_config, sft_config

    recipe = load_recipe("smollm2-dora-sample")
    mix, _ = build_mix("ALL", 6, 42, ("mcq", "mcqu"), SAMPLE)
    model, tokenizer, _ = load_model(recipe, "sdpa")
    data = datasets.Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]}
                                       for r in mix])  # fmt: skip
    trainer = SFTTrainer(model=model, args=sft_config(recipe, tmp_path, "sdpa"),
                         train_dataset=data, processing_class=tokenizer,
                         peft_config=peft_config(recipe))  # fmt: skip
    for row, example in zip(trainer.train_dataset, mix):
        trained = [t for t, label in zip(row["input_ids"], row["labels"]) if label != -100]
        text = tokenizer.decode(trained)
        assert text.startswith(example["completion"][0]["content"])
        assert text.strip().endswith("<|im_end|>")
        assert example["prompt"][-1]["content"] not in text
        assert len(trained) < len(row["input_ids"]) / 5


@pytest.mark.slow
def test_data_parallel_launch_under_accelerate(default_model, tmp_path):
    import yaml

    from medinj_eval.paths import training_dir

    configs = training_dir() / "accelerate_configs"
    ddp = yaml.safe_load((configs / "ddp.yaml").read_text())
    fsdp = yaml.safe_load((configs / "fsdp.yaml").read_text())
    assert ddp["distributed_type"] == "MULTI_GPU" and fsdp["distributed_type"] == "FSDP"
    # the DDP config on this CPU machine: the same file with the CPU backend (gloo)
    cpu = {**ddp, "distributed_type": "MULTI_CPU", "num_processes": 2, "use_cpu": True,
           "mixed_precision": "no"}  # fmt: skip
    cpu.pop("gpu_ids")
    config = tmp_path / "ddp-cpu.yaml"
    config.write_text(yaml.safe_dump(cpu))
    out = tmp_path / "ddp"
    accelerate = Path(sys.executable).parent / "accelerate"
    done = subprocess.run(
        [str(accelerate), "launch", "--config_file", str(config), "-m", "medinj_eval.train.sft",
         "--recipe", "smollm2-dora-sample", "adapter.method=lora", "training.max_steps=2",
         "training.per_device_train_batch_size=2", f"output_dir={out}"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    # 2 processes x 2 per device: each step consumed 4 examples
    assert state["global_step"] == 2 and state["train_batch_size"] == 2
    assert (out / "adapter_config.json").is_file() and (out / "README.md").is_file()


@pytest.fixture
def bench(monkeypatch):
    """benchmarks/bench_train_4b.py as a module."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import bench_train_4b

    return bench_train_4b


@pytest.mark.slow
def test_4b_shape_benchmark_takes_its_settings_from_the_recipe(tmp_path):
    script = REPO / "benchmarks" / "bench_train_4b.py"
    for recipe in ("medinjection-dora", "medinjection-lora"):
        subprocess.run(
            [sys.executable, str(script), "--shape", "tiny", "--recipe", recipe, "--steps", "2",
             "--warmup", "0", "--batch", "2", "--seq-len", "32", "--out", str(tmp_path)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    dora = json.loads((tmp_path / "train_tiny_medinjection-dora_cpu.json").read_text())
    lora = json.loads((tmp_path / "train_tiny_medinjection-lora_cpu.json").read_text())
    assert dora["adapter"] == {"method": "dora", "r": 16, "alpha": 16, "dropout": 0.05}
    assert lora["adapter"]["method"] == "lora"
    # DoRA adds one magnitude per output feature of every adapted projection
    assert dora["trainable_parameters"] > lora["trainable_parameters"]
    # the recipe's accumulation (8) and autocast apply; the batch was shrunk, so no study estimate
    assert dora["grad_accum"] == 8 and dora["bf16_autocast"] and dora["activation_checkpointing"]
    assert not dora["batch_as_recipe"] and dora["study_hours_upper_bound"] is None
    assert dora["steps_timed"] == 2 and len(dora["step_seconds"]) == 2
    assert dora["tokens_per_second"] == pytest.approx(
        2 * 8 * 32 / dora["step_seconds_median"], rel=0.01
    )
    assert dora["peak_rss_gib"] > 0


def test_study_hours_follow_the_recipe_schedule(bench):
    recipe = bench.read_recipe("medinjection-dora")
    # ceil(33,493 / (12 x 8)) = 349 steps an epoch, 10 epochs: 3,490 steps of 36 s = 34.9 h
    assert bench.study_hours(recipe, 36.0) == 34.9
    # max_steps wins over epochs, as in the Trainer: 12 steps of 30 s
    assert bench.study_hours(bench.read_recipe("smollm2-dora-sample"), 30.0) == 0.1


def test_4b_shape_matches_qwen3_4b(bench):
    from transformers import Qwen3Config

    config = Qwen3Config(**bench.SHAPES["4b"])
    # embedding + 36 layers, tied head: about 4.0 billion parameters
    per_layer = (
        2 * config.hidden_size * config.num_attention_heads * config.head_dim
        + 2 * config.hidden_size * config.num_key_value_heads * config.head_dim
        + 3 * config.hidden_size * config.intermediate_size
    )
    total = config.vocab_size * config.hidden_size + config.num_hidden_layers * per_layer
    assert 3.9e9 < total < 4.1e9
