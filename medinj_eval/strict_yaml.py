"""Configuration files read into pydantic models with unknown keys forbidden, each problem
reported as one line naming the key (a list item by its ``name``), the value and the closest
known names."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def close_hint(value: str, known: Any) -> str:
    close = difflib.get_close_matches(str(value), [str(k) for k in known], n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def validated(
    model: type[Model], data: dict[str, Any], path: Path, error: type[Exception]
) -> Model:
    """``data`` (read from ``path``) as ``model``; else ``error`` with one line naming the
    file and the first problem."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise error(f"{path}: {first_problem(err, data, model)}") from None


def first_problem(err: ValidationError, data: dict[str, Any], root: type[BaseModel]) -> str:
    """The one line for ``err``, raised validating ``data`` as ``root``."""
    # an unknown key first: a misspelt key also makes the key it stands for "missing"
    error = min(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    loc = [str(part) for part in error["loc"]]
    key = _dotted(error["loc"], data)
    if error["type"] == "extra_forbidden":
        known = _fields_at(error["loc"][:-1], root)
        return f"unknown key '{key}'{close_hint(loc[-1], known)}"
    if error["type"] == "missing":
        return f"key '{key}' is required"
    value = error.get("input")
    message = error["msg"].removeprefix("Value error, ")
    return f"key '{key}': {message}, got {value!r}"


def _dotted(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """``systems[2].train.mix``; a list item is named by its ``name`` when it has one."""
    out, node = "", data
    for part in loc:
        if isinstance(part, int):
            name = node[part].get("name") if isinstance(node[part], dict) else None
            out += f"[{name}]" if name else f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        node = node[part] if isinstance(node, (dict, list)) and _has(node, part) else {}
    return out


def _has(node: Any, part: Any) -> bool:
    return (isinstance(node, dict) and part in node) or (
        isinstance(node, list) and isinstance(part, int) and part < len(node)
    )


def _fields_at(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = _model_in(getattr(field, "annotation", None))
        if model is None:
            return []
    return [k for k in model.model_fields if k != "path"]


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside ``X``, ``list[X]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
