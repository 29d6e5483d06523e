"""MedInjection-FR data-provenance mixes: equal shares of Native, Translated and Synthetic.

The study trains on seven mixes of one size (33,493 examples): NAT, TRAD, SYN, NAT-TRAD,
NAT-SYN, TRAD-SYN and ALL (MedInjection-FR). A mix of ``size`` over k sources takes
``size // k`` examples from each, the first ``size % k`` sources in the order N, T, S one
more. Within a source, examples of the chosen task types are pooled and sampled with
``random.Random(f"{seed}/{source}")``; the mix is then shuffled with ``random.Random(seed)``.
The JSONL is written with sorted keys, so the same inputs and seed give the same bytes.
Each row is a conversational prompt-completion pair (system and user turns -> the assistant
turn), which lets TRL put the loss on the assistant turn only.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from medinj_eval.benchmarks import MEDINJECTION_DIR, MEDINJECTION_HUB, medinjection_files
from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.files import find_split_file, read_records, resolve_data_dir
from medinj_eval.hashing import json_sha256
from medinj_eval.train import TrainingError

SOURCES = {"NAT": "Native", "TRAD": "Translated", "SYN": "Synthetic"}
CONFIGS = {
    "NAT": ("NAT",),
    "TRAD": ("TRAD",),
    "SYN": ("SYN",),
    "NAT-TRAD": ("NAT", "TRAD"),
    "NAT-SYN": ("NAT", "SYN"),
    "TRAD-SYN": ("TRAD", "SYN"),
    "ALL": ("NAT", "TRAD", "SYN"),
}
TASK_TYPES = ("mcq", "mcqu", "oeq")
DEFAULT_TASK_TYPES = ("mcq", "mcqu")
STUDY_SIZE = 33493


def training_rows(
    source: str, task_type: str, data_dir: str | Path | None
) -> tuple[list[dict[str, Any]], str]:
    """Raw ``Train`` rows of one source and task type, and where they came from."""
    (stem,) = medinjection_files(source, task_type)["train"]
    root = resolve_data_dir(data_dir, MEDINJECTION_DIR)
    if root is not None:
        path = find_split_file(root, (stem,))
        if path is not None:
            return read_records(path), str(path)
        return [], str(root / f"{stem}.json")
    from medinj_eval.data.hub import hub_rows

    hub_id, hub_file = MEDINJECTION_HUB.format(source=source), stem.split("/", 1)[1] + ".json"
    rows = hub_rows(hub_id, data_files={"train": hub_file})["train"]
    return rows, f"{hub_id}:{hub_file}"


def to_example(row: dict[str, Any], origin: str, index: int, source: str, task_type: str):
    """A prompt-completion example: every turn before the assistant's, then the assistant's."""
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise DataValidationError(origin, index, "messages", "expected a list of chat turns")
    roles = [t.get("role") if isinstance(t, dict) else None for t in messages]
    if "assistant" not in roles or "user" not in roles[: roles.index("assistant")]:
        raise DataValidationError(
            origin, index, "messages", "needs a user turn, then an assistant turn"
        )
    cut = roles.index("assistant")
    turns = [{"role": t["role"], "content": str(t.get("content") or "")} for t in messages]
    if not turns[cut]["content"].strip():
        raise DataValidationError(origin, index, "messages", "empty assistant turn")
    return {
        "id": str(row.get("id") or f"{source}/{task_type}/{index}"),
        "source": source,
        "task_type": task_type,
        "prompt": turns[:cut],
        "completion": [turns[cut]],
    }


def is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def mix_request_problem(config: Any, size: Any, task_types: Any) -> tuple[str, str, Any] | None:
    """The first bad argument of a mix as (field: mix, size or task_types; what it must be;
    the value), else None. Shared by ``data mix`` and the recipes' ``data`` section."""
    if config not in CONFIGS:
        return "mix", f"one of {list(CONFIGS)}", config
    if not is_positive_int(size):
        return "size", "a positive integer", size
    listed = isinstance(task_types, (list, tuple)) and bool(task_types)
    if not (listed and set(task_types) <= set(TASK_TYPES)):
        return "task_types", f"a list among {list(TASK_TYPES)}", task_types
    return None


def build_mix(
    config: str,
    size: int,
    seed: int,
    task_types: tuple[str, ...] = DEFAULT_TASK_TYPES,
    data_dir: str | Path | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The examples of one mix and its provenance report (counts by source and task type)."""
    bad = mix_request_problem(config, size, task_types)
    if bad:
        field, expected, value = bad
        flag = {"mix": "--config", "size": "--size", "task_types": "--task-types"}[field]
        raise TrainingError(f"{flag} must be {expected}, got {value!r}")
    keys = CONFIGS[config]
    shares = [size // len(keys) + (1 if i < size % len(keys) else 0) for i in range(len(keys))]
    pools, inputs = {}, {}
    for key in keys:
        source = SOURCES[key]
        pool = []
        for task_type in task_types:
            rows, origin = training_rows(source, task_type, data_dir)
            inputs[origin] = json_sha256(rows)
            pool += [to_example(r, origin, i, source, task_type) for i, r in enumerate(rows)]
        pools[source] = pool
    _check_enough(config, size, task_types, keys, shares, pools)
    mix = []
    for key, share in zip(keys, shares):
        source = SOURCES[key]
        mix += random.Random(f"{seed}/{source}").sample(pools[source], share)
    random.Random(seed).shuffle(mix)
    return mix, _report(config, size, seed, task_types, pools, mix, inputs)


def _check_enough(config, size, task_types, keys, shares, pools) -> None:
    for key, share in zip(keys, shares):
        source = SOURCES[key]
        if len(pools[source]) < share:
            largest = min(len(pools[SOURCES[k]]) for k in keys) * len(keys)
            counts = Counter(e["task_type"] for e in pools[source])
            detail = ", ".join(f"{t} {counts.get(t, 0)}" for t in task_types)
            raise TrainingError(
                f"mix {config} of size {size} needs {share} examples from {source} "
                f"({'+'.join(task_types)}), but only {len(pools[source])} are available "
                f"({detail}); the largest equal mix of these sources holds {largest}"
            )


def _report(config, size, seed, task_types, pools, mix, inputs) -> dict[str, Any]:
    taken = Counter((e["source"], e["task_type"]) for e in mix)
    sources = {}
    for source, pool in pools.items():
        available = Counter(e["task_type"] for e in pool)
        sources[source] = {
            "available": {t: available.get(t, 0) for t in task_types},
            "taken": {t: taken.get((source, t), 0) for t in task_types},
            "total": sum(taken.get((source, t), 0) for t in task_types),
        }
    return {
        "config": config,
        "size": size,
        "seed": seed,
        "task_types": list(task_types),
        "sources": sources,
        "inputs_sha256": inputs,
    }


def mix_text(mix: list[dict[str, Any]]) -> str:
    """The mix as JSON lines with sorted keys (byte-identical for identical inputs)."""
    return "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in mix)


def write_mix(mix: list[dict[str, Any]], report: dict[str, Any], path: Path) -> dict[str, Any]:
    """``path`` (JSONL) and ``<path>.provenance.json``; returns the report with the file's
    sha256."""
    text = mix_text(mix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    report = {**report, "file": str(path), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    provenance = path.with_name(path.name + ".provenance.json")
    provenance.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return report


def provenance_table(report: dict[str, Any]) -> str:
    """Counts by source and task type as a Markdown table."""
    types = report["task_types"]
    lines = ["| source | " + " | ".join(types) + " | total | available |"]
    lines.append("|---" * (len(types) + 3) + "|")
    for source, counts in report["sources"].items():
        cells = [str(counts["taken"][t]) for t in types]
        available = sum(counts["available"].values())
        lines.append(f"| {source} | " + " | ".join(cells) + f" | {counts['total']} | {available} |")
    return "\n".join(lines)
