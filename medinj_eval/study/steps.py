"""A study's steps and what each depends on: mix -> train -> evaluate -> judge -> compare
(with its report) -> tables, and the leaderboard site when the plan asks for it. Each step
is one ``medinj-eval`` command writing one folder under the study's output; its identity is
a sha256 of its inputs (model and adapter identity, data and task configuration hashes,
versions, seeds, arguments) and of the identities it depends on, so a changed input reruns
that step and every step after it, and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from medinj_eval.hashing import json_sha256
from medinj_eval.study.plan import Study, Suite, System, recipe_overrides

VERSIONED = ("medinj-eval", "lm-eval", "torch", "transformers", "peft", "trl")
COMPUTES = ("train", "evaluate", "judge")  # the kinds that take a GPU when there is one


@dataclass
class Step:
    """One command of the study; ``output`` is the folder it writes, ``record`` the folder
    holding its state and log."""

    id: str
    kind: str
    argv: list[str]
    output: Path
    deps: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    gpus: int = 0
    identity: str = ""

    def record(self, root: Path) -> Path:
        return root / "steps" / self.id


def build_steps(study: Study) -> list[Step]:
    """Every step of the study in dependency order, identities filled in."""
    root = study.output()
    steps: dict[str, Step] = {}
    adapters: dict[str, tuple[str | None, str | None]] = {}
    for system in study.systems:
        adapters[system.name] = _adapter(study, system, root, steps)
    for suite in study.evaluate:
        evaluated = []
        for system in study.systems:
            step = _evaluate(study, system, suite, root, adapters[system.name])
            steps[step.id] = step
            evaluated.append(step.id)
            if suite.judge and study.judge is not None:
                judged = _judge(study, step)
                steps[judged.id] = judged
                evaluated.append(judged.id)
        if len(study.systems) > 1:
            compared = _compare(study, suite, root, evaluated)
            steps[compared.id] = compared
    if study.tables:
        steps["tables"] = Step(
            "tables", "tables",
            ["study", "tables", str(study.path), "--output-dir", str(root),
             "--out", str(root / "tables")],
            root / "tables", deps=list(steps),
            inputs={"tables": study.tables, "published": study.published,
                    "baseline": study.baseline},
        )  # fmt: skip
    if study.leaderboard:
        steps["leaderboard"] = _leaderboard(study, root, steps)
    ordered = list(steps.values())
    _fill_identities(ordered, {str(root): "<study>", str(study.path): "<plan>"})
    return ordered


def _adapter(
    study: Study, system: System, root: Path, steps: dict[str, Step]
) -> tuple[str | None, str | None]:
    """(adapter folder, id of the step that trains it) of a system."""
    if system.adapter:
        return str(Path(system.adapter).resolve()), None
    if system.train is None:
        return None, None
    from medinj_eval.train.recipe import load_recipe

    recipe = load_recipe(system.train.recipe, recipe_overrides(system.train))
    data = recipe["data"]
    mix = _mix(data, root)
    steps.setdefault(mix.id, mix)
    out = root / "train" / system.name
    overrides = [*recipe_overrides(system.train), f"data.file={mix.output / 'mix.jsonl'}",
                 f"output_dir={out}"]  # fmt: skip
    if system.model:
        overrides.append(f"model.base={system.model}")
    inputs = {"recipe": {k: v for k, v in recipe.items() if k not in ("path", "overrides")},
              "base": _base_identity(system.model or study.base)}  # fmt: skip
    train = Step(f"train/{system.name}", "train",
                 ["train", "--recipe", system.train.recipe, *overrides], out,
                 deps=[mix.id], inputs=inputs, gpus=1)  # fmt: skip
    steps[train.id] = train
    return str(out), train.id


def _mix(data: dict[str, Any], root: Path) -> Step:
    from medinj_eval.train.mixes import DEFAULT_TASK_TYPES

    types = list(data.get("task_types") or DEFAULT_TASK_TYPES)
    name = f"{data['mix']}-{data['size']}-seed{data.get('seed', 42)}-{'-'.join(types)}"
    out = root / "mix" / name
    argv = ["data", "mix", "--config", data["mix"], "--size", str(data["size"]),
            "--seed", str(data.get("seed", 42)), "--task-types", ",".join(types),
            "--out", str(out / "mix.jsonl")]  # fmt: skip
    if data.get("sample"):
        argv.append("--sample")
        source = {"sample": _folder_hash(str(_sample_dir()))}
    elif data.get("data_dir"):
        argv += ["--data-dir", str(data["data_dir"])]
        source = {"data_dir": _folder_hash(str(data["data_dir"]))}
    else:
        source = {"hub": "MedInjection-FR"}
    return Step(f"mix/{name}", "mix", argv, out, inputs={"data": source})


def _evaluate(
    study: Study, system: System, suite: Suite, root: Path, adapter: tuple[str | None, str | None]
) -> Step:
    folder, trained_by = adapter
    model = system.model or study.base
    model_args = f"pretrained={model}" + (f",peft={folder}" if folder else "")
    out = root / "evaluate" / system.name / suite.name
    argv = ["run", "--model", study.backend, "--model_args", model_args,
            "--tasks", ",".join(suite.tasks), *command_flags(suite.args),
            "--output_path", str(out)]  # fmt: skip
    inputs: dict[str, Any] = {"base": _base_identity(model), "tasks": _folder_hash(str(_tasks()))}
    if folder and not trained_by:
        inputs["adapter_sha256"] = _folder_hash(folder)
    data_dir = (suite.args.get("metadata") or {}).get("data_dir")
    if data_dir:
        inputs["data_dir"] = _folder_hash(str(data_dir))
    gpus = int(suite.args.get("data_parallel") or suite.args.get("data-parallel") or 1)
    return Step(f"evaluate/{system.name}/{suite.name}", "evaluate", argv, out,
                deps=[trained_by] if trained_by else [], inputs=inputs, gpus=gpus)  # fmt: skip


def _judge(study: Study, evaluated: Step) -> Step:
    from medinj_eval.judge.prompts import load_prompt

    judge = study.judge
    assert judge is not None
    argv = ["judge", str(evaluated.output), "--no-progress",
            "--cache", str(study.output() / "judge-cache.sqlite")]  # fmt: skip
    if judge.jury:
        argv += ["--jury", judge.jury]
        inputs, in_process = _jury_inputs(Path(judge.jury))
    else:
        argv += ["--prompt", judge.prompt, "--judge-model", judge.model]
        if judge.server != "in-process":
            argv += ["--base-url", judge.server, "--server", judge.family or "openai"]
        inputs = {"prompt": load_prompt(judge.prompt).sha256()}
        in_process = judge.server == "in-process"
        if in_process:
            inputs["judge_model"] = _base_identity(judge.model)
    argv += command_flags(judge.args)
    step_id = evaluated.id.replace("evaluate/", "judge/", 1)
    return Step(step_id, "judge", argv, evaluated.output / "judge" / judge.folder,
                deps=[evaluated.id], inputs=inputs, gpus=int(in_process))  # fmt: skip


def _jury_inputs(path: Path) -> tuple[dict[str, Any], bool]:
    """What a jury's verdicts depend on: its file, each judge's prompt and in-process model."""
    from medinj_eval.hashing import sha256_file
    from medinj_eval.judge.panel import load_panel
    from medinj_eval.judge.prompts import load_prompt

    inputs: dict[str, Any] = {"jury": sha256_file(path)}
    in_process = False
    for spec in load_panel(path).judges:
        inputs[f"prompt/{spec.name}"] = load_prompt(spec.prompt).sha256()
        if not spec.servers:
            in_process = True
            inputs[f"judge_model/{spec.name}"] = _base_identity(spec.model)
    return inputs, in_process


def _compare(study: Study, suite: Suite, root: Path, evaluated: list[str]) -> Step:
    runs = [str(root / "evaluate" / s.name / suite.name) for s in study.systems]
    out = root / "compare" / suite.name
    options = study.compare
    argv = ["compare", *runs, "--names", ",".join(s.name for s in study.systems),
            "--baseline", study.baseline, "--q", str(options.q),
            "--resamples", str(options.resamples), "--seed", str(options.seed),
            "--out", str(out)]  # fmt: skip
    if options.metric:
        argv += ["--metric", options.metric]
    return Step(f"compare/{suite.name}", "compare", argv, out, deps=evaluated)


def _leaderboard(study: Study, root: Path, steps: dict[str, Step]) -> Step:
    """The leaderboard site with every run of the study beside the published rows."""
    runs = [str(s.output) for s in steps.values() if s.kind == "evaluate"]
    needs = [s.id for s in steps.values() if s.kind in ("evaluate", "judge")]
    results = Path("results").resolve()  # submissions and published rows, as `leaderboard`
    argv = ["leaderboard", "build", "--results", str(results),
            "--out", str(root / "leaderboard"), "--runs", *runs]  # fmt: skip
    inputs = {"results": _folder_hash(str(results))}
    return Step("leaderboard", "leaderboard", argv, root / "leaderboard", needs, inputs)


def command_flags(args: dict[str, Any]) -> list[str]:
    """``{apply_chat_template: true, limit: 5, metadata: {...}}`` as command-line flags."""
    out: list[str] = []
    for key, value in args.items():
        flag = f"--{key}"
        if value is True:
            out.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, dict):
            out += [flag, json.dumps(value, sort_keys=True)]
        elif isinstance(value, list):
            out += [flag, ",".join(str(v) for v in value)]
        else:
            out += [flag, str(value)]
    return out


def _fill_identities(steps: list[Step], placeholders: dict[str, str]) -> None:
    """Each step's identity; the study's folder and the plan's file are left out of it (a
    study moved or copied elsewhere keeps its steps)."""
    by_id = {s.id: s for s in steps}
    versions = _versions()
    for step in steps:  # dependency order: a step's deps come before it
        material = {
            "kind": step.kind,
            "argv": [_placeheld(a, placeholders) for a in step.argv],
            "inputs": step.inputs,
            "versions": versions,
            "deps": {d: by_id[d].identity for d in step.deps},
        }
        step.identity = json_sha256(material)


def _placeheld(arg: str, placeholders: dict[str, str]) -> str:
    for path, name in placeholders.items():
        arg = arg.replace(path, name)
    return arg


@cache
def _versions() -> dict[str, str | None]:
    from medinj_eval.provenance import package_version

    return {name: package_version(name) for name in VERSIONED}


@cache
def _folder_hash(folder: str) -> str | None:
    from medinj_eval.provenance import folder_sha256

    return folder_sha256(folder) if Path(folder).is_dir() else None


@cache
def _base_identity(model: str) -> dict[str, Any]:
    from medinj_eval.models.default_model import resolve_pretrained
    from medinj_eval.provenance import base_model_identity

    if model == "default":
        return {"base_model": "default"}  # the embedded model, pinned by the package version
    return base_model_identity(resolve_pretrained(model), None)


def _tasks() -> Path:
    from medinj_eval.paths import tasks_dir

    return tasks_dir()


def _sample_dir() -> Path:
    from medinj_eval.paths import sample_data_dir

    return sample_data_dir()
