"""One real completion from the test extra's llama-cpp-python, in a child process, before the
tests start: a build tuned for another CPU dies here (SIGSEGV) instead of in every judge
test. Exit 1 with the fix in one line when it fails."""

from __future__ import annotations

import subprocess
import sys

COMPLETION = """
from llama_cpp import Llama
from medinj_eval.models import default_model
llm = Llama(model_path=str(default_model.gguf_path()), n_ctx=256, verbose=False)
print(repr(llm.create_completion("Bonjour", max_tokens=3)["choices"][0]["text"]))
"""

FIX = (
    "llama-cpp-python cannot complete on this CPU ({why}): rebuild it portable with "
    "`rm .venv/.test-deps && make test` (the Makefile's LLAMA_CMAKE_ARGS: -DGGML_NATIVE=OFF)"
)


def main() -> int:
    done = subprocess.run(
        [sys.executable, "-c", COMPLETION], capture_output=True, text=True, timeout=300
    )
    if done.returncode == 0:
        print(f"llama-cpp-python completes on this CPU: {done.stdout.strip()}")
        return 0
    why = f"signal {-done.returncode}" if done.returncode < 0 else done.stderr.strip()[-200:]
    print(FIX.format(why=why), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
