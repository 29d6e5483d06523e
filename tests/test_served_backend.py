"""Served models (``--model medinj-api``) against a real llama.cpp server on 127.0.0.1, and the
refusals of backends that cannot run a task: one line, before the first request."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli, start_server
from servers import Server, free_port

from medinj_eval.models.answer_language import AnswerLanguage
from medinj_eval.runs import load_run
from medinj_eval.stats.backend_agreement import agreement_table, backend_agreement

CONSTRAINED = [
    "medinj_fr_sample_frenchmedmcqa_constrained",
    "medinj_fr_sample_mediqal_mcqm_constrained",
    "medinj_fr_sample_mediqal_mcqu_constrained",
]
LOGLIK = "medinj_fr_sample_mediqal_mcqu_loglik"


def api_args(server: Server, default_model: str, family: str = "llama-cpp") -> str:
    return (
        f"model=smollm2,base_url={server.base_url}/completions,tokenizer={default_model},"
        f"server={family}"
    )


@pytest.fixture(scope="module")
def llama_server(default_model, tmp_path_factory):
    """llama-cpp-python's server keeping every prompt token's logits: echoed prompts then
    come back with their log-probabilities (the log-likelihood tasks)."""
    server = start_server(
        "llama-cpp", tmp_path_factory.mktemp("llama") / "server.log", prompt_logprobs=True
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hf_reference(default_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hf")
    cli("run", "--model", "hf", "--model_args", "pretrained=default", "--tasks",
        ",".join([*CONSTRAINED, LOGLIK]), "--limit", "12", "--apply_chat_template",
        "-o", str(out))  # fmt: skip
    return out


def test_constrained_tasks_on_a_llama_cpp_server(
    llama_server, default_model, hf_reference, tmp_path
):
    cli("run", "--model", "medinj-api", "--model_args", api_args(llama_server, default_model),
        "--tasks", ",".join(CONSTRAINED), "--limit", "12", "--apply_chat_template",
        "-o", str(tmp_path))  # fmt: skip
    run = load_run(tmp_path)
    for task in CONSTRAINED:
        assert run.results["results"][task]["valid,none"] == 1.0
        for sample in run.samples[task]:
            doc = sample["doc"]
            language = AnswerLanguage("".join(doc["letters"]), not doc["multi"])
            assert language.accepts(sample["filtered_resps"][0]), sample["filtered_resps"]
    figures = backend_agreement(load_run(hf_reference), run)
    print(
        "\nmedinj-api server=llama-cpp (the GGUF dequantised to F16) against hf\n"
        + agreement_table(figures, ("hf", "llama-cpp"))
    )
    # llama.cpp's kernels, F16 rounding and its grammar: picks are compared, not assumed equal
    assert all(f["n"] == 12 and f["same_pick"] is not None for f in figures.values())
    sent = llama_server.log.read_text(errors="replace")
    assert sent.count('"POST /v1/completions HTTP') >= 36


def test_loglik_on_a_server_with_prompt_logprobs(
    llama_server, default_model, hf_reference, tmp_path
):
    cli("run", "--model", "medinj-api", "--model_args", api_args(llama_server, default_model),
        "--tasks", LOGLIK, "--limit", "2", "--apply_chat_template",
        "-o", str(tmp_path))  # fmt: skip
    run = load_run(tmp_path)
    figures = backend_agreement(load_run(hf_reference), run)[LOGLIK]
    print(f"\nloglik through llama.cpp: {figures}")
    assert figures["n"] == 2 and figures["kind"] == "loglik"
    # llama.cpp's echo leaves out the chat template's special tokens: the continuation is
    # found from the end, so every answer gets its own (negative) log-likelihood
    for sample in run.samples[LOGLIK]:
        values = [float(r[0]) for r in sample["filtered_resps"]]
        assert all(v < 0 for v in values) and len(set(values)) == len(values)
    assert figures["same_pick"] == 1.0  # measured: 2 of 2, despite the quantised weights


def test_wrong_server_family_is_named(llama_server, default_model, tmp_path):
    done = cli("run", "--model", "medinj-api", "--model_args",
               api_args(llama_server, default_model, family="vllm"), "--tasks", CONSTRAINED[0],
               "--limit", "2", "--apply_chat_template", "-o", str(tmp_path),
               check=False)  # fmt: skip
    assert done.returncode != 0
    assert "server=vllm" in done.stderr and "server=llama-cpp" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.rglob("results_*.json"))


def test_server_without_prompt_logprobs_refuses_loglik(default_model, tmp_path):
    server = Server("llama-cpp", tmp_path / "server.log", prompt_logprobs=False).start()
    try:
        done = cli("run", "--model", "medinj-api", "--model_args",
                   api_args(server, default_model), "--tasks", LOGLIK, "--limit", "1",
                   "-o", str(tmp_path / "run"), check=False)  # fmt: skip
    finally:
        server.stop()
    assert done.returncode != 0
    line = done.stderr.strip().splitlines()[-1]
    assert LOGLIK in line and "prompt log-probabilities" in line and "--model hf" in line
    assert not list(tmp_path.rglob("results_*.json"))


def test_unreachable_server_stops_after_max_wait(default_model, tmp_path):
    args = f"model=x,base_url=http://127.0.0.1:{free_port()}/v1/completions,max_wait=3"
    started = time.monotonic()
    done = cli("run", "--model", "medinj-api", "--model_args", f"{args},tokenizer={default_model}",
               "--tasks", CONSTRAINED[0], "-o", str(tmp_path), check=False)  # fmt: skip
    assert done.returncode != 0 and time.monotonic() - started >= 3
    assert "did not answer for 3 s" in done.stderr and "nothing was scored" in done.stderr
    assert not list(tmp_path.rglob("results_*.json"))


def test_stock_lm_eval_refuses_constrained_on_an_api_backend(llama_server, default_model, tmp_path):
    """lm-eval's local-completions would send the private keys to a server that ignores them:
    an unconstrained run. The guard stops it before the first request."""
    from medinj_eval.paths import tasks_dir

    lm_eval = Path(sys.executable).parent / "lm_eval"
    done = subprocess.run(
        [str(lm_eval), "run", "--include_path", str(tasks_dir()), "--tasks", CONSTRAINED[1],
         "--model", "local-completions", "--model_args",
         f"model=smollm2,base_url={llama_server.base_url}/completions,tokenizer={default_model}",
         "--output_path", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"task {CONSTRAINED[1]} (mode constrained) cannot run on backend" in done.stderr
    assert "LocalCompletionsAPI" in done.stderr and "medinj-api" in done.stderr
    assert not list(tmp_path.rglob("results_*.json"))


@pytest.mark.parametrize("model", ["local-completions", "dummy"])
def test_medinj_eval_refuses_before_loading_a_model(model, tmp_path):
    done = cli("run", "--model", model, "--tasks", CONSTRAINED[0], "-o", str(tmp_path),
               check=False)  # fmt: skip
    assert done.returncode != 0
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"medinj-eval: task {CONSTRAINED[0]} (mode constrained)")
    assert "backends that can: hf" in line and "Initializing" not in done.stderr


def test_vllm_missing_gives_the_install_command(tmp_path):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed in this environment")
    done = cli("run", "--model", "vllm", "--tasks", CONSTRAINED[0], "-o", str(tmp_path),
               check=False)  # fmt: skip
    assert done.returncode != 0
    assert "make vllm-env" in done.stderr.strip().splitlines()[-1]


def test_unknown_server_family_is_one_line(tmp_path, default_model):
    done = cli("run", "--model", "medinj-api", "--model_args",
               "model=x,base_url=http://127.0.0.1:1/v1/completions,server=sglang",
               "--tasks", CONSTRAINED[0], "-o", str(tmp_path), check=False)  # fmt: skip
    assert done.returncode != 0
    assert "server=sglang is not a server family" in done.stderr
    assert json.dumps(done.stderr).count("Traceback") == 0
