"""Judge backends: any OpenAI-compatible chat server, or the embedded model in process.

Structured output has one request per server family (``--server``), the verdict's JSON
schema sent as :mod:`medinj_eval.server_families` says (``none``: replies parsed by regex
only); ``in-process`` (the transformers backend): binary and scale verdicts are decoded under a
  mask that only lets the allowed numbers out; dimension verdicts are parsed by regex.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any

from medinj_eval.hashing import json_sha256
from medinj_eval.judge import JudgeError
from medinj_eval.judge.prompts import JudgePrompt
from medinj_eval.judge.retry import EmptyReply, MalformedReply
from medinj_eval.server_families import SERVER_FAMILIES, server_family, structured_request

IN_PROCESS = "in-process"
LOCAL_KEY = "not-needed"


@dataclass(frozen=True)
class Reply:
    text: str
    finish_reason: str


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
    schema = prompt.verdict.json_schema()
    return {**params, **structured_request(server_family(family), schema=schema)}


def api_key(env_name: str = "OPENAI_API_KEY") -> str:
    """The key from ``env_name``; local servers accept any key, so a placeholder otherwise."""
    return os.environ.get(env_name) or LOCAL_KEY


def backend_for(
    servers: list[str],
    model: str,
    family: str,
    api_key_env: str = "OPENAI_API_KEY",
    timeout: float = 120.0,
    concurrency: int = 16,
):
    """The in-process model (no server), one server's client, or a pool of servers."""
    if not servers:
        return TransformersBackend(model)
    key = api_key(api_key_env)
    members = [OpenAIBackend(url, model, key, family, timeout) for url in servers]
    return members[0] if len(members) == 1 else PooledBackend(members, concurrency)


class OpenAIBackend:
    """``chat.completions`` over the ``openai`` async client; retries are the runner's."""

    def __init__(
        self, base_url: str, model: str, key: str, family: str, timeout: float = 120.0
    ) -> None:
        if family not in SERVER_FAMILIES:
            raise JudgeError(f"--server must be one of {tuple(SERVER_FAMILIES)}, got {family!r}")
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


class PooledBackend:
    """Several servers of one model as one backend. Each request goes to the live server with
    the fewest requests in flight, at most ``concurrency`` on each; a server that refuses the
    connection or lets a request time out is set aside for ``recheck`` seconds and the
    request is sent to another (when every server is set aside, the error goes to the
    runner, which waits and retries as for one server). A set-aside server gets requests
    again once ``recheck`` has passed, so a restarted server is picked up."""

    retries = True

    def __init__(self, members: list[OpenAIBackend], concurrency: int, recheck: float = 5.0):
        self.members = members
        self.family = members[0].family
        self.model = members[0].model
        self.timeout = members[0].timeout
        self.base_url = ", ".join(m.base_url for m in members)
        self.concurrency = concurrency
        self.recheck = recheck
        self.in_flight = [0] * len(members)
        self.answered = [0] * len(members)
        self._set_aside_until = [0.0] * len(members)
        self._slots: asyncio.Condition | None = None

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Reply:
        from medinj_eval.judge.retry import CONNECTION, TIMEOUT, NoServerLive, classify

        tried: set[int] = set()
        last: Exception = NoServerLive(f"every server is set aside: {self.base_url}")
        while True:
            i = await self._acquire(tried)
            if i is None:
                raise last
            try:
                reply = await self.members[i].complete(messages, params)
                self.answered[i] += 1
                return reply
            except Exception as err:
                if classify(err) not in (CONNECTION, TIMEOUT):
                    raise
                self._set_aside_until[i] = time.monotonic() + self.recheck
                tried.add(i)
                last = err
            finally:
                await self._release(i)

    async def _acquire(self, tried: set[int]) -> int | None:
        """The live untried server with the fewest requests in flight and a free slot
        (waiting for one); None when no untried server is live."""
        self._slots = self._slots or asyncio.Condition()
        async with self._slots:
            while True:
                now = time.monotonic()
                live = [
                    i
                    for i in range(len(self.members))
                    if i not in tried and self._set_aside_until[i] <= now
                ]
                if not live:
                    return None
                free = [i for i in live if self.in_flight[i] < self.concurrency]
                if free:
                    best = min(free, key=lambda i: self.in_flight[i])
                    self.in_flight[best] += 1
                    return best
                try:  # a slot frees, or a set-aside server comes back
                    await asyncio.wait_for(self._slots.wait(), timeout=1.0)
                except TimeoutError:
                    pass

    async def _release(self, i: int) -> None:
        assert self._slots is not None
        async with self._slots:
            self.in_flight[i] -= 1
            self._slots.notify_all()

    async def close(self) -> None:
        for member in self.members:
            await member.close()


class TransformersBackend:
    """The judge model in this process (default: the embedded SmolLM2), greedy at
    temperature 0; binary and scale verdicts decoded under the verdict mask
    (:func:`medinj_eval.models.constrained.verdict_processor`). A greedy request repeated
    with another seed (a prompt's second and third runs) gets the first one's outcome: greedy
    decoding draws no random number, so generating it again would give the same text. Each
    prompt starts from the keys and values it shares with the one before (:class:`PromptPrefix`)."""

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
        self._greedy: dict[str, Reply | EmptyReply] = {}
        self._prefix = PromptPrefix()

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Reply:
        key = greedy_key(messages, params)
        async with self._lock:
            outcome = self._greedy.get(key) if key else None
            if outcome is None:
                try:
                    outcome = await asyncio.to_thread(self._generate, messages, params)
                except EmptyReply as err:
                    outcome = err
                if key:
                    self._greedy[key] = outcome
        if isinstance(outcome, EmptyReply):
            raise EmptyReply(str(outcome))
        return outcome

    def _generate(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Reply:
        import torch

        ids = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        from transformers import LogitsProcessorList

        from medinj_eval.models.kv_cache import CACHE

        temperature = float(params.get("temperature", 0.0))
        torch.manual_seed(int(params.get("seed", 0)))
        processors = LogitsProcessorList()
        if params.get("allowed_verdicts"):
            from medinj_eval.models.constrained import verdict_processor

            prompt_len = ids["input_ids"].shape[1]
            verdicts = params["allowed_verdicts"]
            processors.append(verdict_processor(self._tokenizer, prompt_len, verdicts))
        prompt = ids["input_ids"][0].tolist()
        with torch.no_grad():
            out = self._model.generate(
                **ids,
                **{CACHE: self._prefix.reused(prompt)},
                return_dict_in_generate=True,
                logits_processor=processors,
                max_new_tokens=int(params["max_tokens"]),
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                top_p=None,
                top_k=None,
                pad_token_id=self._tokenizer.eos_token_id,
            )
        self._prefix.keep(prompt, getattr(out, CACHE))
        new = out.sequences[0, len(prompt) :]
        text = self._tokenizer.decode(new, skip_special_tokens=True)
        stopped = len(new) and int(new[-1]) == self._tokenizer.eos_token_id
        if not text.strip():
            raise EmptyReply("empty reply text")
        return Reply(text, "stop" if stopped else "length")

    async def close(self) -> None:
        return None


def greedy_key(messages: list[dict[str, str]], params: dict[str, Any]) -> str | None:
    """What a greedy in-process reply depends on (None when the request samples)."""
    if float(params.get("temperature", 0.0)) > 0:
        return None
    return json_sha256([messages, {k: v for k, v in params.items() if k != "seed"}])


class PromptPrefix:
    """The keys and values of the last prompt, reused for the tokens the next prompt starts
    with (a judge's prompts share the rubric's system turn), as llama.cpp reuses its last
    prompt's. At least the last token of each prompt is evaluated anew."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.cache: Any = None

    def reused(self, prompt: list[int]) -> Any:
        """The kept cache cut to the tokens it shares with ``prompt`` (None: none shared)."""
        shared = 0
        for kept, new in zip(self.tokens, prompt[:-1]):
            if kept != new:
                break
            shared += 1
        if self.cache is None or shared == 0:
            return None
        extra = self.cache.get_seq_length() - shared
        if extra > 0:
            self.cache.crop(-extra)  # a negative count removes tokens in every transformers
        return self.cache

    def keep(self, prompt: list[int], cache: Any) -> None:
        self.tokens, self.cache = prompt, cache
