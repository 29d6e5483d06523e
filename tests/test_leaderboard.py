"""Leaderboard submissions from a real run: validation, tampering of every kind, the site in a
real headless Chromium served from 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli

REPO = Path(__file__).resolve().parents[1]
TASKS = "medinj_fr_sample_mediqal_mcqu_loglik,medinj_fr_sample_frenchmedmcqa_greedy"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def run(default_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lb") / "run"
    cli("run", "--model", "medinj-hf", "--model_args", "pretrained=default", "--tasks", TASKS,
        "--limit", "6", "--apply_chat_template", "--batch_size", "8",
        "--output_path", str(out))  # fmt: skip
    return out


@pytest.fixture
def results(run, tmp_path) -> Path:
    """A results/ folder holding the shipped reported rows and one fresh submission."""
    folder = tmp_path / "results"
    shutil.copytree(REPO / "results" / "reported", folder / "reported")
    cli("leaderboard", "submit", str(run), "--model-id", "smollm2-135m", "--results", str(folder))
    return folder


def validate(folder: Path) -> subprocess.CompletedProcess:
    return cli("leaderboard", "validate", "--results", str(folder), check=False)


def test_submission_validates_and_holds_recomputed_metrics(results, run):
    done = validate(results)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((results / "smollm2-135m" / "submission.json").read_text())
    (results_file,) = run.glob("*/results_*.json")
    logged = json.loads(results_file.read_text())["results"]
    for task, entry in manifest["tasks"].items():
        assert entry["n_samples"] == 6
        assert entry["metrics"]["em"] == pytest.approx(logged[task]["em,none"], abs=1e-12)
    assert manifest["versions"]["lm_eval"] and manifest["hardware"]


def _manifest(results: Path) -> tuple[Path, dict]:
    path = results / "smollm2-135m" / "submission.json"
    return path, json.loads(path.read_text())


def _samples(results: Path, task: str) -> Path:
    return results / "smollm2-135m" / "samples" / f"{task}.jsonl"


def _rewrite_samples(results: Path, task: str, change) -> None:
    """Edit one logged sample and re-sign the file, as a careful forger would."""
    path = _samples(results, task)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    change(rows[0])
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    manifest_path, manifest = _manifest(results)
    manifest["tasks"][task]["samples_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))


GREEDY = "medinj_fr_sample_frenchmedmcqa_greedy"
LOGLIK = "medinj_fr_sample_mediqal_mcqu_loglik"


def _schema(results):
    path, manifest = _manifest(results)
    del manifest["hardware"]
    path.write_text(json.dumps(manifest))


def _unknown_task(results):
    path, manifest = _manifest(results)
    manifest["tasks"]["medinj_fr_sample_not_a_task"] = manifest["tasks"].pop(GREEDY)
    path.write_text(json.dumps(manifest))


def _duplicate(results):
    shutil.copytree(results / "smollm2-135m", results / "smollm2-135m-again")


def _missing(results):
    _samples(results, GREEDY).unlink()


def _altered(results):
    path = _samples(results, GREEDY)
    path.write_text(path.read_text().replace('"em": 0.0', '"em": 1.0', 1))


def _metric(results):
    path, manifest = _manifest(results)
    manifest["tasks"][LOGLIK]["metrics"]["em"] += 0.5
    path.write_text(json.dumps(manifest))


def _response(results):
    def flip(row):
        """Make the gold option win if the model was wrong, a wrong one if it was right."""
        letters, gold = row["doc"]["letters"], row["doc"]["gold"]
        lls = [float(ll) for ll, _ in row["filtered_resps"]]
        chosen = letters[lls.index(max(lls))]
        winner = letters.index(gold[0]) if chosen not in gold else letters.index(
            next(x for x in letters if x not in gold))  # fmt: skip
        row["filtered_resps"][winner][0] = "1000000.0"

    _rewrite_samples(results, LOGLIK, flip)


def _doc(results):
    _rewrite_samples(results, LOGLIK, lambda row: row["doc"].update(gold=["A"]))


TAMPERING = {
    "schema": (_schema, "field (top level): 'hardware' is a required property"),
    "unknown task": (_unknown_task, "medinj_fr_sample_not_a_task: unknown task"),
    "duplicate": (_duplicate, "model_id 'smollm2-135m' duplicates"),
    "missing file": (_missing, f"{GREEDY}.jsonl: missing file"),
    "altered file": (_altered, f"{GREEDY}.jsonl: altered (sha256"),
    "metric": (_metric, f"tasks/{LOGLIK}/metrics/em:"),
    "response": (_response, "but the samples give"),
    "document": (_doc, "field 'doc_hash': not the doc's hash"),
}


@pytest.mark.parametrize("case", TAMPERING)
def test_tampered_submissions_are_refused(results, case):
    tamper, message = TAMPERING[case]
    tamper(results)
    done = validate(results)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


def test_reported_rows_need_a_source(results):
    path = results / "reported" / "enmed.json"
    data = json.loads(path.read_text())
    data["source"] = {}
    path.write_text(json.dumps(data))
    done = validate(results)
    assert done.returncode != 0 and "enmed.json: field 'source'" in done.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served_site(results, run, tmp_path):
    site = tmp_path / "site"
    cli("leaderboard", "build", "--results", str(results), "--out", str(site), "--runs", str(run))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(site)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/index.html"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_site_sorts_filters_and_renders_in_chromium(served_site, tmp_path):
    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed (make test installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(served_site)
        kinds = set(page.locator("#board tbody tr td:nth-child(2)").all_inner_texts())
        assert {"reported", "submission", "run"} <= kinds

        page.select_option("#family", "enmed")
        families = page.locator("#board tbody tr td:nth-child(3)").all_inner_texts()
        assert families and set(families) == {"enmed"}
        page.select_option("#metric", "accuracy")
        assert set(page.locator("#board tbody tr td:nth-child(5)").all_inner_texts()) == {
            "accuracy"
        }

        def values() -> list[float]:
            return [float(v) for v in page.locator("#board tbody td.value").all_inner_texts()]

        assert values() == sorted(values(), reverse=True)  # opens sorted by value, best first
        page.click("th[data-key=value]")
        assert values() == sorted(values()) and values()[0] < values()[-1]
        assert page.locator("th[data-key=value]").get_attribute("aria-sort") == "ascending"
        page.click("th[data-key=model]")
        models = page.locator("#board tbody tr td:nth-child(1)").all_inner_texts()
        assert models == sorted(models)
        assert page.locator("#charts .chart").count() == 3 + 1  # MCQA 0/3/5-shot + its mean

        page.select_option("#family", "")
        page.select_option("#metric", "")
        shot = tmp_path / "leaderboard.png"
        page.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
