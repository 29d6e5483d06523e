"""lm-eval's non-public names that medinj-eval depends on, resolved in the installed lm-eval,
and the rule that only an explicit ``install()`` patches lm-eval."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from medinj_eval.lm_eval_internals import (
    LM_EVAL_VERSION,
    TARGETS,
    LmEvalSurfaceError,
    Target,
    installed_version,
    resolve,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t.module}:{t.name}")
def test_every_patch_target_exists_in_the_installed_lm_eval(target: Target):
    if target.needs and importlib.util.find_spec(target.needs) is None:
        pytest.skip(f"{target.module} imports {target.needs}, not installed here")
    assert resolve(target) is not None


def test_a_moved_target_is_named_with_the_pinned_version():
    gone = Target("lm_eval.evaluator", "evaluate_renamed", "is wrapped to refuse a task")
    with pytest.raises(LmEvalSurfaceError) as err:
        resolve(gone)
    message = str(err.value)
    assert "lm_eval.evaluator:evaluate_renamed" in message
    assert f"pinned to lm-eval {LM_EVAL_VERSION}" in message
    missing_module = Target("lm_eval.no_such_module", "anything", "is read")
    with pytest.raises(LmEvalSurfaceError, match="lm_eval.no_such_module:anything"):
        resolve(missing_module)


def test_lm_eval_is_pinned_to_the_version_the_tests_cover():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [d for d in project["project"]["dependencies"] if d.startswith("lm-eval")]
    assert pins == [f"lm-eval[api]=={LM_EVAL_VERSION}"]
    assert installed_version() == LM_EVAL_VERSION


BUILD_WITHOUT_INSTALL = """
import lm_eval.evaluator as evaluator
from lm_eval.models.huggingface import HFLM
from medinj_eval.models.medinj_hf import MedinjHFLM
from medinj_eval.tasks.datasets import load_benchmark
from medinj_eval.tasks.mcq import MedinjMCQTask
from medinj_eval import lm_eval_internals

before = (evaluator.evaluate, HFLM._model_generate)
task = MedinjMCQTask(config={
    "task": "constrained_probe", "custom_dataset": load_benchmark,
    "dataset_kwargs": {"benchmark": "frenchmedmcqa", "sample": True},
    "test_split": "test", "output_type": "generate_until",
    "doc_to_text": "{{prompt}}", "doc_to_target": "{{answer_text}}",
    "generation_kwargs": {"until": [], "do_sample": False},
    "metric_list": [{"metric": "em", "aggregation": "mean", "higher_is_better": True}],
    "metadata": {"mode": "constrained"},
})
assert task.mode == "constrained" and len(task.eval_docs) > 0
lm = MedinjHFLM(pretrained="default", batch_size=1, device="cpu")
assert (evaluator.evaluate, HFLM._model_generate) == before, "building patched lm-eval"
assert not hasattr(HFLM, "medinj_constrains") and not lm_eval_internals.installed()
lm_eval_internals.install()
assert evaluator.evaluate is not before[0] and HFLM._model_generate is not before[1]
assert HFLM.medinj_constrains and lm_eval_internals.installed()
print("ok")
"""


def run_in_fresh_interpreter(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_building_a_task_or_a_model_patches_nothing_until_install(default_model):
    run_in_fresh_interpreter(BUILD_WITHOUT_INSTALL)


LOAD_WITH_STOCK_TASK_MANAGER = """
from lm_eval.tasks import TaskManager
from medinj_eval import lm_eval_internals
from medinj_eval.paths import tasks_dir

manager = TaskManager(include_path=str(tasks_dir()), include_defaults=False)
assert not lm_eval_internals.installed()
manager.load(["medinj_fr_sample_frenchmedmcqa_constrained"])
assert lm_eval_internals.installed(), "loading the tasks did not install the patches"
print("ok")
"""


@pytest.mark.slow
def test_loading_the_tasks_installs_the_patches_for_a_stock_lm_eval():
    run_in_fresh_interpreter(LOAD_WITH_STOCK_TASK_MANAGER)
