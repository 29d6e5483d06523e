"""Training recipes: one YAML per reproducible run, with ``key.sub=value`` overrides.

Sections: ``model`` (``base``, ``dtype``, ``attn_implementation``, ``quantization``),
``adapter`` (``method`` lora|dora, ``r``, ``alpha``, ``dropout``, ``target_modules``),
``data`` (``mix``, ``size``, ``seed``, ``task_types``, ``data_dir``, ``sample`` or a prebuilt
``file``), ``training`` (any ``trl.SFTConfig`` field) and ``output_dir``.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import yaml

from medinj_eval.named_yaml import read_named_yaml
from medinj_eval.paths import training_dir
from medinj_eval.train import TrainingError

SECTIONS = {"name", "description", "source", "model", "adapter", "data", "training", "output_dir"}
MODEL_KEYS = {"base", "dtype", "attn_implementation", "quantization"}
ADAPTER_KEYS = {"method", "r", "alpha", "dropout", "target_modules"}
DATA_KEYS = {"mix", "size", "seed", "task_types", "data_dir", "sample", "file"}


def recipes_dir() -> Path:
    return training_dir() / "recipes"


MODEL_CHOICES = {
    "dtype": ("auto", "float32", "float16", "bfloat16"),
    "attn_implementation": ("auto", "eager", "sdpa", "flash_attention_2", "flex_attention"),
}
# ``training`` values the harness itself resolves before SFTConfig sees them.
HARNESS_VALUES = {"padding_free": ("auto",)}


class Origin:
    """Where a recipe value came from: the command line for overridden fields, else the file."""

    def __init__(self, path: Path, overrides: dict[str, str]) -> None:
        self.path, self.overrides = path, overrides

    def __call__(self, field: str) -> str:
        if field in self.overrides:
            return f"command line {self.overrides[field]!r} (over {self.path})"
        return str(self.path)


def load_recipe(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The recipe as a dict with ``path``; overrides ``a.b=value`` are parsed as YAML."""
    path, recipe = read_named_yaml(name_or_path, recipes_dir(), "recipe", TrainingError)
    recipe = copy.deepcopy(recipe)
    for item in overrides:
        apply_override(recipe, item, path)
    given = {item.split("=", 1)[0]: item for item in overrides}
    validate(recipe, Origin(path, given))
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


def validate(recipe: dict[str, Any], origin: Origin) -> None:
    """Unknown sections or keys and values of the wrong type or choice are errors naming the
    file (or the command line) and the field, raised before any model loads."""
    _known(recipe, SECTIONS, "", origin)
    for section, keys in (("model", MODEL_KEYS), ("adapter", ADAPTER_KEYS), ("data", DATA_KEYS)):
        if not isinstance(recipe.get(section), dict):
            raise TrainingError(f"{origin(section)}: field '{section}' must be a mapping")
        _known(recipe[section], keys, f"{section}.", origin)
    if "base" not in recipe["model"]:
        raise TrainingError(f"{origin('model.base')}: field 'model.base' is required")
    method = recipe["adapter"].get("method")
    _require(origin, "adapter.method", method, method in ("lora", "dora"), "lora or dora")
    quantization = recipe["model"].get("quantization")
    _require(origin, "model.quantization", quantization, quantization in (None, "4bit"),
             "null or 4bit")  # fmt: skip
    for key, choices in MODEL_CHOICES.items():
        value = recipe["model"].get(key, "auto")
        _require(origin, f"model.{key}", value, value in choices, f"one of {list(choices)}")
    _check_values(recipe, origin)
    training = recipe.get("training") or {}
    if not isinstance(training, dict):
        raise TrainingError(f"{origin('training')}: field 'training' must be a mapping")
    check_training_fields(training, origin)


def check_training_fields(training: dict[str, Any], origin: Origin) -> None:
    """Each ``training`` value converted by the parser ``transformers`` builds for
    ``trl.SFTConfig`` (its numeric, boolean and choice fields), as TRL's own parser would."""
    from transformers import HfArgumentParser
    from trl import SFTConfig

    actions = {a.dest: a for a in HfArgumentParser(SFTConfig)._actions}
    for key, value in training.items():
        field = f"training.{key}"
        if key not in actions:
            raise TrainingError(f"{origin(field)}: unknown field '{field}'")
        action = actions[key]
        if value is None or value in HARNESS_VALUES.get(key, ()) or action.type is None:
            continue
        if isinstance(value, (dict, list)):
            continue  # lists and mappings are checked by SFTConfig itself
        kind = _KINDS.get(getattr(action.type, "__name__", ""), "a valid value")
        if isinstance(value, bool) and action.type in (int, float):
            raise TrainingError(f"{origin(field)}: field '{field}' must be {kind}, got {value!r}")
        try:
            converted = action.type(str(value))
        except (TypeError, ValueError, argparse.ArgumentTypeError) as err:
            raise TrainingError(
                f"{origin(field)}: field '{field}' must be {kind}, got {value!r}"
            ) from err
        if action.choices and converted not in action.choices:
            choices = [getattr(c, "value", c) for c in action.choices]
            raise TrainingError(
                f"{origin(field)}: field '{field}' must be one of {choices}, got {value!r}"
            )


_KINDS = {"float": "a number", "int": "an integer", "string_to_bool": "true or false"}


def _check_values(recipe: dict[str, Any], origin: Origin) -> None:
    """Values the run would otherwise reject deep inside peft or the mix builder."""
    from medinj_eval.train.mixes import DEFAULT_TASK_TYPES, is_positive_int, mix_request_problem

    adapter, data = recipe["adapter"], recipe["data"]
    for key in ("r", "alpha"):
        value = adapter.get(key)
        _require(origin, f"adapter.{key}", value, is_positive_int(value), "a positive integer")
    dropout = adapter.get("dropout", 0.0)
    in_unit = _number(dropout) and 0 <= dropout < 1
    _require(origin, "adapter.dropout", dropout, in_unit, "a number in [0, 1)")
    modules = adapter.get("target_modules")
    names = isinstance(modules, list) and bool(modules) and all(isinstance(m, str) for m in modules)
    _require(origin, "adapter.target_modules", modules, names, "a list of module names")
    seed = data.get("seed", 0)
    _require(origin, "data.seed", seed, isinstance(seed, int) and not isinstance(seed, bool),
             "an integer")  # fmt: skip
    sample = data.get("sample", False)
    _require(origin, "data.sample", sample, isinstance(sample, bool), "true or false")
    if data.get("file"):
        return
    types = data.get("task_types") or DEFAULT_TASK_TYPES  # as the run reads it
    bad = mix_request_problem(data.get("mix"), data.get("size"), types)
    if bad:
        field, expected, value = bad
        _require(origin, f"data.{field}", value, False, expected)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require(origin: Origin, field: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise TrainingError(f"{origin(field)}: field '{field}' must be {expected}, got {value!r}")


def _known(section: dict[str, Any], allowed: set[str], prefix: str, origin: Origin) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        field = f"{prefix}{unknown[0]}"
        raise TrainingError(f"{origin(field)}: unknown field '{field}'")


def output_dir(recipe: dict[str, Any]) -> Path:
    """``output_dir`` of the recipe, else ``runs/train/<name>-<mix>``."""
    if recipe.get("output_dir"):
        return Path(recipe["output_dir"])
    name = recipe.get("name") or Path(recipe["path"]).stem
    return Path("runs") / "train" / f"{name}-{recipe['data'].get('mix', 'custom')}"
