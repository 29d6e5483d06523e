"""Results that hold across machines: item identity is content, not location; the request
cache knows the model; every run writes a manifest that compare reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import cli, make_adapter

from medinj_eval.hashing import sha256_file
from medinj_eval.lm_eval_internals import doc_hash
from medinj_eval.paths import sample_data_dir
from medinj_eval.tasks.datasets import load_benchmark

BENCHMARKS = [
    {"benchmark": "frenchmedmcqa"},
    {"benchmark": "mediqal_mcqm"},
    {"benchmark": "medinjfr_translated_mcqu"},
    {"benchmark": "frbmedqa"},
    {"benchmark": "mediqal_oeq"},
    {"benchmark": "medinjfr_native_oeq"},
    {"benchmark": "enmed_extqa"},
    {"benchmark": "extqa_squad"},
]


def two_copies(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "first" / "data", tmp_path / "elsewhere" / "deeper" / "data"
    shutil.copytree(sample_data_dir(), a)
    shutil.copytree(sample_data_dir(), b)
    return a, b


@pytest.mark.parametrize("kwargs", BENCHMARKS, ids=lambda k: "-".join(k.values()))
def test_the_same_item_from_two_folders_has_one_doc_hash(tmp_path, kwargs):
    a, b = two_copies(tmp_path)
    docs_a = list(load_benchmark(data_dir=a, **kwargs)["test"])
    docs_b = list(load_benchmark(data_dir=b, **kwargs)["test"])
    assert [doc_hash(d) for d in docs_a] == [doc_hash(d) for d in docs_b]
    assert str(tmp_path) not in json.dumps(docs_a, ensure_ascii=False)
    label = "/".join(v for k, v in kwargs.items() if k != "benchmark")
    prefix = "/".join(p for p in (kwargs["benchmark"], label) if p) + "/test/"
    assert all(d["item"] == prefix + d["id"] for d in docs_a)
    assert len({d["item"] for d in docs_a}) == len(docs_a)


def test_an_item_without_id_is_known_by_its_row(tmp_path):
    root = tmp_path / "data"
    shutil.copytree(sample_data_dir(), root)
    test = root / "frbmedqa" / "test.json"
    rows = json.loads(test.read_text(encoding="utf-8"))
    for row in rows:
        row.pop("id", None)
    test.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    docs = load_benchmark(benchmark="frbmedqa", data_dir=root)["test"]
    assert [d["item"] for d in docs] == [f"frbmedqa/test/row-{i}" for i in range(len(rows))]


def run_fmm(data: Path, out: Path, *spelling: str) -> Path:
    cli("run", "--tasks", "frenchmedmcqa_loglik", "--model", "medinj-hf", "--limit", "5",
        "--metadata", json.dumps({"data_dir": str(data)}), *spelling)  # fmt: skip
    (manifest,) = out.glob("*/manifest.json")
    return manifest


def test_runs_on_data_in_two_folders_pair_and_compare_warns_of_other_data(default_model, tmp_path):
    a, b = two_copies(tmp_path)
    with (b / "frenchmedmcqa" / "train.json").open("a") as handle:
        handle.write("\n")  # another few-shot file: same items, different bytes
    out_a, out_b = tmp_path / "run-a", tmp_path / "run-b"
    args = "pretrained=default,prefix_cache=true"  # the 31 answer sets share one pass
    manifest_a = run_fmm(a, out_a, "-o", str(out_a), f"--model_args={args}")
    run_fmm(b, out_b, f"--output_path={out_b}", "--model_args", args)
    done = cli("compare", str(out_a), str(out_b), "--names", "a,b", "--baseline", "a",
               "--out", str(tmp_path / "cmp"))  # fmt: skip
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    (cell,) = comparison["cells"]
    assert cell["n_items"] == 5  # every item paired
    assert "b differs from a in: data files (sha256)" in done.stderr
    manifest = json.loads(manifest_a.read_text())
    assert manifest["model"]["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert len(manifest["model"]["weights_sha256"]) == 64
    test_file = a / "frenchmedmcqa" / "test.json"
    assert {"path": str(test_file), "sha256": sha256_file(test_file)} in manifest["data_files"]
    assert manifest["limit"] == "5" and manifest["seeds"] == "0,1234,1234,1234"
    assert manifest["versions"]["lm_eval"] and manifest["machine"]["cpu_count"]
    assert manifest["command"][:2] == ["medinj-eval", "run"]


@pytest.fixture(scope="module")
def lora_adapter(default_model, tmp_path_factory) -> Path:
    """A real LoRA adapter on the default model (non-zero updates)."""
    folder = tmp_path_factory.mktemp("adapter") / "lora"
    make_adapter(default_model, folder)
    return folder


def cached_run(cache: Path, out: Path, model_args: str) -> tuple[str, list]:
    done = cli("run", "--tasks", "medinj_fr_sample_frenchmedmcqa_loglik", "--model", "hf",
               "--model_args", model_args, "--limit", "2", "--use_cache", str(cache),
               "--output_path", str(out))  # fmt: skip
    (samples,) = out.glob("*/samples_*.jsonl")
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    return done.stdout + done.stderr, [r["resps"] for r in rows]


def test_the_request_cache_keeps_each_model_apart(lora_adapter, tmp_path):
    cache = tmp_path / "cache"
    _, base = cached_run(cache, tmp_path / "base", "pretrained=default")
    with_adapter = f"pretrained=default,peft={lora_adapter}"
    log, adapted = cached_run(cache, tmp_path / "lora", with_adapter)
    # computed, not read from the base model's cache (the last pass then reads them back)
    assert "Cached requests: 0, Requests remaining: 62" in log  # 2 items x 31 answer sets
    assert adapted != base
    log, again = cached_run(cache, tmp_path / "lora-again", with_adapter)
    assert "Cached requests: 0," not in log  # the same model's requests come from the cache
    assert "Requests remaining: 0" in log
    assert again == adapted
    assert len(list(cache.glob("model-*_rank0.db"))) == 2
