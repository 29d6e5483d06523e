"""Where the packaged task YAMLs, judge prompts, recipes, sample data and caches live."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent


def _shipped(package_dir: str, repo_dir: str) -> Path:
    """The folder inside an installed wheel, else the source checkout's (editable install)."""
    installed = _PACKAGE / package_dir
    return installed if installed.is_dir() else _REPO / repo_dir


def tasks_dir() -> Path:
    """The ``--include_path`` folder holding every medinj-eval task YAML."""
    return _shipped("_tasks", "lm_eval_tasks")


def judge_prompts_dir() -> Path:
    return _shipped("_judge_prompts", "judge_prompts")


def training_dir() -> Path:
    return _shipped("_training", "training")


def sample_data_dir() -> Path:
    """The sample suite written by the project's authors (raw schema of each benchmark)."""
    from medinj_eval.benchmarks import SAMPLE_SUITE

    return tasks_dir() / SAMPLE_SUITE / "data"


def cache_dir() -> Path:
    """``$MEDINJ_CACHE`` or ``~/.cache/medinj-eval``."""
    return Path(os.environ.get("MEDINJ_CACHE", Path.home() / ".cache" / "medinj-eval"))
