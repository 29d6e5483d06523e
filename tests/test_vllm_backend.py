"""lm-eval's vLLM backend on every protocol, against ``--model hf`` on the same weights.

vLLM's CPU build runs in its own virtualenv (``make vllm-env``); these tests call its
``lm_eval`` and ``medinj-eval`` as a user would. Opt-in marker ``vllm`` (``make test-vllm``).
The agreement figures are printed and written to ``$MEDINJ_AGREEMENT_OUT`` when set.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, cli, make_adapter

from medinj_eval.paths import sample_data_dir
from medinj_eval.runs import load_run
from medinj_eval.stats.backend_agreement import agreement_table, backend_agreement
from medinj_eval.tasks.stubs import leaf_tasks

pytestmark = pytest.mark.vllm

# float32 as in the model's config: vLLM's CPU build would otherwise run it in bfloat16
VLLM_ARGS = "dtype=float32,enforce_eager=True,gpu_memory_utilization=0.3,max_model_len=2048"
VARIANTS = [
    "frenchmedmcqa_constrained_3shot",
    "frenchmedmcqa_loglik_5shot",
    "frenchmedmcqa_greedy_perm1",
    "frenchmedmcqa_constrained_pooled",
    "frbmedqa",
    "medinj_fr_sample_open",
]


@pytest.fixture(scope="module")
def vllm_bin() -> Path:
    python = Path(os.environ.get("MEDINJ_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))
    if not python.is_file():
        pytest.skip(f"vLLM virtualenv not found at {python} (make vllm-env)")
    return python.parent


def vllm_cli(vllm_bin: Path, program: str, *args: str, timeout: int = 1800):
    done = subprocess.run(
        [str(vllm_bin / program), *args], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def hf_sample(default_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hf-sample")
    cli("run", "--model", "hf", "--model_args", "pretrained=default", "--tasks",
        "medinj_fr_sample", "--apply_chat_template", "--batch_size", "8",
        "-o", str(out))  # fmt: skip
    return out


def report(name: str, figures: dict) -> None:
    print(f"\n{name}\n{agreement_table(figures, ('hf', 'vllm'))}")
    target = os.environ.get("MEDINJ_AGREEMENT_OUT")
    if target:
        path = Path(target)
        known = json.loads(path.read_text()) if path.is_file() else {}
        path.write_text(json.dumps({**known, name: figures}, indent=2, ensure_ascii=False))


def test_stock_lm_eval_vllm_agrees_with_hf_on_the_sample_suite(vllm_bin, hf_sample, tmp_path):
    tasks_path = vllm_cli(vllm_bin, "medinj-eval", "tasks-path").stdout.strip()
    model = vllm_cli(vllm_bin, "medinj-eval", "model", "path").stdout.strip()
    vllm_cli(vllm_bin, "lm_eval", "run", "--include_path", tasks_path, "--tasks",
             "medinj_fr_sample", "--model", "vllm", "--model_args",
             f"pretrained={model},{VLLM_ARGS}", "--apply_chat_template", "--log_samples",
             "--output_path", str(tmp_path))  # fmt: skip
    figures = backend_agreement(load_run(hf_sample), load_run(tmp_path))
    report("sample suite, stock lm_eval --model vllm", figures)
    assert sorted(figures) == sorted(leaf_tasks("medinj_fr_sample"))
    for task, f in figures.items():
        if f["kind"] == "loglik":
            assert f["same_pick"] == 1.0, (task, f["differences"])
        elif task.endswith("_greedy"):
            assert f["same_output"] == 1.0, (task, f["differences"])
        else:
            assert f["valid_a"] == f["valid_b"] == 1.0, task
            assert f["same_pick"] >= 0.95, (task, f["differences"])


def test_medinj_eval_run_vllm_runs_the_variants_and_open_tasks(vllm_bin, tmp_path):
    data = str(sample_data_dir())
    vllm_cli(vllm_bin, "medinj-eval", "run", "--model", "vllm", "--model_args",
             f"pretrained=default,{VLLM_ARGS}", "--tasks", ",".join(VARIANTS), "--metadata",
             json.dumps({"data_dir": data}), "--limit", "4", "--apply_chat_template",
             "--gen_kwargs", "max_gen_toks=32", "-o", str(tmp_path))  # fmt: skip
    results = load_run(tmp_path).results["results"]
    for task in ("3shot", "perm1", "perm2", ""):
        assert results[f"frenchmedmcqa_constrained{'_' * bool(task)}{task}"]["valid,none"] == 1.0
    assert results["frenchmedmcqa_constrained_pooled"]["sample_count"] == {"em,none": 12}
    assert "acc,none" in results["frbmedqa"]
    assert "rougeL,none" in results["medinj_fr_sample_mediqal_oeq"]
    assert (tmp_path / "manifest.json").is_file() or list(tmp_path.glob("*/manifest.json"))


@pytest.mark.parametrize("kind", ["lora", "dora"])
def test_adapters_on_vllm_agree_with_hf(vllm_bin, default_model, kind, tmp_path):
    # a seed of this session's own: the DoRA merge is cached by the adapter's sha256
    adapter = make_adapter(default_model, tmp_path / kind, dora=kind == "dora", seed=os.getpid())
    task = "medinj_fr_sample_mediqal_mcqu_loglik"
    common = ["--tasks", task, "--limit", "8", "--apply_chat_template"]
    cli("run", "--model", "hf", "--model_args", f"pretrained=default,peft={adapter}",
        *common, "-o", str(tmp_path / "hf"))  # fmt: skip
    logs = []
    for attempt in ("first", "second"):
        done = vllm_cli(vllm_bin, "medinj-eval", "run", "--model", "vllm", "--model_args",
                        f"pretrained=default,peft={adapter},{VLLM_ARGS}", *common,
                        "-o", str(tmp_path / attempt))  # fmt: skip
        logs.append(done.stdout + done.stderr)
    figures = backend_agreement(load_run(tmp_path / "hf"), load_run(tmp_path / "first"))
    report(f"{kind} adapter, medinj-eval run --model vllm", figures)
    assert figures[task]["same_pick"] == 1.0
    base = backend_agreement(load_run(tmp_path / "first"), load_run(tmp_path / "second"))
    assert base[task]["same_pick"] == 1.0
    if kind == "dora":
        assert "merging" in logs[0] and "merging" not in logs[1]
        assert "using the merged model" in logs[1]
    else:
        assert "lora_local_path" in logs[0] and "merg" not in logs[0]


def test_medinj_api_against_a_vllm_server(vllm_server, default_model, tmp_path):
    tasks = "medinj_fr_sample_mediqal_mcqm_constrained,medinj_fr_sample_mediqal_mcqu_loglik"
    hf = tmp_path / "hf"
    cli("run", "--model", "hf", "--model_args", "pretrained=default", "--tasks", tasks,
        "--apply_chat_template", "-o", str(hf))  # fmt: skip
    tmp_path = tmp_path / "api"
    cli("run", "--model", "medinj-api", "--model_args",
        f"model=smollm2,base_url={vllm_server.base_url}/completions,tokenizer={default_model},"
        "server=vllm", "--tasks", tasks, "--apply_chat_template", "-o", str(tmp_path))  # fmt: skip
    figures = backend_agreement(load_run(hf), load_run(tmp_path))
    report("medinj-api server=vllm", figures)
    constrained = figures["medinj_fr_sample_mediqal_mcqm_constrained"]
    assert constrained["valid_b"] == 1.0 and constrained["same_pick"] >= 0.95
    assert figures["medinj_fr_sample_mediqal_mcqu_loglik"]["same_pick"] == 1.0
