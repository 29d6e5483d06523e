"""Judge prompts: YAML files holding a system and a user Jinja2 template and the verdict spec.

A prompt file holds ``name``, ``system``, ``user``, ``verdict`` (``kind`` and, for scales
and dimensions, ``min``, ``max``, ``dimensions``), ``max_tokens``, ``runs`` and optional
``params`` (extra request parameters). Templates render in a ``SandboxedEnvironment`` with
``StrictUndefined``: a template cannot reach Python internals, and a misspelt variable is an
error, not an empty string. Variables: ``question`` (the user turn the model saw),
``reference``, ``candidate``, ``doc`` (the whole logged document). The ``fence(tag)`` filter
puts untrusted text between ``<tag>`` and ``</tag>`` lines after defusing any copy of those
tags inside it, so a candidate answer cannot close its block and pose as instructions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from medinj_eval.hashing import json_sha256
from medinj_eval.judge import JudgeError
from medinj_eval.named_yaml import read_named_yaml, shipped_names
from medinj_eval.paths import judge_prompts_dir

VERDICT_KINDS = ("binary", "scale", "dimensions")


def fence(text: Any, tag: str) -> str:
    """``text`` between ``<tag>`` / ``</tag>`` lines; copies of the tags inside are defused."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", tag):
        raise JudgeError(f"fence tag {tag!r} must be a plain identifier")
    body = re.sub(rf"<\s*/?\s*{re.escape(tag)}\s*>", f"[{tag} tag removed]", str(text), flags=re.I)
    return f"<{tag}>\n{body}\n</{tag}>"


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False)
    env.filters["fence"] = fence
    return env


@dataclass(frozen=True)
class VerdictSpec:
    """What the judge must answer: ``binary`` (0/1), ``scale`` (min..max) or ``dimensions``."""

    kind: str
    minimum: int = 0
    maximum: int = 1
    dimensions: tuple[str, ...] = ()

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of a well-formed verdict, for servers' structured output."""
        # An enum, not minimum/maximum: llama.cpp's grammar ignores numeric bounds.
        integer = {"type": "integer", "enum": list(range(self.minimum, self.maximum + 1))}
        if self.kind == "dimensions":
            return {
                "type": "object",
                "properties": {d: integer for d in self.dimensions},
                "required": list(self.dimensions),
                "additionalProperties": False,
            }
        if self.kind == "binary":
            return integer
        return {
            "type": "object",
            "properties": {"rating": integer},
            "required": ["rating"],
            "additionalProperties": False,
        }


@dataclass(frozen=True)
class JudgePrompt:
    """A loaded prompt file; ``render`` gives the chat messages of one sample."""

    name: str
    path: Path
    system: str
    user: str
    verdict: VerdictSpec
    max_tokens: int = 16
    runs: int = 1
    description: str = ""
    source: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, variables: dict[str, Any]) -> list[dict[str, str]]:
        env = _environment()
        try:
            system = env.from_string(self.system).render(**variables).strip()
            user = env.from_string(self.user).render(**variables).strip()
        except TemplateError as err:
            raise JudgeError(f"{self.path}: cannot render: {err}") from err
        messages = [{"role": "system", "content": system}] if system else []
        return messages + [{"role": "user", "content": user}]

    def sha256(self) -> str:
        """Digest of the prompt file's templates and settings (written with every verdict)."""
        return json_sha256(
            [self.system, self.user, self.verdict.__dict__, self.max_tokens, self.runs, self.params]
        )


def builtin_prompts() -> list[str]:
    return shipped_names(judge_prompts_dir())


def load_prompt(name_or_path: str) -> JudgePrompt:
    """A shipped prompt by name (``medinjection-binary``) or a user's YAML file by path."""
    path, raw = read_named_yaml(name_or_path, judge_prompts_dir(), "judge prompt", JudgeError)
    for key in ("user", "verdict"):
        if key not in raw:
            raise JudgeError(f"{path}: missing field '{key}'")
    return JudgePrompt(
        name=str(raw.get("name") or path.stem),
        path=path,
        system=str(raw.get("system") or ""),
        user=str(raw["user"]),
        verdict=_verdict(raw["verdict"], path),
        max_tokens=_positive_int(raw, "max_tokens", 16, path),
        runs=_positive_int(raw, "runs", 1, path),
        description=str(raw.get("description") or ""),
        source=str(raw.get("source") or ""),
        params=_params(raw.get("params"), path),
    )


def _positive_int(raw: dict[str, Any], key: str, default: int, path: Path) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise JudgeError(f"{path}: field '{key}' must be a whole number >= 1, got {value!r}")
    return value


def _int_field(raw: dict[str, Any], key: str, default: int, path: Path) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise JudgeError(f"{path}: field 'verdict.{key}' must be a whole number, got {value!r}")
    return value


def _params(raw: Any, path: Path) -> dict[str, Any]:
    """Extra request parameters (``top_p``, ``stop``...) sent with every judge call."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise JudgeError(f"{path}: field 'params' must be a mapping of request parameters")
    reserved = {"model", "messages", "temperature", "max_tokens", "seed", "response_format"}
    clash = sorted(reserved & set(raw))
    if clash:
        raise JudgeError(f"{path}: field 'params' cannot set {clash} (set by the judge itself)")
    return dict(raw)


def _verdict(raw: Any, path: Path) -> VerdictSpec:
    if not isinstance(raw, dict) or raw.get("kind") not in VERDICT_KINDS:
        raise JudgeError(f"{path}: field 'verdict.kind' must be one of {VERDICT_KINDS}")
    kind = raw["kind"]
    if kind == "binary":
        return VerdictSpec("binary", 0, 1)
    low, high = _int_field(raw, "min", 1, path), _int_field(raw, "max", 5, path)
    if low >= high:
        raise JudgeError(f"{path}: field 'verdict.min' must be below 'verdict.max'")
    dims = tuple(raw.get("dimensions") or ())
    if kind == "dimensions" and not dims:
        raise JudgeError(f"{path}: field 'verdict.dimensions' must list the dimensions")
    return VerdictSpec(kind, low, high, dims)
