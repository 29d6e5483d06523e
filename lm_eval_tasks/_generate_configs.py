"""Write the task stubs and groups of every benchmark declared in ``medinj_eval/benchmarks.py``,
and the benchmark table of ``docs/tasks.md``.

Run ``python lm_eval_tasks/_generate_configs.py`` after editing a declaration; the stubs are
committed so lm-eval finds them without running anything, and tests fail when the stubs or
the table differ from what this script writes.
"""

from __future__ import annotations

from pathlib import Path

from medinj_eval.tasks.benchmark_table import with_table
from medinj_eval.tasks.stubs import write_stubs

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    written = write_stubs(here)
    page = here.parent / "docs" / "tasks.md"
    page.write_text(with_table(page.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"{len(written)} stubs and groups written; benchmark table written in {page}")
