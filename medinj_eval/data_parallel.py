"""``medinj-eval run --data-parallel N``: the items split over N processes, one result.

For ``hf``/``medinj-hf`` the wrapper starts itself N times under ``accelerate launch``
(gloo on the CPU, NCCL on GPUs, one process per GPU); lm-eval gives each rank every N-th
request and merges the samples and metrics on rank 0, which alone writes the results and
the manifest. lm-eval reads its rank from accelerate only when it sees several GPUs;
``medinj-hf`` takes it from accelerate on any device (see
:func:`medinj_eval.models.medinj_hf.adopt_accelerate_ranks`), so ``hf`` runs as
``medinj-hf``, which gives the same outputs. ``vllm`` gets ``data_parallel_size=N`` instead.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from medinj_eval.models.constraint_support import HF_NAMES
from medinj_eval.run_options import RunOptions


def accelerate_config(processes: int, cuda: bool) -> dict:
    """One machine, ``processes`` ranks: MULTI_GPU on CUDA, MULTI_CPU (gloo) otherwise."""
    return {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "MULTI_GPU" if cuda else "MULTI_CPU",
        "num_machines": 1,
        "num_processes": processes,
        "machine_rank": 0,
        "mixed_precision": "no",
        "use_cpu": not cuda,
        "rdzv_backend": "static",
        "same_network": True,
    }


def worker_argv(argv: list[str], options: RunOptions) -> list[str]:
    """The run's arguments without ``--data-parallel``, with one output folder for all ranks
    and ``hf`` as ``medinj-hf``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--data-parallel", "--data_parallel"):
            skip = True
        elif not arg.startswith(("--data-parallel=", "--data_parallel=")):
            out.append(arg)
    model = "medinj-hf" if options.model in HF_NAMES else options.model
    return [*out, "--model", model, "--output_path", options.output_path]


def launch(options: RunOptions, argv: list[str]) -> int:
    """Run ``medinj-eval run`` under ``accelerate launch`` with ``--data-parallel`` processes."""
    import torch

    if options.model not in (*HF_NAMES, "medinj-hf"):
        sys.exit(
            f"medinj-eval: --data-parallel splits hf/medinj-hf runs over processes; for "
            f"--model {options.model} use its own option (vllm: data_parallel_size=N, "
            "medinj-api: num_concurrent=N)"
        )
    processes = int(options.data_parallel)
    config = accelerate_config(processes, torch.cuda.is_available())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "accelerate.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        command = [
            sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(path),
            "-m", "medinj_eval.cli", "run", *worker_argv(argv, options),
        ]  # fmt: skip
        print(f"medinj-eval: {processes} data-parallel processes ({config['distributed_type']})")
        return subprocess.run(command).returncode
