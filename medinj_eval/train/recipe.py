"""Training recipes: one YAML per reproducible run, with ``key.sub=value`` overrides.

Sections: ``model`` (``base``, ``dtype``, ``attn_implementation``, ``quantization``),
``adapter`` (``method`` lora|dora, ``r``, ``alpha``, ``dropout``, ``target_modules``),
``data`` (``mix``, ``size``, ``seed``, ``task_types``, ``data_dir``, ``sample`` or a prebuilt
``file``), ``training`` (any ``trl.SFTConfig`` field) and ``output_dir``.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import yaml

from medinj_eval.named_yaml import read_named_yaml, shipped_names
from medinj_eval.paths import training_dir
from medinj_eval.train import TrainingError

SECTIONS = {"name", "description", "source", "model", "adapter", "data", "training", "output_dir"}
MODEL_KEYS = {"base", "dtype", "attn_implementation", "quantization"}
ADAPTER_KEYS = {"method", "r", "alpha", "dropout", "target_modules"}
DATA_KEYS = {"mix", "size", "seed", "task_types", "data_dir", "sample", "file"}


def recipes_dir() -> Path:
    return training_dir() / "recipes"


def shipped_recipes() -> list[str]:
    return shipped_names(recipes_dir())


def load_recipe(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The recipe as a dict with ``path``; overrides ``a.b=value`` are parsed as YAML."""
    path, recipe = read_named_yaml(name_or_path, recipes_dir(), "recipe", TrainingError)
    recipe = copy.deepcopy(recipe)
    for item in overrides:
        apply_override(recipe, item, path)
    validate(recipe, path)
    recipe["path"] = str(path)
    recipe["overrides"] = list(overrides)
    return recipe


def apply_override(recipe: dict[str, Any], item: str, path: Path) -> None:
    if "=" not in item:
        raise TrainingError(f"override {item!r} must look like section.key=value")
    key, raw = item.split("=", 1)
    parts = key.split(".")
    node = recipe
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise TrainingError(f"{path}: override {key!r}: '{part}' is not a section")
    node[parts[-1]] = yaml.safe_load(raw)


def validate(recipe: dict[str, Any], path: Path) -> None:
    """Unknown sections or keys are errors naming the file and the field."""
    from trl import SFTConfig

    _known(recipe, SECTIONS, "", path)
    for section, keys in (("model", MODEL_KEYS), ("adapter", ADAPTER_KEYS), ("data", DATA_KEYS)):
        if not isinstance(recipe.get(section), dict):
            raise TrainingError(f"{path}: field '{section}' must be a mapping")
        _known(recipe[section], keys, f"{section}.", path)
    if "base" not in recipe["model"]:
        raise TrainingError(f"{path}: field 'model.base' is required")
    if recipe["adapter"].get("method") not in ("lora", "dora"):
        raise TrainingError(f"{path}: field 'adapter.method' must be lora or dora")
    _check_values(recipe, path)
    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    _known(recipe.get("training") or {}, fields, "training.", path)
    if recipe["model"].get("quantization") not in (None, "4bit"):
        raise TrainingError(f"{path}: field 'model.quantization' must be null or 4bit")


def _check_values(recipe: dict[str, Any], path: Path) -> None:
    """Values the run would otherwise reject deep inside peft or the mix builder."""
    from medinj_eval.train.mixes import DEFAULT_TASK_TYPES, is_positive_int, mix_request_problem

    adapter, data = recipe["adapter"], recipe["data"]
    for key in ("r", "alpha"):
        value = adapter.get(key)
        _require(path, f"adapter.{key}", value, is_positive_int(value), "a positive integer")
    dropout = adapter.get("dropout", 0.0)
    in_unit = _number(dropout) and 0 <= dropout < 1
    _require(path, "adapter.dropout", dropout, in_unit, "a number in [0, 1)")
    modules = adapter.get("target_modules")
    names = isinstance(modules, list) and bool(modules) and all(isinstance(m, str) for m in modules)
    _require(path, "adapter.target_modules", modules, names, "a list of module names")
    if data.get("file"):
        return
    types = data.get("task_types") or DEFAULT_TASK_TYPES  # as the run reads it
    bad = mix_request_problem(data.get("mix"), data.get("size"), types)
    if bad:
        field, expected, value = bad
        _require(path, f"data.{field}", value, False, expected)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require(path: Path, field: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise TrainingError(f"{path}: field '{field}' must be {expected}, got {value!r}")


def _known(section: dict[str, Any], allowed: set[str], prefix: str, path: Path) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise TrainingError(f"{path}: unknown field '{prefix}{unknown[0]}'")


def output_dir(recipe: dict[str, Any]) -> Path:
    """``output_dir`` of the recipe, else ``runs/train/<name>-<mix>``."""
    if recipe.get("output_dir"):
        return Path(recipe["output_dir"])
    name = recipe.get("name") or Path(recipe["path"]).stem
    return Path("runs") / "train" / f"{name}-{recipe['data'].get('mix', 'custom')}"
