"""Shared fixtures: the real default model, the real ../shared data, an in-process lm-eval run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; fails loudly under MEDINJ_REQUIRE_SHARED=1, else skips with the reason."""
    if (SHARED_DATA / "frenchmedmcqa" / "test.json").is_file():
        return SHARED_DATA
    reason = f"real benchmark data not found at {SHARED_DATA} (CI provides ../shared)"
    if os.environ.get("MEDINJ_REQUIRE_SHARED") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def default_model() -> str:
    """Folder of the real SmolLM2-135M-Instruct (prepared once, cached)."""
    from medinj_eval.models import default_model as dm

    return str(dm.prepare(log=lambda *_: None))


def evaluate(model: str, model_args: str, tasks: list[str], limit: int | None = None, **kw):
    """lm-eval's simple_evaluate over our tasks, samples logged."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    import medinj_eval.models.medinj_hf  # noqa: F401
    from medinj_eval.paths import tasks_dir

    manager = TaskManager(include_path=str(tasks_dir()), metadata=kw.pop("metadata", {}))
    return lm_eval.simple_evaluate(
        model=model,
        model_args=model_args,
        tasks=tasks,
        limit=limit,
        task_manager=manager,
        log_samples=True,
        batch_size=kw.pop("batch_size", 8),
        device="cpu",
        bootstrap_iters=0,
        **kw,
    )
