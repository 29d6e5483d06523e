"""Judge backends: any OpenAI-compatible chat server, or the embedded model in process.

Structured output has one mode per server family (``--server``):

* ``openai`` and ``vllm``: ``response_format={"type": "json_schema", "json_schema": ...}``;
* ``llama-cpp``: ``{"type": "json_object", "schema": ...}`` (llama-cpp-python's form);
* ``none``: no ``response_format``; replies are parsed by regex only;
* ``in-process`` (the transformers backend): binary and scale verdicts are decoded under a
  mask that only lets the allowed numbers out; dimension verdicts are parsed by regex.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from medinj_eval.judge import JudgeError
from medinj_eval.judge.prompts import JudgePrompt
from medinj_eval.judge.retry import EmptyReply, MalformedReply

SERVER_FAMILIES = ("openai", "vllm", "llama-cpp", "none")
IN_PROCESS = "in-process"
LOCAL_KEY = "not-needed"


@dataclass(frozen=True)
class Reply:
    text: str
    finish_reason: str


def response_format(family: str, prompt: JudgePrompt) -> dict[str, Any] | None:
    """The ``response_format`` of ``family`` for ``prompt``'s verdict schema."""
    schema = prompt.verdict.json_schema()
    if family in ("openai", "vllm"):
        return {
            "type": "json_schema",
            "json_schema": {"name": "verdict", "schema": schema, "strict": True},
        }
    if family == "llama-cpp":
        return {"type": "json_object", "schema": schema}
    return None


def sampling_params(
    family: str, prompt: JudgePrompt, temperature: float, run: int
) -> dict[str, Any]:
    """Every request parameter besides model and messages (part of the cache key)."""
    params: dict[str, Any] = {
        **prompt.params,
        "temperature": temperature,
        "max_tokens": prompt.max_tokens,
        "seed": run,
    }
    if family == IN_PROCESS:
        if prompt.verdict.kind != "dimensions":
            values = range(prompt.verdict.minimum, prompt.verdict.maximum + 1)
            params["allowed_verdicts"] = [str(v) for v in values]
        return params
    fmt = response_format(family, prompt)
    if fmt is not None:
        params["response_format"] = fmt
    return params


def api_key(env_name: str = "OPENAI_API_KEY") -> str:
    """The key from ``env_name``; local servers accept any key, so a placeholder otherwise."""
    return os.environ.get(env_name) or LOCAL_KEY


class OpenAIBackend:
    """``chat.completions`` over the ``openai`` async client; retries are the runner's."""

    def __init__(
        self, base_url: str, model: str, key: str, family: str, timeout: float = 120.0
    ) -> None:
        if family not in SERVER_FAMILIES:
            raise JudgeError(f"--server must be one of {SERVER_FAMILIES}, got {family!r}")
        from openai import AsyncOpenAI

        self.family = family
        self.retries = True
        self.model = model
        self.base_url = base_url
        self.timeout = timeout
        self._client = AsyncOpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=0)

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Reply:
        response = await self._client.chat.completions.create(
            model=self.model, messages=messages, **params
        )
        try:
            choices = response.choices
            choice = choices[0] if choices else None
            text = choice.message.content if choice and choice.message else None
        except (AttributeError, TypeError, KeyError, IndexError) as err:
            raise MalformedReply(f"no chat completion in the reply: {err}") from err
        if choice is None:
            raise EmptyReply("no choices in the reply")
        if not isinstance(text, str | None):
            raise MalformedReply(f"reply content is {type(text).__name__}, not text")
        if not text or not text.strip():
            raise EmptyReply("empty reply text")
        if not choice.finish_reason:
            raise EmptyReply("reply without a finish reason")
        return Reply(text, choice.finish_reason)

    async def close(self) -> None:
        await self._client.close()


class VerdictMask:
    """LogitsProcessor letting through only tokens that keep the reply a prefix of one of
    ``allowed`` (e.g. "1".."10"), and the end token once the reply is complete."""

    def __init__(self, tokenizer, pieces: dict[int, str], allowed: list[str], prompt_len: int):
        self.allowed = set(allowed)
        self.prompt_len = prompt_len
        self.eos = tokenizer.eos_token_id
        self.tokenizer = tokenizer
        self.pieces = pieces

    @staticmethod
    def digit_pieces(tokenizer) -> dict[int, str]:
        """Token id -> text of every token that decodes to 1 or 2 digits (scanned once)."""
        return {
            i: text
            for i in range(len(tokenizer))
            if (text := tokenizer.decode([i])) and text.isdigit() and len(text) <= 2
        }

    def __call__(self, input_ids, scores):
        import torch

        so_far = self.tokenizer.decode(input_ids[0, self.prompt_len :], skip_special_tokens=True)
        keep = [
            i for i, t in self.pieces.items() if any(a.startswith(so_far + t) for a in self.allowed)
        ]
        if so_far in self.allowed:
            keep.append(self.eos)
        mask = torch.full_like(scores, float("-inf"))
        mask[:, keep] = 0
        return scores + mask


class TransformersBackend:
    """The judge model in this process (default: the embedded SmolLM2), greedy at
    temperature 0; binary and scale verdicts decoded under :class:`VerdictMask`."""

    family = IN_PROCESS
    base_url = IN_PROCESS
    timeout = None
    retries = False  # greedy and local: a failed call would fail the same way again

    def __init__(self, model: str = "default") -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from medinj_eval.models.default_model import resolve_pretrained

        path = resolve_pretrained(model)
        self.model = model
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._model = AutoModelForCausalLM.from_pretrained(path)
        self._model.eval()
        self._lock = asyncio.Lock()
        self._pieces: dict[int, str] | None = None

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Reply:
        async with self._lock:
            return await asyncio.to_thread(self._generate, messages, params)

    def _generate(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Reply:
        import torch

        ids = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        from transformers import LogitsProcessorList

        temperature = float(params.get("temperature", 0.0))
        torch.manual_seed(int(params.get("seed", 0)))
        processors = LogitsProcessorList()
        if params.get("allowed_verdicts"):
            if self._pieces is None:
                self._pieces = VerdictMask.digit_pieces(self._tokenizer)
            allowed, prompt_len = params["allowed_verdicts"], ids["input_ids"].shape[1]
            processors.append(VerdictMask(self._tokenizer, self._pieces, allowed, prompt_len))
        with torch.no_grad():
            out = self._model.generate(
                **ids,
                logits_processor=processors,
                max_new_tokens=int(params["max_tokens"]),
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                top_p=None,
                top_k=None,
                pad_token_id=self._tokenizer.eos_token_id,
            )
        new = out[0, ids["input_ids"].shape[1] :]
        text = self._tokenizer.decode(new, skip_special_tokens=True)
        stopped = len(new) and int(new[-1]) == self._tokenizer.eos_token_id
        if not text.strip():
            raise EmptyReply("empty reply text")
        return Reply(text, "stop" if stopped else "length")

    async def close(self) -> None:
        return None
