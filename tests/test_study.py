"""Studies: a file validated before anything runs, its steps as a graph with identities, the
demo study run end to end on the default model (a step killed mid-way and rerun alone, a
second run that does nothing), on a real Slurm cluster, and the papers' tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, cli

from medinj_eval.study import StudyError
from medinj_eval.study.plan import load_study
from medinj_eval.study.state import StudyLock, claim_folder
from medinj_eval.study.steps import build_steps
from medinj_eval.study.tables import Column, Table, latex, markdown

DEMO = REPO / "studies" / "demo.yaml"


def demo_plan() -> dict:
    return yaml.safe_load(DEMO.read_text(encoding="utf-8"))


def write_plan(tmp_path: Path, plan: dict, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


def edited(change) -> dict:
    plan = demo_plan()
    change(plan)
    return plan


BAD_PLANS = {
    "unknown top key": (
        lambda p: p.update(sytems=p.pop("systems")),
        "unknown key 'sytems' (did you mean systems",
    ),
    "unknown nested key": (
        lambda p: p["systems"][1]["train"].update(recipie="x"),
        "unknown key 'systems[NAT].train.recipie' (did you mean recipe?)",
    ),
    "missing key": (lambda p: p.pop("base"), "key 'base' is required"),
    "wrong type": (
        lambda p: p["executor"].update(parallel="two"),
        "key 'executor.parallel': Input should be a valid integer",
    ),
    "missing adapter folder": (
        lambda p: p["systems"].append({"name": "given", "adapter": "no/such/adapter"}),
        "key 'systems[given].adapter': 'no/such/adapter' is not a folder",
    ),
    "unknown recipe": (
        lambda p: p["systems"][1]["train"].update(recipe="smollm2-dora-sampel"),
        "key 'systems[NAT].train.recipe': 'smollm2-dora-sampel' is no recipe "
        "(did you mean smollm2-dora-sample",
    ),
    "unknown mix": (
        lambda p: p["systems"][1]["train"].update(mix="NAT-TRAF"),
        "key 'systems[NAT].train.mix': 'NAT-TRAF' is no mix (did you mean NAT-TRAD",
    ),
    "unknown task": (
        lambda p: p["evaluate"][0]["tasks"].append(
            "medinj_fr_sample_medinjfr_native_mcq_constraind"
        ),
        "key 'evaluate[sample].tasks': 'medinj_fr_sample_medinjfr_native_mcq_constraind' is no "
        "task (did you mean medinj_fr_sample_medinjfr_native_mcq_constrained",
    ),
    "baseline not a system": (
        lambda p: p.update(baseline="bse"),
        "key 'baseline': 'bse' is no system (did you mean base?)",
    ),
    "unknown judge prompt": (
        lambda p: p["judge"].update(prompt="medinjection-binry"),
        "key 'judge.prompt': 'medinjection-binry' is no judge prompt "
        "(did you mean medinjection-binary",
    ),
    "a missing jury file": (
        lambda p: p["judge"].update(jury="no/such/jury.yaml"),
        "key 'judge.jury': no/such/jury.yaml: cannot read the judges file",
    ),
    "a bad recipe override": (
        lambda p: p["systems"][1]["train"]["overrides"].update({"training.lr": 1}),
        "key 'systems[NAT].train': command line 'training.lr=1'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PLANS))
def test_a_bad_plan_is_one_line_naming_file_key_and_value(tmp_path, case):
    change, message = BAD_PLANS[case]
    path = write_plan(tmp_path, edited(change))
    with pytest.raises(StudyError) as err:
        load_study(str(path))
    text = str(err.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    assert message in text, text


def test_identities_follow_their_inputs_and_nothing_else(tmp_path):
    base = {s.id: s for s in build_steps(load_study(str(write_plan(tmp_path, demo_plan()))))}
    more = edited(lambda p: p["systems"][1]["train"]["overrides"].update({"training.seed": 7}))
    changed = {s.id: s for s in build_steps(load_study(str(write_plan(tmp_path, more, "b.yaml"))))}
    differ = {i for i in base if base[i].identity != changed[i].identity}
    assert differ == {"train/NAT", "evaluate/NAT/sample", "judge/NAT/sample",
                      "compare/sample", "tables"}  # fmt: skip
    order = list(base)
    for step in base.values():  # dependency order
        assert all(order.index(d) < order.index(step.id) for d in step.deps)
    assert base["train/NAT"].deps == ["mix/NAT-8-seed42-mcq-mcqu"]
    assert "--sample" in base["mix/NAT-8-seed42-mcq-mcqu"].argv


def test_a_jury_judges_each_run_and_its_file_is_an_input(tmp_path):
    jury = tmp_path / "panel.yaml"
    jury.write_text("judges: [{name: a}, {name: b, server: http://127.0.0.1:9/v1}]\n")
    plan = edited(lambda p: p["judge"].update(jury=str(jury)))
    steps = {s.id: s for s in build_steps(load_study(str(write_plan(tmp_path, plan))))}
    judged = steps["judge/base/sample"]
    assert judged.argv[judged.argv.index("--jury") + 1] == str(jury)
    assert "--prompt" not in judged.argv and judged.output.name == "panel"
    assert judged.gpus == 1  # judge a runs in process
    jury.write_text("judges: [{name: a}, {name: c, server: http://127.0.0.1:9/v1}]\n")
    again = {s.id: s for s in build_steps(load_study(str(write_plan(tmp_path, plan))))}
    assert again["judge/base/sample"].identity != judged.identity


def test_a_folder_of_another_plan_and_a_second_run_are_refused(tmp_path):
    claim_folder(tmp_path, "demo", DEMO)
    claim_folder(tmp_path, "demo", DEMO)  # the same plan again: fine
    with pytest.raises(StudyError, match="holds the steps of study 'demo'.*not of 'other'"):
        claim_folder(tmp_path, "other", tmp_path / "other.yaml")
    with StudyLock(tmp_path):
        with pytest.raises(StudyError, match=f"pid {os.getpid()}.*is running the study"):
            with StudyLock(tmp_path):
                pass
    with StudyLock(tmp_path):  # released on exit
        pass


@pytest.mark.slow
def test_slurm_not_reachable_names_what_is_missing_and_the_local_executor(tmp_path):
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    plan = write_plan(tmp_path, edited(lambda p: p.update(output_dir=str(tmp_path / "out"))))
    done = subprocess.run([sys.executable, "-m", "medinj_eval.cli", "study", "run", str(plan),
                           "--executor", "slurm"], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "Slurm is not reachable: no `sbatch` on PATH" in done.stderr
    assert "--executor local" in done.stderr


def test_gpus_go_to_the_steps_that_compute(tmp_path):
    from medinj_eval.study.local import _gpus_needed

    steps = {s.id: s for s in build_steps(load_study(str(write_plan(tmp_path, demo_plan()))))}
    assert _gpus_needed(steps["train/NAT"], [0, 1]) == 1
    assert _gpus_needed(steps["evaluate/base/sample"], [0, 1]) == 1
    assert _gpus_needed(steps["judge/base/sample"], [0, 1]) == 1  # the in-process judge
    assert _gpus_needed(steps["compare/sample"], [0, 1]) == 0
    assert _gpus_needed(steps["train/NAT"], []) == 0
    steps["evaluate/base/sample"].gpus = 4  # data_parallel: 4 on a machine with two
    assert _gpus_needed(steps["evaluate/base/sample"], [0, 1]) == 2


def test_tables_bold_the_best_mark_significance_and_escape_latex():
    table = Table("T", [Column("EM (a_b)"), Column("judge", 5.0)])
    table.rows = [("base", [0.25, 3.0], [False, False]), ("NAT & co", [0.5, None], [True, False])]
    table.extra_title, table.extra_rows = "Published", [("paper", [0.4, 4.5])]
    md = markdown(table)
    assert "| base | 25.0 | 3.00 |" in md
    assert "| NAT & co | **50.0**† | – |" in md  # the only judge value is not "best"
    assert "| paper | 40.0 | 4.50 |" in md
    tex = latex(table)
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"EM (a\_b)" in tex
    assert r"NAT \& co & \textbf{50.0}$^\dagger$ & – \\" in tex
    assert r"\multicolumn{3}{l}{\emph{Published}}" in tex


# --- the demo study, end to end on the default model -------------------------------------


def _study(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return cli("study", *args, check=False, timeout=timeout)


def _wait_until(ready, deadline_s: float, what: str) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if ready():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} not seen after {deadline_s:.0f} s")


def _record(root: Path, step: str) -> dict:
    path = root / "steps" / step / "state.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _logged_steps(out: Path) -> list[int]:
    log = out / "train_log.jsonl"
    lines = log.read_text().splitlines() if log.is_file() else []
    return [json.loads(line)["step"] for line in lines if line.endswith("}")]


@pytest.fixture(scope="module")
def demo_study(default_model, tmp_path_factory) -> dict:
    """The demo study run three times: killed in NAT's training between its checkpoints 2 and
    4, run again (the killed step and what needs it), and once more (nothing to do). The
    adapters are DoRA on the q and v projections only (a step then takes about 60% of the
    time it takes on the recipe's seven), on two examples a step (the recipe's four take
    about twice as long): the orchestration is what is tested."""
    tmp = tmp_path_factory.mktemp("study")
    root = tmp / "out"
    plan = demo_plan()
    light_training = {"adapter.target_modules": ["q_proj", "v_proj"],
                      "training.per_device_train_batch_size": 2}  # fmt: skip
    plan["systems"][1]["train"]["overrides"].update(
        {"training.max_steps": 4, "training.save_steps": 2, **light_training})  # fmt: skip
    plan["systems"][2]["train"]["overrides"].update(
        {"training.max_steps": 6, "training.save_steps": 3, **light_training})  # fmt: skip
    plan["evaluate"][0]["args"]["limit"] = 3  # the orchestration is tested, not the model
    plan["evaluate"][0]["args"]["batch_size"] = 16  # 30 answers in two passes, not four
    plan["backend"] = "medinj-hf"  # DoRA adapters merged once: their evaluations 2x faster
    plan["output_dir"] = str(root)
    path = write_plan(tmp, plan, "demo.yaml")
    log = (tmp / "first.log").open("w")
    first = subprocess.Popen([str(Path(sys.executable).parent / "medinj-eval"), "study", "run",
                              str(path)], stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    nat = root / "train" / "NAT"
    _wait_until(lambda: 3 in _logged_steps(nat) or first.poll() is not None, 900, "NAT step 3")
    os.kill(_record(root, "train/NAT")["pid"], signal.SIGKILL)
    first.wait(timeout=900)
    out = {"root": root, "path": path, "first_rc": first.returncode}
    out["killed_left"] = sorted(p.name for p in nat.iterdir())
    out["first"] = (tmp / "first.log").read_text()
    out["status_after_kill"] = _study("status", str(path)).stdout
    started = time.monotonic()
    out["second"] = _study("run", str(path))
    out["second_seconds"] = time.monotonic() - started
    started = time.monotonic()
    out["third"] = _study("run", str(path))
    out["third_seconds"] = time.monotonic() - started
    return out


def _started(output: str) -> set[str]:
    return {line.split()[-1] for line in output.splitlines() if "study: started " in line}


def test_a_killed_step_fails_alone_and_the_next_run_reruns_it_and_what_needs_it(demo_study):
    first = demo_study["first"]
    assert demo_study["first_rc"] == 1, first
    assert "failed    train/NAT" in first
    for blocked in ("evaluate/NAT/sample", "judge/NAT/sample", "compare/sample", "tables"):
        assert f"blocked   {blocked}" in first
    for independent in ("train/ALL", "evaluate/base/sample", "judge/ALL/sample"):
        assert f"done      {independent}" in first  # ran although train/NAT had failed
    assert "1 step(s) failed, 4 blocked" in first
    status = demo_study["status_after_kill"]
    line = next(x for x in status.splitlines() if " train/NAT " in x)
    assert line.startswith("failed") and "(killed by SIGKILL)" in line
    second = demo_study["second"]
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert _started(second.stdout) == {"train/NAT", "evaluate/NAT/sample", "judge/NAT/sample",
                                       "compare/sample", "tables"}  # fmt: skip
    # the training resumed from its last complete checkpoint
    nat = demo_study["root"] / "train" / "NAT"
    left = demo_study["killed_left"]
    assert "checkpoint-2" in left and "checkpoint-4" not in left
    assert "adapter_config.json" not in left
    train_log = (demo_study["root"] / "steps" / "train" / "NAT" / "log.txt").read_text()
    assert f"resuming from {nat / 'checkpoint-2'}" in train_log
    state = json.loads((nat / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    # the killed run's rows past checkpoint 2 were dropped when those steps ran again
    assert _logged_steps(nat) == list(range(1, 5)) and (nat / "adapter_config.json").is_file()


def test_a_trained_adapter_has_its_log_and_card_and_changes_the_answers(demo_study, default_model):
    root = demo_study["root"]
    out = root / "train" / "ALL"
    steps = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == list(range(1, 7))
    assert all(s["tokens_per_second"] > 0 and s["learning_rate"] is not None for s in steps)
    losses = [s["loss"] for s in steps]
    assert min(losses[-2:]) < losses[0]
    assert json.loads((out / "adapter_config.json").read_text())["use_dora"] is True
    card = (out / "README.md").read_text()
    for fact in ("HuggingFaceTB/SmolLM2-135M-Instruct", "Mix `ALL`", "| Native | ",
                 "| learning_rate | 0.001 |", "dora, r 16, alpha 16"):  # fmt: skip
        assert fact in card
    from medinj_eval.runs import load_run

    task = "medinj_fr_sample_medinjfr_native_mcqu_greedy"
    base = load_run(root / "evaluate" / "base" / "sample")
    tuned = load_run(root / "evaluate" / "ALL" / "sample")
    assert [s["resps"] for s in base.samples[task]] != [s["resps"] for s in tuned.samples[task]]
    # trained on letter answers, the adapter answers with option letters more often
    valid = [r.results["results"][task]["valid,none"] for r in (base, tuned)]
    assert valid[1] >= valid[0]
    # stock lm_eval scores the adapter folder as it is
    lm_eval = Path(sys.executable).parent / "lm_eval"
    stock = subprocess.run(
        [str(lm_eval), "--include_path", str(REPO / "lm_eval_tasks"), "--tasks", task,
         "--model", "hf", "--model_args", f"pretrained={default_model},peft={out}",
         "--limit", "3", "--device", "cpu"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert stock.returncode == 0, stock.stderr[-2000:]
    assert task in stock.stdout


def test_a_finished_study_runs_nothing_the_second_time(demo_study):
    third = demo_study["third"]
    assert third.returncode == 0 and not _started(third.stdout)
    assert "all 12 steps done" in third.stdout
    assert demo_study["third_seconds"] < 60
    plan = _study("plan", str(demo_study["path"])).stdout
    assert "12 of 12 steps done; 0 to run" in plan


def test_table_one_is_recomputed_from_the_runs_and_judge_records(demo_study):
    from medinj_eval.runs import judge_records, load_run

    root = demo_study["root"]
    tables = (root / "tables" / "tables.md").read_text()
    assert (root / "tables" / "tables.tex").read_text().count(r"\toprule") == 3
    assert "<table>" in (root / "tables" / "tables.html").read_text()
    table_one = tables.split("### ")[1]  # the first table: aggregated EM and judge
    rows = {line.split(" | ")[0].strip("| ").removesuffix(" §"): line
            for line in table_one.splitlines() if line.startswith("| ")}  # fmt: skip
    design, scores = [], []  # the length-controlled column, by least squares by hand
    for k, system in enumerate(("base", "NAT", "ALL")):
        run = load_run(root / "evaluate" / system / "sample")
        for task, records in judge_records(run)["medinjection-binary"].items():
            answers = {s["doc_hash"]: s for s in run.samples[task]}
            for r in (r for r in records if r["score"] is not None):
                sample = answers[r["doc_hash"]]
                words = len(sample["filtered_resps"][0].strip().split())
                ref = len(sample["doc"]["reference"].split())
                design.append([float(k == 0), float(k == 1), float(k == 2),
                               np.log((1 + words) / (1 + ref))])  # fmt: skip
                scores.append(r["score"])
    controlled = np.linalg.lstsq(np.array(design), np.array(scores), rcond=None)[0][:3]
    for k, system in enumerate(("base", "NAT", "ALL")):
        shown = rows[system].strip("| ").split(" | ")[3]
        assert float(shown.strip("*†")) == pytest.approx(100 * controlled[k], abs=0.051)
    for system in ("base", "NAT", "ALL"):
        run = load_run(root / "evaluate" / system / "sample")
        em = {}
        for q in ("mcq", "mcqu"):
            items = [
                s["em"]
                for sub in ("native", "translated")
                for s in run.samples[f"medinj_fr_sample_medinjfr_{sub}_{q}_constrained"]
            ]
            em[q] = sum(items) / len(items)
        verdicts = [r["score"] for records in judge_records(run)["medinjection-binary"].values()
                    for r in records if r["score"] is not None]  # fmt: skip
        expected = [100 * (em["mcq"] + em["mcqu"]) / 2, 100 * sum(verdicts) / len(verdicts)]
        cells = rows[system].strip("| ").split(" | ")[1:3]
        shown = [float(c.strip("*†")) for c in cells]
        assert shown == pytest.approx(expected, abs=0.051), (system, cells, expected)
    assert "QWEN-4B-NAT-TRAD" in tables  # the published block
    assert table_one.index("| base § |") < table_one.index("| NAT |") < table_one.index("| ALL |")
    # the base model is graded by itself (the in-process judge is the default model)
    assert "§: graded by the judge model itself" in table_one
    assert "medinjection-binary · HuggingFaceTB/SmolLM2-135M-Instruct@" in table_one


def test_a_step_added_to_a_finished_study_runs_alone(demo_study, tmp_path):
    """``leaderboard: true`` added to the finished demo study: only the site is built, with
    the study's runs beside the published rows."""
    import shutil

    root = tmp_path / "out"
    shutil.copytree(demo_study["root"], root)
    plan = yaml.safe_load(Path(demo_study["path"]).read_text())
    plan.update(output_dir=str(root), leaderboard=True)
    done = _study("run", str(write_plan(tmp_path, plan, "demo.yaml")))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert _started(done.stdout) == {"leaderboard"}
    data = json.loads((root / "leaderboard" / "data.json").read_text())
    runs = {r["source"] for r in data["rows"] if r["kind"] == "run"}
    assert len(runs) == 3 and any(r["kind"] == "reported" for r in data["rows"])


# --- on a real Slurm cluster ---------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A single-node Slurm cluster with accounting, on 127.0.0.1, stopped by PID."""
    from slurm_cluster import SlurmCluster, missing

    reason = missing()
    if reason:
        if os.environ.get("MEDINJ_REQUIRE_SLURM") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    yield cluster
    cluster.stop()


def _slurm_study(cluster, *args: str) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "medinj-eval"), "study", *args]
    return subprocess.Popen(command, env=cluster.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def test_slurm_runs_steps_as_jobs_and_reruns_a_cancelled_one(demo_study, slurm, tmp_path):
    """The demo study's judge passes, comparison and tables as Slurm jobs (the two judge
    passes as one array, the rest after them with ``afterok``); one judge job cancelled with
    ``scancel`` while it runs fails alone, blocks what needs it, and the next run completes."""
    import shutil

    root = tmp_path / "out"
    shutil.copytree(demo_study["root"], root)
    (root / "judge-cache.sqlite").unlink()  # the judge must really judge again
    for step in ("judge/base/sample", "judge/ALL/sample", "compare/sample", "tables"):
        shutil.rmtree(root / "steps" / step)
    plan = yaml.safe_load(Path(demo_study["path"]).read_text())
    plan["output_dir"] = str(root)
    path = write_plan(tmp_path, plan, "demo.yaml")

    first = _slurm_study(slurm, "run", str(path), "--executor", "slurm")
    _wait_until(lambda: _record(root, "judge/ALL/sample").get("state") == "running"
                or first.poll() is not None, 300, "judge/ALL running in its job")  # fmt: skip
    job = _record(root, "judge/ALL/sample")["job_id"]
    subprocess.run(["scancel", job], env=slurm.env, check=True, timeout=30)
    output = first.communicate(timeout=600)[0]
    assert first.returncode == 1, output
    submitted = [x for x in output.splitlines() if "submitted" in x]
    assert len(submitted) == 4 and all("_" in x.split()[-1] for x in submitted[:2]), submitted
    assert f"failed    judge/ALL/sample: Slurm job {job} ended CANCELLED" in output
    assert "done      judge/base/sample" in output
    assert "blocked   compare/sample" in output and "blocked   tables" in output

    status = _slurm_study(slurm, "status", str(path), "--executor", "slurm")
    lines = status.communicate(timeout=120)[0].splitlines()
    assert next(x for x in lines if " judge/ALL/sample " in x).startswith("failed")

    second = _slurm_study(slurm, "run", str(path), "--executor", "slurm")
    output = second.communicate(timeout=600)[0]
    assert second.returncode == 0, output
    again = {x.split()[3] for x in output.splitlines() if "submitted" in x}
    assert again == {"judge/ALL/sample", "compare/sample", "tables"}
    assert (root / "tables" / "tables.md").is_file()
    accounted = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State"], env=slurm.env,
                               capture_output=True, text=True, timeout=30).stdout  # fmt: skip
    assert f"{job}|CANCELLED" in accounted.replace(" by 0", "")
    assert accounted.count("COMPLETED") >= 4


@pytest.mark.skipif(
    os.environ.get("MEDINJ_SLURM_FULL") != "1",
    reason="the whole demo study as Slurm jobs takes 6 more minutes: `make test-slurm`",
)
def test_the_whole_demo_study_on_slurm(default_model, slurm, tmp_path):
    """Every step of the demo study as a Slurm job: mixes, trainings, the three evaluations
    (one array), the judge passes, the comparison and the tables; then nothing to do."""
    root = tmp_path / "out"
    plan = demo_plan()
    plan["evaluate"][0]["args"]["limit"] = 3
    plan["output_dir"] = str(root)
    path = write_plan(tmp_path, plan, "demo.yaml")
    first = _slurm_study(slurm, "run", str(path), "--executor", "slurm")
    output = first.communicate(timeout=1800)[0]
    assert first.returncode == 0, output
    submitted = [x.split()[3] for x in output.splitlines() if "submitted" in x]
    assert len(submitted) == 12 and "all 12 steps done" in output
    assert (root / "tables" / "tables.tex").is_file()
    records = [json.loads(p.read_text()) for p in (root / "steps").rglob("state.json")]
    assert len(records) == 12 and all(r["state"] == "done" and r["job_id"] for r in records)
    again = _slurm_study(slurm, "run", str(path), "--executor", "slurm")
    assert again.communicate(timeout=300)[0].count("submitted") == 0 and again.returncode == 0
