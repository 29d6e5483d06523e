"""When to retry a judge call, and how long to wait (exponential backoff with full jitter).

Retried: connection errors, timeouts, 408/409/429, 5xx, empty replies and malformed ones (a
cut or non-JSON body, a reply without the fields of a chat completion). Not retried: a
request the server rejected as invalid (400/422, and llama.cpp's 500 "validation error"),
which would fail again. Fatal for the whole run: 401/403/404 (bad key, unknown model).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

CONNECTION = "connection"
TIMEOUT = "timeout"
RETRY = "retry"
INVALID = "invalid"
FATAL = "fatal"


class EmptyReply(Exception):
    """The server answered without text or without a finish reason."""


class MalformedReply(Exception):
    """The server's reply is no chat completion (a cut or garbled body)."""


class NoServerLive(Exception):
    """Every server of a pooled backend failed to connect a moment ago."""


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries per call for errors the server answered (429, 5xx, empty replies).
    A connection failure costs no attempt: the call waits and tries again, so a server that
    is still starting is waited for, and the run stops only when no reply at all has
    arrived for ``max_wait`` seconds (the server is gone: do not burn through every item)."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_wait: float = 300.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds before try ``attempt + 1``: ``Retry-After`` when the server sent one,
        else uniform in [0.5, 1] x min(max_delay, base_delay * 2**attempt)."""
        if retry_after is not None:
            return min(self.max_delay, max(0.0, retry_after))
        return min(self.max_delay, self.base_delay * 2**attempt) * rng.uniform(0.5, 1.0)


def classify(err: BaseException) -> str:
    """One of CONNECTION, RETRY, INVALID, FATAL for an exception raised by a call."""
    import openai

    if isinstance(err, openai.APITimeoutError | TimeoutError):
        return TIMEOUT
    malformed = (EmptyReply, MalformedReply, ValueError, openai.APIResponseValidationError)
    if isinstance(err, malformed):
        return RETRY  # ValueError: json.JSONDecodeError of a cut body
    if isinstance(err, openai.APIConnectionError | NoServerLive):
        return CONNECTION
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        if status in (401, 403, 404):
            return FATAL
        if status in (408, 409, 429):
            return RETRY
        if status >= 500:
            return INVALID if "validation error" in str(err.message).lower() else RETRY
        return INVALID
    return FATAL


def describe(err: BaseException, timeout: float | None = None) -> str:
    """What went wrong with one call, in words (the record's reason)."""
    import openai

    if isinstance(err, openai.APITimeoutError | TimeoutError):
        return f"timed out (no reply within --timeout {timeout:g} s)" if timeout else "timed out"
    if isinstance(err, ValueError | openai.APIResponseValidationError):
        return f"malformed reply ({type(err).__name__}: {str(err)[:160]})"
    return f"{type(err).__name__}: {str(err)[:200]}"


def retry_after_seconds(err: BaseException) -> float | None:
    """The ``Retry-After`` header of an HTTP error, in seconds (number or HTTP date)."""
    response = getattr(err, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        from datetime import datetime, timezone

        return (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds()
    except (TypeError, ValueError):
        return None
