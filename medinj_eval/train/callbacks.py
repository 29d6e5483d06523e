"""Per-step training log: loss, learning rate and tokens per second, one JSON line a step."""

from __future__ import annotations

import json
import time
from pathlib import Path

from transformers import TrainerCallback


class StepLog(TrainerCallback):
    """Appends ``{step, epoch, loss, learning_rate, tokens_per_second}`` to ``train_log.jsonl``
    at every log event and adds ``tokens_per_second`` to the logged values (tokens = input
    tokens seen, padding excluded, counted by the Trainer). A resumed run first drops the rows
    logged after its checkpoint: those steps run again, so each step keeps one row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last_time: float | None = None
        self._last_tokens = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._keep_rows_up_to(state.global_step)
        self._last_time = time.monotonic()
        self._last_tokens = state.num_input_tokens_seen

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or "loss" not in logs:
            return
        now = time.monotonic()
        tokens = state.num_input_tokens_seen
        elapsed = now - (self._last_time or now)
        rate = (tokens - self._last_tokens) / elapsed if elapsed > 0 else None
        self._last_time, self._last_tokens = now, tokens
        if rate is not None:
            logs["tokens_per_second"] = round(rate, 1)
        row = {
            "step": state.global_step,
            "epoch": state.epoch,
            "loss": logs.get("loss"),
            "learning_rate": logs.get("learning_rate"),
            "tokens_per_second": logs.get("tokens_per_second"),
            "tokens_seen": tokens,
        }
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")

    def _keep_rows_up_to(self, step: int) -> None:
        if not self.path.is_file():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if _logged_step(line) <= step]
        self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _logged_step(line: str) -> float:
    """The row's step; a line cut short by a kill counts as after every checkpoint."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return float("inf")
