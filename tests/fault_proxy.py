"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a real OpenAI-compatible server.

Each chat-completion request is identified by its body; the n-th time a body arrives, a
generator seeded with (seed, body, n) decides whether it gets a fault and which one:

* ``http500`` and ``http429`` (with ``Retry-After: 0``);
* ``drop``: the connection is closed before any reply;
* ``stall``: the reply is held for ``stall`` seconds (longer than the client's timeout);
* ``cut_body``: a 200 whose JSON body is cut (its ``Content-Length`` says so);
* ``short_body``: a 200 announcing more bytes than it sends, then closed;
* ``prose``, ``out_of_range``, ``empty``: a well-formed 200 completion whose text is prose,
  a number outside the verdict scale, or nothing.

A body is faulted at most ``max_faults`` times (so a client that retries gets the server's
real reply), except a body holding one of the ``poison`` markers, which gets that marker's
fault kind every time, as long as the marker stays in ``poison``. Everything else is
forwarded to the server unchanged. The proxy counts what it did per body and keeps the
server's own reply to each request; it is stopped with :meth:`stop` (a thread of this
process).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = (
    "http500", "http429", "drop", "stall", "cut_body", "short_body",
    "prose", "out_of_range", "empty",
)  # fmt: skip
GARBLED = {"prose": "Je pense que la réponse est correcte.", "out_of_range": "7", "empty": ""}


@dataclass
class FaultPlan:
    seed: int = 0
    rate: float = 0.3
    max_faults: int = 2
    stall: float = 3.0
    poison: dict[str, str] = field(default_factory=dict)  # text in the body -> fault kind

    def fault(self, body: bytes, arrival: int) -> str | None:
        text = body.decode("utf-8", errors="replace")
        kind = next((k for marker, k in self.poison.items() if marker in text), None)
        if kind is not None:
            return kind
        digest = body_digest(body)
        if arrival >= self.max_faults:
            return None
        rng = random.Random(f"{self.seed}:{digest}:{arrival}")
        return rng.choice(KINDS) if rng.random() < self.rate else None


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def completion(text: str, model: str = "smollm2") -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-proxy",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }
    ).encode()


class FaultProxy:
    """``start()`` listens on a free port of 127.0.0.1; ``base_url`` is what clients use."""

    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = plan
        self.lock = threading.Lock()
        self.arrivals: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()  # kind -> count
        self.forwarded: Counter[str] = Counter()  # body digest -> times sent to the server
        self.clean: dict[str, str] = {}  # sha256 of the messages -> the server's reply text
        self.by_phase: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.phase = "start"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_arrival(self, body: bytes) -> tuple[str, int]:
        digest = body_digest(body)
        with self.lock:
            arrival = self.arrivals[digest]
            self.arrivals[digest] += 1
        return digest, arrival

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                return

            def do_GET(self) -> None:
                status, body = proxy.forward("GET", self.path, None)
                self.reply(status, body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                digest, arrival = proxy._next_arrival(body)
                kind = proxy.plan.fault(body, arrival)
                if kind is not None:
                    with proxy.lock:
                        proxy.faults[kind] += 1
                        proxy.by_phase[proxy.phase][kind] += 1
                    self.fault(kind)
                    return
                with proxy.lock:
                    proxy.forwarded[digest] += 1
                    proxy.by_phase[proxy.phase]["clean"] += 1
                status, reply = proxy.forward("POST", self.path, body)
                if status == 200:
                    proxy.remember(body, reply)
                self.reply(status, reply)

            def reply(self, status: int, body: bytes, headers: dict | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (a timeout, a kill)
                    self.close_connection = True

            def fault(self, kind: str) -> None:
                if kind == "http500":
                    self.reply(500, b'{"error": {"message": "injected fault"}}')
                elif kind == "http429":
                    self.reply(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "0"})
                elif kind == "drop":
                    self.close_connection = True
                elif kind == "stall":
                    time.sleep(proxy.plan.stall)
                    self.reply(500, b'{"error": {"message": "stalled"}}')
                elif kind == "cut_body":
                    body = completion("1")
                    self.reply(200, body[: len(body) // 2])
                elif kind == "short_body":
                    body = completion("1")
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 3])
                    self.close_connection = True
                else:
                    self.reply(200, completion(GARBLED[kind]))

        return Handler

    def remember(self, body: bytes, reply: bytes) -> None:
        """The server's own reply to these messages, keyed as the judge's records key them
        (``prompt_sha256``): what the request gets without faults."""
        from medinj_eval.hashing import json_sha256

        key = json_sha256(json.loads(body)["messages"])
        text = json.loads(reply)["choices"][0]["message"]["content"]
        with self.lock:
            self.clean.setdefault(key, text)
            assert self.clean[key] == text, "the server answered one request two ways"

    def forward(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        url = self.upstream.rsplit("/v1", 1)[0] + path
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
