"""Shared fixtures: the real default model, the real ../shared data, an in-process lm-eval run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Under pytest-xdist each worker (and every command it starts) computes on one thread: two
# workers on two cores then share the machine instead of fighting over it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_threads] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # commands run in children forked from here
# Forking is safe where torch computes on one thread (an OpenMP pool does not survive fork).
FORK_COMMANDS = bool(os.environ.get("PYTEST_XDIST_WORKER")) and (
    os.environ.get("MEDINJ_TEST_SUBPROCESS") != "1"
)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


# Fixtures that bring the real default model, a server or a run built on it, or a wheel: a
# test that uses one is ``slow`` (``make test-fast`` leaves it out, as it leaves out the tests
# marked ``slow`` because they run the command line in a subprocess).
MODEL_FIXTURES = {
    "default_model", "open_run", "run_copy", "judge_server", "vllm_server", "llama_server",
    "private_llama_server", "wheel",
}  # fmt: skip


# The longest files first (measured): pytest-xdist hands out files in collection order, so a
# long file started last would keep one worker busy while the other waits.
LONGEST_FIRST = (
    "test_study.py", "test_enmed_grid.py", "test_tree_scorer.py", "test_judge_server.py",
    "test_jury.py", "test_provenance.py", "test_served_backend.py", "test_compare.py",
    "test_greedy.py", "test_data_parallel.py", "test_judge_soak.py", "test_leaderboard.py",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; fails loudly under MEDINJ_REQUIRE_SHARED=1, else skips with the reason."""
    if (SHARED_DATA / "frenchmedmcqa" / "test.json").is_file():
        return SHARED_DATA
    reason = f"real benchmark data not found at {SHARED_DATA} (CI provides ../shared)"
    if os.environ.get("MEDINJ_REQUIRE_SHARED") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def default_model() -> str:
    """Folder of the real SmolLM2-135M-Instruct (prepared once, cached)."""
    from medinj_eval.models import default_model as dm

    return str(dm.prepare(log=lambda *_: None))


def evaluate(model: str, model_args: str, tasks: list[str], limit: int | None = None, **kw):
    """lm-eval's simple_evaluate over our tasks, samples logged (see medinj_eval.evaluate)."""
    from medinj_eval.evaluate import evaluate as run

    return run(model, model_args, tasks, limit=limit, **kw)


def cli(*args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """``medinj-eval ARGS`` in a process of its own (forked from this one under
    pytest-xdist, see forked_cli); with ``check``, a failure shows its output."""
    if not FORK_COMMANDS:
        medinj_eval = Path(sys.executable).parent / "medinj-eval"
        done = subprocess.run(
            [str(medinj_eval), *args], capture_output=True, text=True, timeout=timeout
        )
    else:
        import forked_cli

        done = forked_cli.run(list(args), timeout)
    if check:
        assert done.returncode == 0, f"{args}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def cached_replies(cache: Path) -> int:
    """Replies a judge cache holds (0 before the judge created it), read without locking."""
    import sqlite3

    if not cache.exists():
        return 0
    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def built_once_per_session(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` once for the whole pytest session: under pytest-xdist the workers
    share one folder (the first builds it under a lock, the others wait and read it)."""
    from filelock import FileLock

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    shared = tmp_path_factory.getbasetemp().parent  # this session's, above each worker's
    folder = shared / name
    with FileLock(str(shared / f"{name}.lock")):
        if not (shared / f"{name}.built").is_file():
            folder.mkdir(exist_ok=True)
            build(folder)
            (shared / f"{name}.built").touch()
    return folder


def _open_run(out: Path) -> None:
    cli(
        "run", "--model", "hf", "--model_args", "pretrained=default",
        "--tasks", "medinj_fr_sample_open", "--apply_chat_template", "--batch_size", "16",
        "--gen_kwargs", "max_gen_toks=32", "--output_path", str(out),
    )  # fmt: skip


@pytest.fixture(scope="session")
def open_run(default_model, tmp_path_factory) -> Path:
    """A real run of the open-ended sample tasks (answers cut at 32 tokens to keep it short),
    made once for the session and never written into (``run_copy`` gives a private copy)."""
    return built_once_per_session(tmp_path_factory, "open-run", _open_run)


@pytest.fixture
def run_copy(open_run, tmp_path) -> Path:
    """A private copy of ``open_run`` that a test may write into."""
    import shutil

    return Path(shutil.copytree(open_run, tmp_path / "run"))


def start_server(family: str, log: Path, prompt_logprobs: bool = False):
    from servers import Server

    if family == "vllm":
        python = Path(os.environ.get("MEDINJ_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))
        if not python.is_file():
            pytest.skip(f"vLLM virtualenv not found at {python} (make vllm-env)")
    return Server(family, log, prompt_logprobs=prompt_logprobs).start()


@pytest.fixture(scope="session", params=["llama-cpp", pytest.param("vllm", marks=pytest.mark.vllm)])
def judge_server(request, default_model, tmp_path_factory):
    """A real OpenAI-compatible server on 127.0.0.1 serving the default model."""
    server = start_server(request.param, tmp_path_factory.mktemp("server") / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def vllm_server(default_model, tmp_path_factory):
    """vLLM's OpenAI-compatible server on 127.0.0.1 (CPU build, own virtualenv)."""
    server = start_server("vllm", tmp_path_factory.mktemp("vllm") / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def llama_server(default_model, tmp_path_factory):
    """llama-cpp-python's server on 127.0.0.1, serving the default model (servers.served_gguf)."""
    server = start_server("llama-cpp", tmp_path_factory.mktemp("llama") / "server.log")
    yield server
    server.stop()


@pytest.fixture
def private_llama_server(default_model, tmp_path):
    """A llama.cpp server of this test's own, which the test may kill."""
    server = start_server("llama-cpp", tmp_path / "server.log")
    yield server
    server.stop()


def make_adapter(
    base: str, folder: Path, dora: bool = False, seed: int = 0, alpha: int = 16
) -> str:
    """A real LoRA (or DoRA) adapter on ``base``, r 8 on q/v, initialised away from zero so
    that it changes the model's outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = LoraConfig(
        r=8,
        lora_alpha=alpha,
        target_modules=["q_proj", "v_proj"],
        init_lora_weights=False,
        use_dora=dora,
        task_type="CAUSAL_LM",
    )
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), config).save_pretrained(folder)
    return str(folder)
