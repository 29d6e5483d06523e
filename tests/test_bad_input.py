"""Bad local data stops the run before any model loads, naming the file, the row and the field."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli

from medinj_eval.paths import sample_data_dir

# Each test runs the command line in a subprocess (the fast lane leaves them out).
pytestmark = pytest.mark.slow

FMM_TASK = "frenchmedmcqa_greedy"


def broken_copy(tmp_path: Path, relpath: str, mutate) -> Path:
    """A data root holding the sample suite with one file rewritten by ``mutate``."""
    root = tmp_path / "data"
    shutil.copytree(sample_data_dir(), root)
    target = root / relpath
    rows = json.loads(target.read_text(encoding="utf-8"))
    payload = mutate(rows)
    target.write_bytes(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    return target


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return cli(*args, check=False, timeout=300)


def _drop_question(rows):
    del rows[3]["question"]
    return rows


def _letter_outside(rows):
    rows[5]["correct_answers"] = ["f"]
    return rows


def _no_options(rows):
    rows[2]["answers"] = {}
    return rows


def _duplicate_id(rows):
    rows[7]["id"] = rows[1]["id"]
    return rows


def _invalid_utf8(rows):
    rows[4]["question"] = "@@BAD@@"
    return json.dumps(rows).encode().replace(b"@@BAD@@", b"Qu\xe9lle dose ?")


CASES = {
    "missing field": (_drop_question, "row 3, field 'question'", "missing required field"),
    "letter outside options": (_letter_outside, "row 5, field 'correct_answers'", "not among"),
    "no options": (_no_options, "row 2, field 'answers'", "no options"),
    "duplicate ids": (_duplicate_id, "row 7, field 'id'", "duplicate id"),
    "invalid utf-8": (_invalid_utf8, "row 4, field 'question'", "invalid UTF-8"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_frenchmedmcqa_file_stops_before_model_load(tmp_path, case):
    mutate, where, problem = CASES[case]
    bad = broken_copy(tmp_path, "frenchmedmcqa/test.json", mutate)
    metadata = json.dumps({"data_dir": str(bad.parents[1])})
    # A model path that does not exist: reaching model loading would fail differently.
    result = run_cli(
        "run",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tmp_path / 'no-model'}",
        "--tasks",
        FMM_TASK,
        "--metadata",
        metadata,
    )
    assert result.returncode != 0
    assert f"{bad}, {where}: " in result.stderr
    assert problem in result.stderr
    assert "no-model" not in result.stderr.split(str(bad))[0]


def _drop_mediqal_gold(rows):
    del rows[6]["correct_answers"]
    return rows


def _bad_medinjection_class(rows):
    rows[1]["answer"] = "Z"
    return rows


OTHER_FORMATS = {
    "mediqal": (
        "mediqal/mcqm/test.json",
        _drop_mediqal_gold,
        "mediqal_mcqm_constrained",
        "row 6, field 'correct_answers': missing required field",
    ),
    "medinjection": (
        "medinjection-fr/Native/Test/mcqu/mcqu_test.json",
        _bad_medinjection_class,
        "medinjfr_native_mcqu_greedy",
        "row 1, field 'answer': answer letter(s) ['Z'] not among",
    ),
}


@pytest.mark.parametrize("fmt", OTHER_FORMATS)
def test_bad_mediqal_and_medinjection_rows_are_named(tmp_path, fmt):
    relpath, mutate, task, message = OTHER_FORMATS[fmt]
    bad = broken_copy(tmp_path, relpath, mutate)
    metadata = json.dumps({"data_dir": str(tmp_path / "data")})
    result = run_cli("validate", "--tasks", task, "--metadata", metadata)
    assert result.returncode != 0
    assert f"{bad}, {message}" in result.stderr


@pytest.mark.parametrize(
    "args, hub_id",
    [
        (["validate", "--tasks", "mediqal_mcqm_constrained"], "ANR-MALADES/MediQAl"),
        (["data", "mix", "--config", "NAT", "--size", "10"], "MedInjection-FR/Native"),
    ],
)
def test_unreachable_hub_names_the_dataset_and_the_local_way(tmp_path, args, hub_id):
    # offline with an empty cache: the hub cannot answer, whatever this machine's network
    env = {k: v for k, v in os.environ.items() if k != "MEDINJ_DATA_DIR"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    cmd = [sys.executable, "-m", "medinj_eval.cli", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert f"invalid data: {hub_id}: cannot be loaded from the Hugging Face hub" in result.stderr
    assert "$MEDINJ_DATA_DIR" in result.stderr and "Traceback" not in result.stderr


def test_valid_sample_passes_validation():
    result = run_cli("validate", "--tasks", "medinj_fr_sample")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "is valid" in result.stdout


def validate_in(root: Path) -> subprocess.CompletedProcess:
    metadata = json.dumps({"data_dir": str(root)})
    return run_cli("validate", "--tasks", FMM_TASK, "--metadata", metadata)


def _fmm_root(tmp_path: Path, payload: bytes) -> Path:
    """A data root whose FrenchMedMCQA test file holds ``payload``."""
    root = tmp_path / "data"
    shutil.copytree(sample_data_dir(), root)
    (root / "frenchmedmcqa" / "test.json").write_bytes(payload)
    return root


@pytest.mark.parametrize("payload", [b"[]", b"", b"\n\n"], ids=["empty list", "empty", "blank"])
def test_an_empty_test_split_is_one_clear_line(tmp_path, payload):
    root = _fmm_root(tmp_path, payload)
    result = validate_in(root)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{root / 'frenchmedmcqa' / 'test.json'}: the test split has no rows" in result.stderr


def test_a_utf8_bom_is_accepted(tmp_path):
    raw = (sample_data_dir() / "frenchmedmcqa" / "test.json").read_bytes()
    root = _fmm_root(tmp_path, b"\xef\xbb\xbf" + raw)
    result = validate_in(root)
    assert result.returncode == 0, result.stderr[-2000:]


def test_nbr_correct_answers_that_disagrees_is_named(tmp_path):
    rows = json.loads((sample_data_dir() / "frenchmedmcqa" / "test.json").read_text())
    rows[2]["nbr_correct_answers"] = len(rows[2]["correct_answers"]) + 1
    root = _fmm_root(tmp_path, json.dumps(rows).encode())
    result = validate_in(root)
    assert result.returncode != 0
    assert "row 2, field 'nbr_correct_answers': says" in result.stderr
    assert "but correct_answers lists" in result.stderr


@pytest.mark.parametrize("command", ["run", "validate"])
def test_an_unknown_task_is_refused_before_any_model_loads(command, tmp_path):
    result = run_cli(command, "--tasks", "medinj_fr_sample,frenchmedmcqa_greedyy",
                     "--model_args", f"pretrained={tmp_path / 'no-model'}")  # fmt: skip
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "unknown task(s) frenchmedmcqa_greedyy" in result.stderr
    assert "did you mean frenchmedmcqa_greedy" in result.stderr


@pytest.mark.parametrize("metadata", ["{x}", "{'data_dir': '/x'}", "[1]", "data_dir"])
def test_bad_metadata_is_one_clear_line(metadata):
    result = run_cli("run", "--tasks", FMM_TASK, "--metadata", metadata)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("medinj-eval: --metadata ")


def test_flags_written_with_equals_are_read(tmp_path):
    """``--flag=value`` for every flag the wrapper reads: bad data is still found first."""
    bad = broken_copy(tmp_path, "frenchmedmcqa/test.json", _letter_outside)
    result = run_cli(
        "run", f"--tasks={FMM_TASK}", "--model=hf", f"--model_args=pretrained={tmp_path / 'none'}",
        f"--metadata={json.dumps({'data_dir': str(bad.parents[1])})}",
        f"--output_path={tmp_path / 'out'}", f"--use_cache={tmp_path / 'cache'}",
        "--limit=2", "--seed=1", "--device=cpu",
    )  # fmt: skip
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{bad}, row 5, field 'correct_answers'" in result.stderr


def test_run_help_shows_the_wrappers_and_lm_evals_options():
    result = run_cli("run", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "medinj-eval run is `lm_eval run` with" in result.stdout
    assert "--use_cache DIR" in result.stdout  # the wrapper's meaning
    assert "--apply_chat_template" in result.stdout and "--gen_kwargs" in result.stdout  # lm_eval's


def test_a_default_model_not_prepared_is_one_clear_line(tmp_path):
    env = {**os.environ, "MEDINJ_CACHE": str(tmp_path / "empty-cache")}
    cmd = [sys.executable, "-m", "medinj_eval.cli", "run", "--tasks", "medinj_fr_sample",
           "--model_args", "pretrained=default"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "medinj-eval model prepare" in result.stderr
