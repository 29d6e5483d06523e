"""Parsing a judge's raw reply into a score, or into an explicit "missing" with the reason.

A reply is read as JSON first (what structured output produces), then by a strict regular
expression. Anything else is unparsable and scores ``None``: a missing verdict is counted
and reported, never turned into a 0.

* ``binary``: the reply is ``0`` or ``1`` (bare, or JSON ``{"score": n}``).
* ``scale``: ``{"rating": n}``, ``Rating: [[n]]`` (MT-Bench style, MediQAl), or a bare number,
  inside ``[min, max]``.
* ``dimensions``: a JSON object with an integer in ``[min, max]`` for every dimension
  (or ``"name": n`` pairs found by regex); the score is their mean (EnMed's composite).
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass, field

from medinj_eval.judge.prompts import VerdictSpec

OK = "ok"
OK_REGEX = "ok_regex"
UNPARSABLE = "unparsable"

_BARE_NUMBER = re.compile(r"^\s*\**\s*(\d+(?:\.\d+)?)\s*\**\s*\.?\s*$")
_RATING = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")


@dataclass
class Verdict:
    """One parsed reply: the score (None when missing), per-dimension scores, parse status."""

    score: float | None
    status: str
    dimensions: dict[str, float] = field(default_factory=dict)


def parse_verdict(text: str, spec: VerdictSpec) -> Verdict:
    """The verdict in ``text`` under ``spec``, or ``Verdict(None, "unparsable")``."""
    if spec.kind == "dimensions":
        return _parse_dimensions(text, spec)
    value, status = _json_number(text, ("score", "rating")), OK
    if value is None:
        status = OK_REGEX
        match = _RATING.search(text) if spec.kind == "scale" else None
        match = match or _BARE_NUMBER.match(text)
        value = float(match.group(1)) if match else None
    if value is None or not spec.minimum <= value <= spec.maximum:
        return Verdict(None, UNPARSABLE)
    if spec.kind == "binary" and value not in (0, 1):
        return Verdict(None, UNPARSABLE)
    return Verdict(value, status)


def _json_number(text: str, keys: tuple[str, ...]) -> float | None:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return None
    if isinstance(data, dict):
        data = next((data[k] for k in keys if k in data), None)
    if isinstance(data, bool) or not isinstance(data, int | float):
        return None
    return float(data)


def _parse_dimensions(text: str, spec: VerdictSpec) -> Verdict:
    status, values = OK, _json_object(text)
    if values is None:
        status = OK_REGEX
        values = {}
        for dim in spec.dimensions:
            match = re.search(rf'"?{re.escape(dim)}"?\s*[:=]\s*(\d+(?:\.\d+)?)', text, re.I)
            if match:
                values[dim] = float(match.group(1))
    dims = {}
    for dim in spec.dimensions:
        value = values.get(dim)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return Verdict(None, UNPARSABLE)
        if not spec.minimum <= value <= spec.maximum:
            return Verdict(None, UNPARSABLE)
        dims[dim] = float(value)
    return Verdict(statistics.fmean(dims.values()), status, dims)


def _json_object(text: str) -> dict | None:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def combine_runs(verdicts: list[Verdict]) -> Verdict:
    """Median over repeated runs (EnMed: median of 3) of the runs that parsed.

    Every run must parse: a sample with a missing run is missing, so that n judged counts
    samples scored under the full protocol.
    """
    if len(verdicts) == 1:
        return verdicts[0]
    if any(v.score is None for v in verdicts):
        return Verdict(None, UNPARSABLE)
    dims = {d: statistics.median(v.dimensions[d] for v in verdicts) for d in verdicts[0].dimensions}
    status = OK if all(v.status == OK for v in verdicts) else OK_REGEX
    return Verdict(statistics.median(v.score for v in verdicts), status, dims)
