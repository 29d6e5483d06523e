"""The benchmark table of ``docs/tasks.md``, written from the declarations.

``lm_eval_tasks/_generate_configs.py`` rewrites the part of the page between the two
markers; a test fails when the committed page differs from what it writes.
"""

from __future__ import annotations

from medinj_eval.benchmarks import SAMPLE_PREFIX, Benchmark, all_benchmarks

BEGIN = "<!-- benchmark table: written by lm_eval_tasks/_generate_configs.py -->"
END = "<!-- end of the benchmark table -->"
COLUMNS = (
    "benchmark", "family", "answer kind", "hub id", "local folder", "modes", "shots",
    "answer orders", "sample twin",
)  # fmt: skip


def _code(value: str | None) -> str:
    return f"`{value}`" if value else "none"


def benchmark_row(bench: Benchmark) -> str:
    hub = _code(bench.hub_id) + (f" (`{bench.hub_config}`)" if bench.hub_config else "")
    twin = SAMPLE_PREFIX + (f"{bench.name}_<mode>" if bench.modes else bench.name)
    cells = (
        _code(bench.name),
        bench.family,
        bench.answer_kind,
        hub,
        _code(bench.local_dir + "/"),
        ", ".join(bench.modes) or "-",
        "/".join(str(s) for s in bench.shots),
        ", ".join(f"perm{p}" for p in bench.answer_orders) or "-",
        _code(twin),
    )
    return "| " + " | ".join(cells) + " |"


def benchmark_table(benches: list[Benchmark] | None = None) -> str:
    """One row per declared benchmark, in declaration order."""
    benches = all_benchmarks() if benches is None else benches
    head = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join([BEGIN, *head, *(benchmark_row(b) for b in benches), END])


def with_table(page: str, benches: list[Benchmark] | None = None) -> str:
    """``page`` with the text between the markers replaced by the current table."""
    start, end = page.index(BEGIN), page.index(END) + len(END)
    return page[:start] + benchmark_table(benches) + page[end:]
