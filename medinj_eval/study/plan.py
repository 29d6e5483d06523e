"""A study file (``studies/<name>.yaml``) read into one validated object.

The schema is declared once, as pydantic models with unknown keys forbidden; what pydantic
cannot know (a recipe, a mix, a task, a judge prompt or a path that does not exist, a
baseline that is no system) is checked after. Every problem is one line naming the file,
the key and the value, with the closest known names when there are some.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from medinj_eval.strict_yaml import Strict, close_hint, validated
from medinj_eval.study import StudyError

STEP_KINDS = ("mix", "train", "evaluate", "judge", "compare", "tables", "leaderboard")


class Training(Strict):
    """An adapter trained by ``medinj-eval train`` from a shipped recipe (or a recipe file)
    on one MedInjection-FR mix; ``overrides`` are the recipe's ``section.key: value``."""

    recipe: str
    mix: str
    overrides: dict[str, Any] = Field(default_factory=dict)


class System(Strict):
    """One evaluated model: the study's base (or ``model``), alone or with an adapter that
    is either given (``adapter``, a folder) or trained (``train``)."""

    name: str
    model: str | None = None
    adapter: str | None = None
    train: Training | None = None


class Suite(Strict):
    """Tasks evaluated together on every system (one ``medinj-eval run`` each); ``args`` are
    that command's flags (``apply_chat_template: true``, ``limit: 5``, ...); ``judge: true``
    sends its open-ended answers to the study's judge."""

    name: str
    tasks: list[str]
    judge: bool = False
    args: dict[str, Any] = Field(default_factory=dict)


class Judge(Strict):
    """``server: in-process`` judges with ``model`` loaded in the step's own process; a URL
    is an OpenAI-compatible server (``family`` says how it takes structured output)."""

    prompt: str = "medinjection-binary"
    server: str = "in-process"
    model: str = "default"
    family: str | None = None
    jury: str | None = None  # a judges file: every judge grades, verdicts combined
    args: dict[str, Any] = Field(default_factory=dict)

    @property
    def folder(self) -> str:
        """The folder its records go to under ``<run>/judge/`` (the metric judge_<folder>)."""
        if self.jury:
            return Path(self.jury).stem
        from medinj_eval.judge.prompts import load_prompt

        return load_prompt(self.prompt).name


class Comparison(Strict):
    metric: str | None = None
    q: float = 0.05
    resamples: int = 10_000
    seed: int = 0


class Resources(Strict):
    """What one Slurm job of a step kind asks for."""

    gpus: int = 0
    cpus: int = 1
    mem_gb: int = 4
    time_min: int = 60


class Slurm(Strict):
    partition: str | None = None
    account: str | None = None
    defaults: Resources = Field(default_factory=Resources)
    resources: dict[str, Resources] = Field(default_factory=dict)

    @field_validator("resources")
    @classmethod
    def _kinds(cls, value: dict[str, Resources]) -> dict[str, Resources]:
        for kind in value:
            if kind not in STEP_KINDS:
                raise ValueError(f"unknown step kind {kind!r}{close_hint(kind, STEP_KINDS)}")
        return value

    def for_kind(self, kind: str) -> Resources:
        return self.resources.get(kind, self.defaults)


class Executor(Strict):
    """``local``: ``parallel`` steps at a time; with ``gpus`` listed, a step that computes
    takes one of them through ``CUDA_VISIBLE_DEVICES``. ``slurm``: one job per step."""

    kind: Literal["local", "slurm"] = "local"
    parallel: int = Field(1, ge=1)
    gpus: list[int] = Field(default_factory=list)
    slurm: Slurm = Field(default_factory=Slurm)


class Study(Strict):
    name: str
    description: str = ""
    base: str
    backend: str = "hf"
    systems: list[System]
    evaluate: list[Suite]
    judge: Judge | None = None
    baseline: str
    compare: Comparison = Field(default_factory=Comparison)
    tables: list[Literal["medinjection-fr", "enmed-grid"]] = Field(default_factory=list)
    published: bool = False
    leaderboard: bool = False
    output_dir: str | None = None
    executor: Executor = Field(default_factory=Executor)
    path: Path = Field(Path("."), exclude=True)

    @field_validator("judge", mode="before")
    @classmethod
    def _no_judge(cls, value: Any) -> Any:
        return None if value in ("none", "None") else value

    def output(self) -> Path:
        return Path(self.output_dir or Path("runs") / "studies" / self.name).resolve()


def studies_dir() -> Path:
    from medinj_eval.paths import _shipped

    return _shipped("_studies", "studies")


def load_study(
    name_or_path: str | Path, executor: str | None = None, output_dir: Path | None = None
) -> Study:
    """The validated study; ``executor`` (``local`` or ``slurm``) and ``output_dir`` replace
    the file's."""
    from medinj_eval.named_yaml import read_named_yaml

    path, data = read_named_yaml(str(name_or_path), studies_dir(), "study", StudyError)
    if executor:
        data = {**data, "executor": {**(data.get("executor") or {}), "kind": executor}}
    if output_dir:
        data = {**data, "output_dir": str(output_dir)}
    study = validated(Study, {**data, "path": path.resolve()}, path, StudyError)
    for problem in _problems(study):
        raise StudyError(f"{path}: {problem}")
    return study


def _problems(study: Study) -> list[str]:
    """What pydantic cannot see: names that must exist elsewhere, and repeated names."""
    problems = _repeated("systems", [s.name for s in study.systems])
    problems += _repeated("evaluate", [s.name for s in study.evaluate])
    names = [s.name for s in study.systems]
    if study.baseline not in names:
        problems.append(
            f"key 'baseline': {study.baseline!r} is no system{close_hint(study.baseline, names)}"
        )
    for system in study.systems:
        problems += _system_problems(system)
    problems += _task_problems(study)
    if study.judge is not None:
        problems += _judge_problems(study.judge)
    if study.tables and not study.evaluate:
        problems.append("key 'tables': a table needs at least one suite under 'evaluate'")
    return problems


def _repeated(key: str, names: list[str]) -> list[str]:
    seen = {n for n in names if names.count(n) > 1}
    return [f"key '{key}': name {sorted(seen)[0]!r} is given twice"] if seen else []


def _system_problems(system: System) -> list[str]:
    from medinj_eval.train.mixes import CONFIGS

    key = f"systems[{system.name}]"
    if system.adapter and system.train:
        return [f"key '{key}': give 'adapter' (a folder) or 'train', not both"]
    if system.adapter and not Path(system.adapter).is_dir():
        return [f"key '{key}.adapter': {system.adapter!r} is not a folder"]
    if system.model and not _model_exists(system.model):
        return [f"key '{key}.model': {system.model!r} is neither a folder nor a hub id"]
    if system.train is None:
        return []
    if system.train.mix not in CONFIGS:
        hint = close_hint(system.train.mix, CONFIGS)
        return [f"key '{key}.train.mix': {system.train.mix!r} is no mix{hint}; "
                f"mixes: {', '.join(CONFIGS)}"]  # fmt: skip
    return _recipe_problems(key, system.train)


def _model_exists(model: str) -> bool:
    return (
        model == "default"
        or Path(model).is_dir()
        or (model.count("/") == 1 and not model.startswith((".", "/")))
    )


def _recipe_problems(key: str, training: Training) -> list[str]:
    from medinj_eval.train import TrainingError
    from medinj_eval.train.recipe import load_recipe, recipes_dir

    try:
        load_recipe(training.recipe, recipe_overrides(training))
    except TrainingError as err:
        message = str(err)
        if "is neither a file nor one of" in message:
            known = sorted(p.stem for p in recipes_dir().glob("*.yaml"))
            hint = close_hint(training.recipe, known)
            return [f"key '{key}.train.recipe': {training.recipe!r} is no recipe{hint}"]
        return [f"key '{key}.train': {message}"]
    return []


def recipe_overrides(training: Training) -> list[str]:
    """The recipe's command-line overrides: the plan's, then the mix."""
    import json

    given = [f"{k}={json.dumps(v)}" for k, v in training.overrides.items()]
    return [*given, f"data.mix={training.mix}"]


def _task_problems(study: Study) -> list[str]:
    from medinj_eval.lm_eval_internals import built_once_task_manager
    from medinj_eval.paths import tasks_dir

    ours = set(built_once_task_manager(include_path=str(tasks_dir()),
                                       include_defaults=False).all_tasks)  # fmt: skip
    for suite in study.evaluate:
        unknown = [t for t in suite.tasks if t not in ours and not Path(t).exists()]
        if not unknown:
            continue
        from lm_eval.tasks import TaskManager  # lm-eval's own tasks: indexed only when needed

        stock = set(TaskManager().all_tasks)
        for task in unknown:
            if task not in stock:
                return [f"key 'evaluate[{suite.name}].tasks': {task!r} is no task"
                        f"{close_hint(task, ours)}"]  # fmt: skip
    return []


def _judge_problems(judge: Judge) -> list[str]:
    from medinj_eval.judge import JudgeError
    from medinj_eval.judge.panel import load_panel
    from medinj_eval.named_yaml import shipped_names
    from medinj_eval.paths import judge_prompts_dir

    if judge.jury:
        try:
            load_panel(Path(judge.jury))
        except JudgeError as err:
            return [f"key 'judge.jury': {err}"]
        return []

    known = shipped_names(judge_prompts_dir())
    if judge.prompt not in known and not Path(judge.prompt).is_file():
        return [f"key 'judge.prompt': {judge.prompt!r} is no judge prompt"
                f"{close_hint(judge.prompt, known)}"]  # fmt: skip
    if judge.server != "in-process" and not judge.server.startswith(("http://", "https://")):
        return [f"key 'judge.server': {judge.server!r} is neither in-process nor a URL"]
    return []
