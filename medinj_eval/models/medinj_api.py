"""``--model medinj-api``: lm-eval's ``local-completions`` backend with structured outputs.

lm-eval's API backends drop model arguments they do not know, so they cannot be told which
structured-output request a server understands. ``medinj-api`` takes every
``local-completions`` argument plus:

* ``server=vllm|llama-cpp|none``: how a constrained item's answer language is sent:
  vLLM's ``structured_outputs`` (``choice`` for single-answer items, ``regex`` otherwise),
  llama.cpp's ``grammar`` (GBNF), or not at all (``none``: constrained tasks refused);
* ``max_wait`` (seconds, default 300): how long an unreachable server is waited for.

Before the first constrained request it sends one probe with a one-letter language; a
server that rejects or ignores the request kind stops the run with one line naming the
family to use. Before the first log-likelihood request it checks that the server returns
prompt log-probabilities (``echo`` with ``logprobs``) and refuses the task otherwise.
A server that stops answering mid-run ends the run with one line: lm-eval writes no
results, so nothing is scored.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from typing import Any

from lm_eval.api.registry import register_model

from medinj_eval.judge.retry import RetryPolicy
from medinj_eval.lm_eval_internals import completions_base
from medinj_eval.models.answer_language import AnswerLanguage, marked, pop_language
from medinj_eval.server_families import (
    letter_families,
    server_family,
    structured_request,
)

PROBE_LANGUAGE = AnswerLanguage("Q", single=True)


def api_root(base_url: str) -> str:
    """``http://host:port/v1`` from a completions endpoint URL."""
    url = base_url.rstrip("/")
    for suffix in ("/completions", "/chat/completions"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def post_json(url: str, payload: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for_server(root: str, policy: RetryPolicy) -> None:
    """Wait, with the judge's backoff, until ``root/models`` answers; stop after max_wait."""
    rng, started, attempt = random.Random(0), time.monotonic(), 0
    while True:
        try:
            urllib.request.urlopen(f"{root}/models", timeout=10)
            return
        except urllib.error.HTTPError:
            return  # it answered: authentication or routing is for the real requests to report
        except OSError as err:
            if time.monotonic() - started >= policy.max_wait:
                raise SystemExit(
                    f"medinj-eval: the server at {root} did not answer for {policy.max_wait:.0f} s "
                    f"({err}); nothing was scored; start it and run the same command again"
                ) from None
            time.sleep(policy.delay(attempt, None, rng))
            attempt += 1


@register_model("medinj-api")
class MedinjCompletionsAPI(completions_base()):
    """``local-completions`` with the answer language sent as the server's structured output."""

    def __init__(self, server: str = "vllm", max_wait: float = 300, **kwargs: Any) -> None:
        try:
            self.family = server_family(server)
        except ValueError as err:
            raise SystemExit(f"medinj-eval: medinj-api {err}") from None
        self.server = server
        self.medinj_constrains = self.family.letters is not None
        self.root = api_root(str(kwargs.get("base_url") or ""))
        wait_for_server(self.root, RetryPolicy(max_wait=float(max_wait)))
        # llama-cpp-python's server takes text prompts only (not token ids)
        kwargs.setdefault("tokenized_requests", server != "llama-cpp")
        kwargs.setdefault("tokenizer_backend", "huggingface")
        super().__init__(**kwargs)
        self._checked: set[str] = set()

    def apply_chat_template(self, chat_history: list[dict], add_generation_prompt: bool = True):
        """The completions endpoint takes text: the chat template is rendered here, with the
        model's own tokenizer, whether prompts travel as text or as token ids."""
        if self.tokenizer_backend != "huggingface":
            return super().apply_chat_template(chat_history, add_generation_prompt)
        return self.tokenizer.apply_chat_template(
            chat_history,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            continue_final_message=not add_generation_prompt,
        )

    def payload(self, messages, generate=False, gen_kwargs=None, **kwargs):
        language = pop_language(gen_kwargs) if gen_kwargs else None
        payload = super().payload(messages, generate=generate, gen_kwargs=gen_kwargs, **kwargs)
        if language is not None:
            payload.update(structured_request(self.family, language=language))
            if language.single:  # " A" may come as two tokens; the grammar ends after the letter
                payload["max_tokens"] = max(2, int(payload.get("max_tokens") or 0))
        return payload

    def continuation_logprobs(self, outputs, tokens, ctxlens) -> list[tuple[float, bool]]:
        """Sum the continuation's log-probabilities, counted from the end of the echo.

        lm-eval slices the echoed prompt at the context's token count, which assumes the
        server returns one entry per token sent. llama.cpp's echo leaves out special tokens
        (the chat template's ``<|im_start|>``), so that count points past the continuation
        and the sum comes out 0. The continuation ends the prompt and the echo ends with the
        one generated token, so its ``n`` tokens are the ``n`` entries before the last.
        """
        res = []
        for out in outputs if isinstance(outputs, list) else [outputs]:
            choices = sorted(out["choices"], key=lambda c: c["index"])
            for choice, toks, ctxlen in zip(choices, tokens, ctxlens, strict=True):
                n = len(toks) - ctxlen
                logprobs = choice["logprobs"]
                values = logprobs["token_logprobs"][-1 - n : -1]
                tops = logprobs["top_logprobs"][-1 - n : -1]
                if len(values) != n or any(v is None for v in values):
                    raise SystemExit(
                        f"medinj-eval: the server at {self.root} echoed fewer prompt "
                        "log-probabilities than the continuation has tokens; its scores "
                        "would be wrong, so none is written"
                    )
                greedy = all(v >= max(top.values()) for v, top in zip(values, tops))
                res.append((float(sum(values)), greedy))
        return res

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        if any(marked(r.args[1]) for r in requests):
            self._once("constraint", self.check_constraint)
        return self._or_stop(super().generate_until, requests, disable_tqdm=disable_tqdm)

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        task = requests[0].task_name if requests else "?"
        self._once("logprobs", lambda: self.check_prompt_logprobs(task))
        return self._or_stop(super().loglikelihood, requests, disable_tqdm=disable_tqdm)

    def _once(self, check: str, run: Any) -> None:
        if check not in self._checked:
            run()
            self._checked.add(check)

    def _or_stop(self, call: Any, requests: list, **kwargs: Any) -> list:
        try:
            return call(requests, **kwargs)
        except Exception as err:  # lm-eval retried already; nothing has been scored
            raise SystemExit(
                f"medinj-eval: requests to {self.root} failed after lm-eval's retries ({err!r}); "
                "nothing was scored; run the same command again once the server answers"
            ) from None

    def _complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        return post_json(f"{self.root}/completions", {"model": self.model, **payload})

    def check_constraint(self) -> None:
        """One probe: a completion held to the language {"Q", " Q"} must be one of them."""
        others = [f for f in letter_families() if f != self.server]
        hint = f"for another server family, set server={'|'.join(others)} in --model_args"
        payload = {"prompt": "Réponse :", "max_tokens": 2, "temperature": 0}
        payload.update(structured_request(self.family, language=PROBE_LANGUAGE))
        try:
            text = self._complete(payload)["choices"][0]["text"]
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:200]
            raise SystemExit(
                f"medinj-eval: the server at {self.root} rejected server={self.server}'s "
                f"structured-output request (HTTP {err.code}: {detail}); {hint}"
            ) from None
        if not PROBE_LANGUAGE.accepts(text):
            raise SystemExit(
                f"medinj-eval: the server at {self.root} ignored server={self.server}'s "
                f"structured-output request (it answered {text!r} to a one-letter constraint); "
                f"{hint}"
            )

    def check_prompt_logprobs(self, task: str) -> None:
        """The server must return a log-probability for every prompt token after the first."""
        payload = {"prompt": "Le patient présente", "max_tokens": 1, "temperature": 0}
        payload.update(logprobs=1, echo=True)
        try:
            logprobs = self._complete(payload)["choices"][0].get("logprobs") or {}
            values = logprobs.get("token_logprobs") or []
        except (urllib.error.HTTPError, KeyError, IndexError, ValueError):
            values = []
        if len(values) < 3 or any(v is None for v in values[1:]):
            raise SystemExit(
                f"medinj-eval: task {task} (log-likelihood) needs prompt log-probabilities, and "
                f"the server at {self.root} does not return them (echo with logprobs); run it "
                "with --model hf, medinj-hf or vllm, or against a vLLM server"
            )
