"""``medinj-eval ARGS`` in a child forked from the test process, which has already imported
torch, transformers and lm-eval: a process of its own (its exit code, its stdout and stderr,
its globals and its crashes stay its own) without the seconds of imports a new interpreter
pays on every command.

The child starts from a clean slate where the parent's test harness would leak in: its
standard streams are new files on the pipes' descriptors (pytest replaces ``sys.stdout``
with capture objects), the root logger has no handler (as in a new interpreter, so the
commands' own logging setup applies), and it leaves with ``os._exit`` (the parent's exit
handlers are not its own). Used under pytest-xdist, whose workers compute on one thread;
``MEDINJ_TEST_SUBPROCESS=1`` runs the console script instead.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback

PRELOADED = (
    "torch", "transformers", "lm_eval", "lm_eval.evaluator", "lm_eval.models.huggingface",
    "openai", "medinj_eval.cli", "medinj_eval.run_job", "medinj_eval.judge.runner",
)  # fmt: skip


def preload() -> None:
    """Import what the commands import, once per test process."""
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)


def run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """The command's exit code, stdout and stderr, as ``subprocess.run`` gives them."""
    preload()
    sys.stdout.flush()
    sys.stderr.flush()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(out_r)
        os.close(err_r)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os._exit(_child(args))
    os.close(out_w)
    os.close(err_w)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    readers = [threading.Thread(target=_drain, args=(fd, chunks[fd])) for fd in chunks]
    for reader in readers:
        reader.start()
    code = _wait(pid, timeout, args)
    for reader in readers:
        reader.join()
    stdout, stderr = (b"".join(chunks[fd]).decode("utf-8", "replace") for fd in (out_r, err_r))
    return subprocess.CompletedProcess(["medinj-eval", *args], code, stdout, stderr)


def _drain(fd: int, into: list[bytes]) -> None:
    with os.fdopen(fd, "rb") as pipe:
        while chunk := pipe.read(65536):
            into.append(chunk)


def _wait(pid: int, timeout: float, args: list[str]) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired(["medinj-eval", *args], timeout)
        time.sleep(0.02)


def _child(args: list[str]) -> int:
    sys.stdin = open(os.devnull)  # noqa: SIM115  the child's whole life
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), "utf-8", line_buffering=True)
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), "utf-8", "backslashreplace", line_buffering=True
    )
    sys.argv = ["medinj-eval", *args]
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    for logger in logging.Logger.manager.loggerDict.values():
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            ):
                handler.setStream(sys.stderr)
    code = 0
    try:
        from medinj_eval.cli import main

        main(list(args))
    except SystemExit as end:
        if end.code is None:
            code = 0
        elif isinstance(end.code, int):
            code = end.code
        else:
            print(end.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001  a crash: its traceback, as the interpreter prints it
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code
