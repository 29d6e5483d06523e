"""Write the task stubs and groups of every benchmark declared in ``medinj_eval/benchmarks.py``.

Run ``python lm_eval_tasks/_generate_configs.py`` after editing a declaration; the stubs are
committed so lm-eval finds them without running anything, and a test fails when they differ
from what this script writes.
"""

from __future__ import annotations

from pathlib import Path

from medinj_eval.tasks.stubs import write_stubs

if __name__ == "__main__":
    written = write_stubs(Path(__file__).resolve().parent)
    print(f"{len(written)} stubs and groups written")
