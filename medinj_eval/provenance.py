"""What a run was made of: the model's identity, the data files read, versions, seeds and
the machine. ``medinj-eval run`` writes it as ``manifest.json`` beside lm-eval's results,
keys its request cache by the model's identity, and ``compare``, ``report`` and
``leaderboard submit`` read it back.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from medinj_eval.hashing import json_sha256, sha256_file

MANIFEST = "manifest.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def folder_sha256(folder: str | Path, suffixes: tuple[str, ...] | None = None) -> str:
    """sha256 over the relative names and sha256 of the folder's files (those ending in one
    of ``suffixes`` when given), in sorted order. Large files are hashed once per
    (path, size, mtime) and remembered in ``<cache>/file-sha256.json``."""
    root = Path(folder)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        if suffixes is None or path.name.endswith(suffixes):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(_remembered_sha256(path).encode())
    return digest.hexdigest()


def _remembered_sha256(path: Path) -> str:
    from medinj_eval.paths import cache_dir

    stat = path.stat()
    if stat.st_size < 64 << 20:
        return sha256_file(path)
    memo_path = cache_dir() / "file-sha256.json"
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    if key not in memo:
        memo[key] = sha256_file(path)
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        partial = memo_path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(memo), encoding="utf-8")
        partial.replace(memo_path)
    return memo[key]


def parse_model_args(model_args: str | dict[str, Any] | None) -> dict[str, str]:
    """lm-eval's ``--model_args`` (``k=v,k=v`` string, or the dict it records) as a dict."""
    if isinstance(model_args, dict):
        return {k: str(v) for k, v in model_args.items()}
    return dict(kv.split("=", 1) for kv in str(model_args or "").split(",") if "=" in kv)


def hub_commit(model_id: str, revision: str | None) -> str | None:
    """The commit of ``model_id`` at ``revision`` in the local hub cache, if it is there."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model_id, "config.json", revision=revision)
    except Exception:  # noqa: BLE001  an id that is no hub id, or no hub library: unknown
        return None
    return Path(found).parent.name if isinstance(found, str) else None


def base_model_identity(pretrained: str, revision: str | None) -> dict[str, Any]:
    """The base model by name and version: the hub id with its revision and commit, or, for
    a local folder, its weights' sha256 (and the hub id it stands for, for the default)."""
    from medinj_eval.models import default_model

    identity: dict[str, Any] = {"base_model": pretrained, "revision": revision}
    if Path(pretrained).is_dir():
        identity["local_path"] = pretrained
        identity["weights_sha256"] = folder_sha256(pretrained, WEIGHT_SUFFIXES)
        if Path(pretrained).resolve() == default_model.model_dir().resolve():
            identity["base_model"] = default_model.HUB_ID
            identity["revision"] = f"{default_model.WHEEL_REQUIREMENT} GGUF, dequantised"
        else:
            identity["base_model"] = None
    else:
        identity["commit"] = hub_commit(pretrained, revision)
    return identity


def model_identity(model: str, model_args: str | dict[str, Any]) -> dict[str, Any]:
    """Everything that decides a model's outputs: the backend, the resolved arguments, the
    base model's revision or weights' sha256, and the adapter's sha256."""
    args = parse_model_args(model_args)
    identity: dict[str, Any] = {"backend": model, "model_args": args}
    pretrained = args.get("pretrained") or args.get("model")
    if pretrained:
        identity.update(base_model_identity(pretrained, args.get("revision")))
    adapter = args.get("peft") or args.get("lora_local_path")
    if adapter:
        identity["adapter"] = adapter
        identity["adapter_name"] = Path(adapter).name
        is_folder = Path(adapter).is_dir()
        identity["adapter_sha256"] = folder_sha256(adapter) if is_folder else None
    return identity


def request_cache_prefix(cache_dir: str, identity: dict[str, Any]) -> str:
    """The path lm-eval's ``--use_cache`` takes, made distinct per model: lm-eval keys a
    cached request by the request alone, never by the model or the adapter."""
    return str(Path(cache_dir) / f"model-{json_sha256(identity)[:20]}")


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine(model_args: dict[str, str], device: str | None) -> dict[str, Any]:
    """CPU or GPU, the device asked for and the dtype."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "device": device or "default",
        "dtype": model_args.get("dtype", "auto"),
        "gpu": None,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            name = torch.cuda.get_device_name(0)
            info["gpu"] = f"{name} x{torch.cuda.device_count()}"
    except ImportError:
        pass
    return info


def hardware(info: dict[str, Any]) -> str:
    """One line: the GPUs, else the CPU and its core count."""
    return info.get("gpu") or f"CPU {info.get('cpu')}, {info.get('cpu_count')} cores"


def build_manifest(
    *,
    results_file: Path,
    model: str,
    model_args: str,
    data_files: list[dict[str, Any]],
    seeds: str,
    device: str | None,
    argv: list[str],
    limit: str | None,
) -> dict[str, Any]:
    identity = model_identity(model, model_args)
    return {
        "schema_version": 1,
        "results_file": results_file.name,
        "versions": {
            "medinj-eval": package_version("medinj-eval"),
            "lm_eval": package_version("lm_eval"),
            "transformers": package_version("transformers"),
            "peft": package_version("peft"),
            "torch": package_version("torch"),
        },
        "model": identity,
        "data_files": data_files,
        "seeds": seeds,
        "limit": limit,
        "command": ["medinj-eval", *argv],
        "machine": machine(identity["model_args"], device),
    }


def write_manifest(manifest: dict[str, Any], folder: Path) -> Path:
    path = folder / MANIFEST
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    partial.replace(path)
    return path


def read_manifest(results_file: Path) -> dict[str, Any] | None:
    """The manifest beside ``results_file`` when it describes that results file."""
    path = results_file.parent / MANIFEST
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return manifest if manifest.get("results_file") == results_file.name else None


def manifest_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between two runs besides the model: data files, versions, seeds, limit."""
    out = []
    data_a = sorted(f["sha256"] for f in a.get("data_files", []))
    data_b = sorted(f["sha256"] for f in b.get("data_files", []))
    if data_a != data_b:
        out.append("data files (sha256)")
    for name, value in (a.get("versions") or {}).items():
        other = (b.get("versions") or {}).get(name)
        if value != other:
            out.append(f"{name} version ({value} vs {other})")
    for key in ("seeds", "limit"):
        if a.get(key) != b.get(key):
            out.append(f"{key} ({a.get(key)} vs {b.get(key)})")
    return out
