"""In-process evaluation: lm-eval's ``simple_evaluate`` over medinj-eval's tasks.

The Python counterpart of ``medinj-eval run`` for notebooks, tests and benchmarks: the
task manager gets the package's include path and the ``medinj-hf`` backend is registered.
"""

from __future__ import annotations

from typing import Any


def evaluate(
    model: str,
    model_args: str,
    tasks: list[str],
    *,
    limit: int | None = None,
    metadata: dict[str, Any] | None = None,
    batch_size: int | str = 8,
    device: str = "cpu",
    include_defaults: bool = False,
    include_path: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Results of ``tasks`` (samples logged, no bootstrap unless asked) as lm-eval returns them.

    ``include_defaults=True`` also indexes lm-eval's built-in tasks (about 7 s more per call);
    ``include_path`` replaces the package's tasks folder.
    """
    import lm_eval
    from lm_eval.tasks import TaskManager

    import medinj_eval.models.medinj_hf  # noqa: F401  registers --model medinj-hf
    from medinj_eval.lm_eval_internals import install
    from medinj_eval.models.default_model import resolve_model_args
    from medinj_eval.paths import tasks_dir

    manager = TaskManager(
        include_path=include_path or str(tasks_dir()),
        include_defaults=include_defaults,
        metadata=metadata or {},
    )
    install()
    kwargs.setdefault("log_samples", True)
    kwargs.setdefault("bootstrap_iters", 0)
    return lm_eval.simple_evaluate(
        model=model,
        model_args=resolve_model_args(model_args),
        tasks=tasks,
        limit=limit,
        task_manager=manager,
        batch_size=batch_size,
        device=device,
        **kwargs,
    )
