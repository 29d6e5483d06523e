"""Bad arguments and damaged files are one line, naming the file, line or field, never a
traceback; the model arguments are checked before any model loads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli

from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.quaero import brat_entities
from medinj_eval.judge.prompts import load_prompt

SAMPLE_TASK = "medinj_fr_sample_frenchmedmcqa_greedy"


def one_line_error(done: subprocess.CompletedProcess, *expected: str) -> str:
    """The command failed with one line on stderr holding every expected piece."""
    assert done.returncode != 0, done.stdout[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    for piece in expected:
        assert piece in last, last
    return last


def run_with(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return cli("run", "--tasks", SAMPLE_TASK, "--output_path", str(tmp_path / "out"), *args,
               check=False)  # fmt: skip


@pytest.mark.slow
def test_a_limit_below_one_item_is_refused_before_the_model_loads(tmp_path):
    done = run_with(tmp_path, "--model_args", "pretrained=default", "--limit", "-1")
    one_line_error(done, "--limit -1: give a count of items >= 1")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_data_parallel_below_one_process_is_refused(tmp_path):
    done = run_with(tmp_path, "--model_args", "pretrained=default", "--data-parallel", "0")
    one_line_error(done, "--data-parallel 0: give a number of processes >= 1")


@pytest.mark.slow
def test_a_missing_pretrained_folder_is_refused(tmp_path):
    done = run_with(tmp_path, "--model_args", "pretrained=/nonexistent/model")
    one_line_error(done, "pretrained=/nonexistent/model: no such model folder")


@pytest.mark.slow
def test_a_missing_adapter_folder_is_refused(tmp_path):
    adapter = tmp_path / "no-adapter"
    done = run_with(tmp_path, "--model_args", f"pretrained=default,peft={adapter}")
    one_line_error(done, f"peft={adapter}: no such adapter folder")


@pytest.mark.slow
def test_a_corrupt_adapter_config_is_refused(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "r": ')
    (adapter / "adapter_model.safetensors").write_bytes(b"\0" * 8)
    done = run_with(tmp_path, "--model_args", f"pretrained=default,peft={adapter}")
    one_line_error(done, f"{adapter / 'adapter_config.json'}: not valid JSON")


@pytest.fixture
def broken_run(run_copy: Path) -> Path:
    """A copy of the real open-ended run, to damage."""
    return run_copy


def cut_results(run: Path) -> str:
    (results,) = run.rglob("results_*.json")
    results.write_text(results.read_text()[:200])
    return f"{results}: invalid JSON"


def cut_samples(run: Path) -> str:
    sample = sorted(run.rglob("samples_*.jsonl"))[0]
    lines = sample.read_text().splitlines()
    lines[2] = lines[2][:50]
    sample.write_text("\n".join(lines) + "\n")
    return f"{sample}, line 3: invalid JSON"


@pytest.mark.parametrize("damage", [cut_results, cut_samples], ids=["results", "samples"])
@pytest.mark.parametrize("command", ["report", "compare"])
def test_a_cut_results_or_samples_file_is_named(broken_run, tmp_path, damage, command):
    other = shutil.copytree(broken_run, tmp_path / "other")
    expected = damage(broken_run)
    args = [str(broken_run)]
    if command == "compare":
        args += [str(other), "--baseline", "a", "--names", "a,b", "--out", str(tmp_path / "c")]
    one_line_error(cli(command, *args, check=False), expected)


def test_compare_of_a_run_with_itself_is_refused(broken_run, tmp_path):
    done = cli("compare", str(broken_run), str(broken_run), "--baseline", "a", "--names",
               "a,b", "--out", str(tmp_path / "cmp"), check=False)  # fmt: skip
    one_line_error(done, "is given twice", "a run compared with itself")
    assert not (tmp_path / "cmp").exists()


def test_agreement_without_a_shared_task_is_refused(broken_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(broken_run, other)
    for sample in other.rglob("samples_*.jsonl"):
        sample.rename(sample.with_name(sample.name.replace("samples_", "samples_renamed_", 1)))
    done = cli("agreement", str(broken_run), str(other), check=False)
    one_line_error(done, "share no task")


def test_judge_refuses_two_samples_files_of_one_task_before_any_request(broken_run, tmp_path):
    first = sorted(broken_run.rglob("samples_*mediqal_oeq_*.jsonl"))[0]
    second = first.with_name(first.name.replace("T", "T9", 1))  # another time stamp
    shutil.copy(first, second)
    done = cli("judge", str(broken_run), "--base-url", "http://127.0.0.1:9/v1",
               "--cache", str(tmp_path / "c.sqlite"), "--max-wait", "1", check=False)  # fmt: skip
    line = one_line_error(done, "two samples files for task")
    assert str(first) in line and str(second) in line
    assert not (broken_run / "judge").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("max_tokens: abc\n", "field 'max_tokens' must be a whole number >= 1, got 'abc'"),
        (b"\x89PNG\r\n\x1a\n\xff\xfe", "not a UTF-8 text file"),
    ],
    ids=["max_tokens", "binary"],
)
def test_a_bad_judge_prompt_file_is_one_line(tmp_path, content, expected):
    prompt = tmp_path / "prompt.yaml"
    if isinstance(content, bytes):
        prompt.write_bytes(content)
    else:
        shipped = load_prompt("medinjection-binary").path.read_text()
        prompt.write_text(shipped.replace("max_tokens: 1\n", content))
    samples = tmp_path / "samples_x_2026-11-30T00-00-00.000000.jsonl"
    samples.write_text("")
    done = cli("judge", str(samples), "--prompt", str(prompt), "--cache",
               str(tmp_path / "c.sqlite"), check=False)  # fmt: skip
    one_line_error(done, str(prompt), expected)


@pytest.mark.slow
def test_a_judge_cache_under_a_file_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    samples = tmp_path / "samples_x_2026-11-30T00-00-00.000000.jsonl"
    samples.write_text("")
    done = cli("judge", str(samples), "--cache", str(blocker / "c.sqlite"), check=False)
    one_line_error(done, f"--cache {blocker / 'c.sqlite'}: cannot open the judge cache")


@pytest.mark.slow
@pytest.mark.parametrize("action", ["build", "validate"])
def test_leaderboard_with_a_missing_results_folder_is_one_line(tmp_path, action):
    missing = tmp_path / "no-results"
    done = cli("leaderboard", action, "--results", str(missing), "--out",
               str(tmp_path / "site"), check=False)  # fmt: skip
    one_line_error(done, f"{missing}: no such results folder (--results)")


@pytest.mark.slow
def test_meta_eval_on_a_missing_file_is_one_line(tmp_path):
    missing = tmp_path / "pairs.json"
    done = cli("meta-eval", str(missing), "--out", str(tmp_path / "m"), check=False)
    one_line_error(done, f"{missing}: no such file of labelled pairs")


def brat_pair(tmp_path: Path, ann: str) -> Path:
    (tmp_path / "doc.txt").write_text("Le patient présente une insuffisance rénale aiguë.\n")
    path = tmp_path / "doc.ann"
    path.write_text(ann)
    return path


@pytest.mark.parametrize(
    ("line", "field", "problem"),
    [
        ("T2\tDISO 24 400\tinsuffisance", "end", "400 lies past the text (51 characters)"),
        ("T2\tDISO vingt 36\tinsuffisance", "offsets", "'vingt 36' is not two character offsets"),
        ("T2\tDISO 30 24\tinsuffisance", "start", "30 does not come before end 24"),
    ],
    ids=["past the text", "not a number", "reversed"],
)
def test_brat_offsets_outside_the_text_or_not_numbers_name_file_line_field(
    tmp_path, line, field, problem
):
    ann = brat_pair(tmp_path, f"T1\tLIVB 3 10\tpatient\n{line}\n")
    with pytest.raises(DataValidationError) as caught:
        brat_entities(ann, len((tmp_path / "doc.txt").read_text()))
    assert str(caught.value) == f"{ann}, line 2, field '{field}': {problem}"


def test_brat_entities_keep_contiguous_ones_and_skip_notes(tmp_path):
    ann = brat_pair(
        tmp_path,
        "T1\tLIVB 3 10\tpatient\n#1\tAnnotatorNotes T1\tnote\n"
        "T2\tDISO 24 36;37 43\tinsuffisance rénale\nT3\tDISO 24 49\tinsuffisance rénale aiguë\n",
    )
    assert brat_entities(ann, 51) == [("LIVB", 3, 10), ("DISO", 24, 49)]


@pytest.mark.slow
def test_a_brat_folder_with_a_bad_offset_stops_validate(tmp_path):
    root = tmp_path / "data"
    for split in ("train", "test"):
        folder = root / "quaero" / split / "MEDLINE"
        folder.mkdir(parents=True)
        (folder / "d1.txt").write_text("Fièvre et toux chez le patient.")
        (folder / "d1.ann").write_text("T1\tDISO 0 6\tFièvre\nT2\tDISO 10 400\ttoux\n")
    done = subprocess.run(
        [sys.executable, "-m", "medinj_eval.cli", "validate", "--tasks", "enmed_extqa",
         "--metadata", json.dumps({"data_dir": str(root)})],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    one_line_error(done, "d1.ann, line 2, field 'end': 400 lies past the text (31 characters)")
