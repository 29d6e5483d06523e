"""The two ways to run the suite, and the wheel that ships it.

* stock ``lm_eval --include_path "$(medinj-eval tasks-path)" --tasks medinj_fr --model hf``;
* ``medinj-eval run --tasks medinj_fr --model hf --model_args pretrained=default``;
both must score the same items identically, the constrained tasks included.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import cli

from medinj_eval.paths import sample_data_dir, tasks_dir
from medinj_eval.tasks.stubs import leaf_tasks

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLE_META = json.dumps({"data_dir": str(sample_data_dir())})
MEDINJ_FR_TASKS = leaf_tasks("medinj_fr")


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def load_run(out: Path) -> tuple[dict, dict[str, list]]:
    (results_file,) = out.glob("*/results_*.json")
    samples = {}
    for path in out.glob("*/samples_*.jsonl"):
        task = path.name[len("samples_") :].rsplit("_", 1)[0]
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        samples[task] = [(r["doc_id"], r["filtered_resps"]) for r in rows]
    return json.loads(results_file.read_text())["results"], samples


@pytest.fixture(scope="module")
def two_runs(default_model, tmp_path_factory) -> dict[str, tuple[dict, dict]]:
    tmp = tmp_path_factory.mktemp("entry")
    common = ["--tasks", "medinj_fr", "--model", "hf", "--limit", "2", "--apply_chat_template"]
    common += ["--metadata", SAMPLE_META]
    stock = [str(BIN / "lm_eval"), "--include_path", str(tasks_dir()), *common]
    stock += ["--model_args", f"pretrained={default_model}", "--log_samples"]
    run([*stock, "--output_path", str(tmp / "stock")])
    ours = [str(BIN / "medinj-eval"), "run", *common, "--model_args", "pretrained=default"]
    run([*ours, "--output_path", str(tmp / "ours")])
    return {"stock": load_run(tmp / "stock"), "ours": load_run(tmp / "ours")}


def test_stock_lm_eval_runs_medinj_fr_with_hf(two_runs):
    results, samples = two_runs["stock"]
    assert sorted(samples) == sorted(MEDINJ_FR_TASKS)
    family = {
        sub: [
            results[f"medinjfr_{src}_{sub}_constrained"]["em,none"]
            for src in ("native", "translated")
        ]
        for sub in ("mcq", "mcqu")
    }
    # Equal test sizes per source here, so the size-weighted family mean is the plain mean.
    expected = sum(sum(v) / 2 for v in family.values()) / 2
    assert results["medinjfr_constrained_em"]["em,none"] == pytest.approx(expected)
    for task in [t for t in MEDINJ_FR_TASKS if t.endswith("_constrained")]:
        assert results[task]["valid,none"] > 0.0  # the mask held under the stock backend


def test_wrapper_scores_exactly_like_stock_lm_eval(two_runs):
    stock_results, stock_samples = two_runs["stock"]
    our_results, our_samples = two_runs["ours"]
    assert our_samples == stock_samples
    for task in MEDINJ_FR_TASKS:
        assert our_results[task] == stock_results[task]


@pytest.mark.slow
def test_tasks_path_is_the_include_path():
    done = run([str(BIN / "medinj-eval"), "tasks-path"])
    path = Path(done.stdout.strip())
    assert (path / "medinj_fr" / "medinj_fr.yaml").is_file()
    assert path == tasks_dir()


def source_files() -> list[str]:
    """What a fresh clone would hold: tracked files plus new ones git does not ignore."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO)
    return [f for f in listed.stdout.splitlines() if (REPO / f).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a clean copy: setuptools reuses a source tree's stale build/ folder."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in source_files():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(src)])
    (built,) = out.glob("medinj_eval-*.whl")
    return built


def shipped_files(folder: str) -> list[str]:
    """Files of a source folder that must be in the wheel (all but the stub generator)."""
    return [
        f
        for f in source_files()
        if f.startswith(f"{folder}/") and not f.endswith("_generate_configs.py")
    ]


def test_wheel_ships_tasks_prompts_recipes_and_no_generic_top_level(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    top_level = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert top_level == {"medinj_eval"}
    for folder, target in (
        ("medinj_eval", "medinj_eval"),
        ("lm_eval_tasks", "medinj_eval/_tasks"),
        ("judge_prompts", "medinj_eval/_judge_prompts"),
        ("training", "medinj_eval/_training"),
    ):
        files = shipped_files(folder)
        assert files, folder
        missing = [f for f in files if f.replace(folder, target, 1) not in names]
        assert not missing, f"not in the wheel: {missing[:10]}"


@pytest.fixture(scope="module")
def installed_wheel(wheel, tmp_path_factory) -> Path:
    """The wheel installed alone (no dependencies) into a folder of its own."""
    target = tmp_path_factory.mktemp("installed") / "site"
    run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), wheel])
    return target


def test_installed_wheel_finds_and_validates_its_tasks(installed_wheel, tmp_path):
    target = installed_wheel
    env = {**os.environ, "PYTHONPATH": str(target)}
    from_wheel = [sys.executable, "-m", "medinj_eval.cli"]
    path = run([*from_wheel, "tasks-path"], env=env, cwd=tmp_path).stdout.strip()
    assert Path(path) == target / "medinj_eval" / "_tasks"
    done = run([*from_wheel, "validate", "--tasks", "medinj_fr_sample"], env=env, cwd=tmp_path)
    assert "is valid" in done.stdout


def test_a_run_from_the_wheel_pairs_with_one_from_the_checkout(
    installed_wheel, default_model, tmp_path
):
    target = installed_wheel
    task = ["--tasks", "medinj_fr_sample_frenchmedmcqa_loglik", "--limit", "3"]
    task += ["--model", "medinj-hf", "--model_args", "pretrained=default,prefix_cache=true"]
    env = {**os.environ, "PYTHONPATH": str(target)}
    from_wheel = [sys.executable, "-m", "medinj_eval.cli", "run", *task]
    run([*from_wheel, "-o", str(tmp_path / "wheel")], env=env, cwd=tmp_path)
    cli("run", *task, "-o", str(tmp_path / "checkout"))
    (shipped,) = (tmp_path / "wheel").glob("*/manifest.json")
    assert str(target) in shipped.read_text()  # the wheel's own sample files were read
    runs = [str(tmp_path / "wheel"), str(tmp_path / "checkout")]
    cli("compare", *runs, "--names", "wheel,checkout", "--baseline", "wheel",
        "--out", str(tmp_path / "cmp"))  # fmt: skip
    (cell,) = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["cells"]
    assert cell["n_items"] == 3
