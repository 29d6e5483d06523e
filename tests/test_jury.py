"""Judges compared and combined: judge selection against human labels, juries, a judge pass
spread over several servers, and whose score a judge score is."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, cli
from servers import served_gguf
from test_metaeval import FILES

from medinj_eval.hashing import sha256_file
from medinj_eval.judge import JudgeError
from medinj_eval.judge.jury import combine, jury_rule, krippendorff_alpha, verdict_of
from medinj_eval.judge.panel import Panel, load_panel
from medinj_eval.judge.prompts import load_prompt
from medinj_eval.metaeval.judge_selection import compare_judges, paired_difference
from medinj_eval.metaeval.pairs import load_pairs

BINARY = load_prompt("medinjection-binary").verdict


def panel(*names: str, rule: str | None = None) -> Panel:
    return Panel.model_validate({"judges": [{"name": n} for n in names], "rule": rule})


# --- the jury's verdict ---------------------------------------------------------------------


def test_mean_majority_and_an_incomplete_item():
    assert verdict_of({"a": 1.0, "b": 0.0, "c": 1.0}, "majority") == (1.0, "ok")
    assert verdict_of({"a": 1.0, "b": 0.0, "c": 1.0}, "mean") == (pytest.approx(2 / 3), "ok")
    score, status = verdict_of({"a": 1.0, "b": None, "c": None}, "mean")
    assert score is None and status == "incomplete: no verdict from b, c"


def test_majority_needs_binary_verdicts_from_an_odd_number_of_judges():
    assert jury_rule(panel("a", "b", "c"), BINARY) == "majority"
    assert jury_rule(panel("a", "b"), BINARY) == "mean"  # a tie has no majority
    with pytest.raises(JudgeError, match="odd number of judges"):
        jury_rule(panel("a", "b", rule="majority"), BINARY)
    scale = load_prompt("mediqal-10").verdict
    with pytest.raises(JudgeError, match="binary verdicts"):
        jury_rule(panel("a", "b", "c", rule="majority"), scale)


def test_combine_pairs_records_by_document_not_by_position():
    a = [{"task": "t", "doc_id": i, "doc_hash": f"h{i}", "score": float(i % 2)} for i in range(3)]
    b = list(reversed([{**r, "score": 1.0} for r in a]))
    b[0]["score"] = None  # b has no verdict on h2
    out = combine({"a": a, "b": b}, "mean", "jury")
    assert [r["score"] for r in out] == [0.5, 1.0, None]
    assert out[2]["status"] == "incomplete: no verdict from b"
    assert out[0]["members"] == {"a": 0.0, "b": 1.0} and out[0]["prompt"] == "jury"


def nominal_alpha(rows: list[list[float | None]]) -> float:
    """Krippendorff's alpha, nominal level, from its coincidence matrix (by hand)."""
    units = [[v for v in col if v is not None] for col in zip(*rows)]
    units = [u for u in units if len(u) > 1]
    values = sorted({v for u in units for v in u})
    o = {(c, k): 0.0 for c in values for k in values}
    for u in units:
        for i, c in enumerate(u):
            for j, k in enumerate(u):
                if i != j:
                    o[c, k] += 1 / (len(u) - 1)
    n_c = {c: sum(o[c, k] for k in values) for c in values}
    n = sum(n_c.values())
    observed = sum(o[c, k] for c in values for k in values if c != k)
    expected = sum(n_c[c] * n_c[k] for c in values for k in values if c != k) / (n - 1)
    return 1 - observed / expected


def test_agreement_is_krippendorff_alpha_with_missing_scores():
    rows = [
        [1.0, 0.0, 1.0, 1.0, None, 0.0],
        [1.0, 1.0, 1.0, 0.0, 1.0, 0.0],
        [1.0, 0.0, None, 1.0, 1.0, 0.0],
    ]
    got = krippendorff_alpha(dict(zip("abc", rows)), "nominal")
    assert got == pytest.approx(nominal_alpha(rows))
    assert krippendorff_alpha({"a": [1.0, 1.0], "b": [1.0, 1.0]}, "nominal") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("judges: []", "key 'judges': List should have at least 1 item"),
        ("judges: [{name: a, promt: x}]", "unknown key 'judges[a].promt' (did you mean prompt?)"),
        ("judges: [{name: a}, {name: a}]", "judge name 'a' is used twice"),
        ("judges: [{name: a, prompt: medinjection-binar}]",
         "key 'judges[a].prompt': 'medinjection-binar' is no judge prompt (did you mean"),
        ("judges: [{name: a, server: [localhost:8000]}]",
         "key 'judges[a].server': 'localhost:8000' is neither in-process nor a URL"),
        ("judges: [{name: a, family: vlm}]", "key 'judges[a].family': 'vlm' is no server family"),
        ("judges: [{name: a}]\nrule: median", "key 'rule'"),
    ],
)  # fmt: skip
def test_a_bad_judges_file_is_one_line_naming_file_and_key(tmp_path, text, problem):
    path = tmp_path / "jury.yaml"
    path.write_text(text)
    with pytest.raises(JudgeError) as err:
        load_panel(path)
    assert str(err.value).startswith(f"{path}: ") and problem in str(err.value)
    assert "\n" not in str(err.value)


# --- judge selection ------------------------------------------------------------------------


def test_a_judge_close_to_the_labels_beats_a_noisy_one_significantly():
    pairs = load_pairs(FILES)
    human = np.array([p.human for p in pairs])
    clusters = [p.question_id for p in pairs]
    rng = np.random.default_rng(0)
    close = np.where(rng.random(len(human)) < 0.1, 1 - human, human)  # 10% flipped
    noisy = rng.integers(0, 2, len(human)).astype(float)
    out = paired_difference("pearson", close, noisy, human, clusters, 500, 1)
    r_close = np.corrcoef(close, human)[0, 1]
    assert out["delta"] == pytest.approx(r_close - np.corrcoef(noisy, human)[0, 1])
    assert out["ci95"][0] > 0 and out["p"] < 0.01
    same = paired_difference("pearson", close, close.copy(), human, clusters, 200, 1)
    assert same["delta"] == 0 and same["p"] == 1.0
    compared = compare_judges({"close": list(close), "noisy": list(noisy)}, list(human), clusters)
    (row,) = compared["pairs"]
    assert (row["a"], row["b"], row["n"]) == ("close", "noisy", len(pairs))
    assert row["significant"] and row["p_bh"] >= row["pearson"]["p"]


# --- length-controlled scores and whose score it is -----------------------------------------

STAMP = "2026-12-01T00-00-00.000000"
TASK = "medinj_fr_sample_medinjfr_native_oeq"
PAD = "Pour resumer ce qui precede, en reprenant les memes elements"  # adds no medical claim


def write_run(folder: Path, answers: list[str], scores: list[float], judge: dict) -> Path:
    """A run folder as ``medinj-eval run`` and ``judge`` leave it: results, samples with the
    documents and answers, a manifest, one judge's records and summary."""
    run = folder / "model"
    run.mkdir(parents=True)
    (run / f"results_{STAMP}.json").write_text(json.dumps({
        "results": {TASK: {}}, "config": {"model_args": f"pretrained={folder.name}"},
    }))  # fmt: skip
    rows, records = [], []
    for i, (answer, score) in enumerate(zip(answers, scores)):
        doc = {
            "question": f"Question {i} ?",
            "reference": "une reponse de reference " * (1 + i % 4),
        }
        rows.append({"doc_id": i, "doc_hash": f"h{i:03d}", "doc": doc, "filtered_resps": [answer]})
        records.append({"task": TASK, "doc_id": i, "doc_hash": f"h{i:03d}", "score": score,
                        "status": "ok"})  # fmt: skip
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    (run / f"samples_{TASK}_{STAMP}.jsonl").write_text(lines)
    (run / "manifest.json").write_text(
        json.dumps(
            {"results_file": f"results_{STAMP}.json", "model": judge.pop("model_identity", {})}
        )
    )
    out = folder / "judge" / "j"
    out.mkdir(parents=True)
    (out / f"{TASK}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (out / "summary.json").write_text(json.dumps({"settings": {"identity": judge}}))
    return folder


def test_padded_answers_score_higher_raw_but_the_same_length_controlled(tmp_path):
    """B's answers are A's with neutral padding of varying length; a judge whose score grows
    with length (and item quality) grades both: raw means differ, length-controlled agree."""
    from medinj_eval.runs import load_run
    from medinj_eval.stats.compare import compare_runs
    from medinj_eval.stats.length_control import length_term

    rng = np.random.default_rng(3)
    n = 60
    quality = rng.normal(5, 1, n)
    answers = [" ".join(["mot"] * int(w)) for w in rng.integers(3, 30, n)]
    padded = [a + (" " + PAD) * int(k) for a, k in zip(answers, rng.integers(1, 6, n))]
    refs = [len(("une reponse de reference " * (1 + i % 4)).split()) for i in range(n)]

    def judged(texts):
        d = [length_term(len(t.split()), r) for t, r in zip(texts, refs)]
        return list(quality + 1.5 * np.array(d) + rng.normal(0, 0.3, n))

    judge = {"prompt": "j", "model": "m", "server_family": "vllm", "base_model": "org/judge",
             "revision": "abc", "weights_sha256": None, "template_sha256": "t"}  # fmt: skip
    runs = [
        load_run(write_run(tmp_path / name, texts, judged(texts), dict(judge)), name)
        for name, texts in (("A", answers), ("B", padded))
    ]
    comparison = compare_runs(runs, "A", n_resamples=500)
    (cell,) = comparison["cells"]
    assert cell["metric"] == "judge_j" and cell["one_judge"] and cell["self_judged"] == []
    assert cell["judges"]["A"] == "j · org/judge@abc · vllm"
    assert cell["tests"]["B"]["delta"] > 1 and cell["tests"]["B"]["sig_bh"]  # raw: B wins
    lc = cell["length_controlled"]
    assert lc["slope"] == pytest.approx(1.5, abs=0.2)
    a, b = lc["systems"]["A"], lc["systems"]["B"]
    assert a["ci95"][0] <= b["length_controlled"] <= a["ci95"][1]
    assert b["ci95"][0] <= a["length_controlled"] <= b["ci95"][1]
    assert b["raw"] > b["ci95"][1]  # the raw score lies outside the length-controlled CI


def test_a_self_judged_run_and_runs_of_different_judges_are_named(tmp_path):
    from medinj_eval.judge.identity import weights_identity
    from medinj_eval.models import default_model
    from medinj_eval.runs import load_run
    from medinj_eval.stats.compare import compare_runs

    served = weights_identity(default_model.gguf_path())  # what a llama.cpp server serves
    assert served["base_model"] == default_model.HUB_ID
    model = {"base_model": served["base_model"], "revision": served["revision"],
             "weights_sha256": "safetensors-sha"}  # fmt: skip
    base = {"prompt": "j", "model": "smollm2", "server_family": "llama-cpp", "template_sha256": "t"}
    self_judge = {**base, **served, "model_identity": model}
    other = {**base, "base_model": "google/medgemma-27b-text-it", "revision": "r1",
             "weights_sha256": None, "model_identity": dict(model, adapter="a/b")}  # fmt: skip
    answers, scores = ["une reponse"] * 4, [1.0, 0.0, 1.0, 1.0]
    runs = [
        load_run(write_run(tmp_path / "self", answers, scores, self_judge), "self"),
        load_run(write_run(tmp_path / "tuned", answers, scores[::-1], other), "tuned"),
    ]
    comparison = compare_runs(runs, "self", n_resamples=50)
    (cell,) = comparison["cells"]
    assert cell["self_judged"] == ["self"] and not cell["one_judge"]
    assert any("judged by different judges" in w and "medgemma" in w
               for w in comparison["warnings"])  # fmt: skip


# --- on real judges -------------------------------------------------------------------------


def ascii_marker(question: str, others: list[str]) -> str:
    """A 20-character ASCII piece of ``question`` found in no other question (the fault
    proxy matches it in the request body, where accents are escaped)."""
    for start in range(len(question) - 20):
        piece = question[start : start + 20]
        if piece.isascii() and piece.isprintable() and not {'"', "\\"} & set(piece):
            if not any(piece in other for other in others):
                return piece
    raise AssertionError(f"no unique ASCII piece in {question!r}")


@pytest.fixture(scope="module")
def jury(open_run, llama_server, default_model, tmp_path_factory) -> dict:
    """A jury of the default model in process and on the llama.cpp server grades the open
    run; the served judge never gives a verdict on one question (prose every time)."""
    from fault_proxy import FaultPlan, FaultProxy

    from medinj_eval.runs import open_ended_samples, sample_files

    tmp = tmp_path_factory.mktemp("jury")
    run = Path(shutil.copytree(open_run, tmp / "run"))
    samples = [s for f in sample_files(run) for s in open_ended_samples(f)]
    target = samples[0]  # the same question may stand in two tasks: both are hit
    hit = {(s.task, s.doc_hash) for s in samples if s.question == target.question}
    marker = ascii_marker(
        target.question, [s.question for s in samples if (s.task, s.doc_hash) not in hit]
    )
    proxy = FaultProxy(llama_server.base_url, FaultPlan(rate=0, poison={marker: "prose"})).start()

    panel = {"judges": [
        {"name": "local", "server": "in-process", "model": "default"},
        {"name": "served", "server": proxy.base_url, "model": "smollm2",
         "family": llama_server.family, "weights": str(served_gguf())},
    ]}  # fmt: skip
    (tmp / "jury.yaml").write_text(yaml.safe_dump(panel))
    done = cli("judge", str(run), "--jury", str(tmp / "jury.yaml"), "--cache",
               str(tmp / "c.sqlite"), "--max-attempts", "2", "--no-progress",
               check=False)  # fmt: skip
    proxy.stop()
    return {"run": run, "done": done, "target": target, "hit": hit, "out": run / "judge" / "jury"}


def test_a_jury_keeps_each_judge_apart_and_marks_an_item_a_judge_missed(jury):
    done, out, hit = jury["done"], jury["out"], jury["hit"]
    assert done.returncode == 3, done.stdout + done.stderr[-2000:]  # incomplete, records kept
    assert f"{len(hit)} item(s) lack a judge's verdict" in done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["rule"] == "mean"  # two judges: no majority
    members = {j: json.loads((out / "members" / j / "summary.json").read_text())
               for j in ("local", "served")}  # fmt: skip
    assert members["local"]["settings"]["identity"]["weights_sha256"]
    every = {"local": [], "served": []}
    for task, agg in summary["tasks"].items():
        jury_rows = [json.loads(x) for x in (out / f"{task}.jsonl").read_text().splitlines()]
        rows = {j: {r["doc_hash"]: r for r in map(json.loads, (out / "members" / j /
                f"{task}.jsonl").read_text().splitlines())} for j in every}  # fmt: skip
        for row in jury_rows:
            scores = {j: rows[j][row["doc_hash"]]["score"] for j in every}
            for j in every:
                every[j].append(scores[j])
            if (task, row["doc_hash"]) in hit:
                assert scores["served"] is None and scores["local"] is not None
                assert row["score"] is None
                assert row["status"] == "incomplete: no verdict from served"
            else:
                assert row["score"] == pytest.approx((scores["local"] + scores["served"]) / 2)
        assert agg["n_incomplete"] == sum(1 for t, _ in hit if t == task)
    given = [v for values in every.values() for v in values if v is not None]
    if len(set(given)) > 1:
        assert summary["krippendorff_alpha"] == pytest.approx(nominal_alpha(list(every.values())))
    else:  # this small judge may say 1 to everything: no disagreement to measure
        assert summary["krippendorff_alpha"] is None
    assert "Krippendorff's alpha" in done.stdout


def test_a_jury_is_submitted_with_its_judges_and_each_verdict_checked(jury, tmp_path):
    """The leaderboard takes the jury's score with its judges' records, checks each judge's
    records as one judge's and recomputes each jury verdict from them."""
    results, task = tmp_path / "results", jury["target"].task
    cli("leaderboard", "submit", str(jury["run"]), "--model-id", "smollm2-jury", "--results",
        str(results), "--allow-partial")  # fmt: skip
    folder = results / "smollm2-jury"
    manifest = json.loads((folder / "submission.json").read_text())
    entry = manifest["tasks"][task]["judge"]["jury"]
    summary = json.loads((jury["out"] / "summary.json").read_text())["tasks"][task]
    assert entry["rule"] == "mean" and set(entry["members"]) == {"local", "served"}
    assert entry["mean"] == pytest.approx(summary["mean"]) and entry["n_missing"] >= 1
    assert entry["members"]["served"]["records"] == f"judge/jury/members/served/{task}.jsonl"
    cli("leaderboard", "validate", "--results", str(results))
    cli("leaderboard", "build", "--results", str(results), "--out", str(tmp_path / "site"))
    rows = json.loads((tmp_path / "site" / "data.json").read_text())["rows"]
    row = next(r for r in rows if r["task"] == task and r["metric"] == "judge_jury")
    assert row["value"] == pytest.approx(summary["mean"])
    assert row["judge"].startswith("jury jury (mean of") and row["self_judged"]

    path = folder / entry["records"]  # one jury verdict its judges did not give, re-signed
    records = [json.loads(line) for line in path.read_text().splitlines()]
    row_no = next(i for i, r in enumerate(records) if r["score"] is not None)
    records[row_no]["score"] += 0.25
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    entry["records_sha256"] = sha256_file(path)
    (folder / "submission.json").write_text(json.dumps(manifest))
    refused = cli("leaderboard", "validate", "--results", str(results), check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert f"{path}, row {row_no}, field 'score'" in refused.stderr
    assert "but its judges' verdicts give" in refused.stderr


def test_compare_takes_the_jury_score_and_flags_the_self_judged_run(jury):
    from medinj_eval.runs import load_run
    from medinj_eval.stats.compare import compare_runs

    runs = [load_run(jury["run"], "a"), load_run(jury["run"], "b")]
    task = jury["target"].task
    assert runs[0].metric_of(task) == "judge_jury"
    comparison = compare_runs(runs, "a", n_resamples=50)
    cell = next(c for c in comparison["cells"] if c["task"] == task)
    missed = sum(1 for t, _ in jury["hit"] if t == task)
    assert cell["n_unscored"] == missed and missed > 0  # incomplete: left out, and said so
    assert cell["n_items"] == len(runs[0].samples[task]) - missed
    assert any(
        w.startswith(f"{task}: {missed} item(s) without a score") for w in comparison["warnings"]
    )
    label = cell["judges"]["a"]
    assert label.startswith("jury jury (mean of medinjection-binary · HuggingFaceTB/SmolLM2")
    assert cell["self_judged"] == ["a", "b"]  # the default model grades its own answers


def test_meta_eval_ranks_real_judges_and_tests_their_differences(llama_server, tmp_path):
    """Three judges on the llama.cpp server (a 1-10 rating, the same judge listed twice, a
    1-5 rating of the test's own wording) and the default model in process, which gives one
    verdict to every pair: no correlation, ranked last."""
    five = yaml.safe_load(Path(REPO / "judge_prompts" / "mediqal-10.yaml").read_text())
    five.update(name="five", verdict={"kind": "scale", "min": 1, "max": 5})
    five["system"] = five["system"].replace("from 1 to 10", "from 1 (wrong) to 5 (equivalent)")
    (tmp_path / "five.yaml").write_text(yaml.safe_dump(five))
    served = {"server": llama_server.base_url, "model": "smollm2", "family": llama_server.family}
    panel = {"judges": [
        {"name": "local", "prompt": "mediqal-10", "server": "in-process", "model": "default"},
        {"name": "ten", "prompt": "mediqal-10", **served},
        {"name": "ten-again", "prompt": "mediqal-10", **served, "server": [served["server"]]},
        {"name": "five", "prompt": str(tmp_path / "five.yaml"), **served},
    ]}  # fmt: skip
    (tmp_path / "judges.yaml").write_text(yaml.safe_dump(panel))
    out = tmp_path / "metaeval"
    done = cli("meta-eval", *map(str, FILES), "--judges", str(tmp_path / "judges.yaml"),
               "--cache", str(tmp_path / "c.sqlite"), "--resamples", "300", "--out", str(out),
               "--no-progress")  # fmt: skip
    result = json.loads((out / "metaeval.json").read_text())
    selection = result["judge_selection"]
    r = {n: result["scorers"][f"judge:{n}"]["pearson"] for n in ("local", "ten", "five")}
    assert r["local"] is None and None not in (r["ten"], r["five"])
    assert selection["ranking"][-1] == "judge:local" and len(selection["ranking"]) == 4
    pairs = {(p["a"], p["b"]): p for p in selection["pairs"]}
    assert len(pairs) == 6
    same = pairs["judge:ten", "judge:ten-again"]  # one judge twice: no difference
    assert same["pearson"]["delta"] == 0 and not same["significant"]
    diff = pairs["judge:ten", "judge:five"]
    assert diff["n"] == 32 and diff["pearson"]["delta"] == pytest.approx(r["ten"] - r["five"])
    low, high = diff["pearson"]["ci95"]
    assert low <= diff["pearson"]["delta"] <= high
    assert 0 <= diff["pearson"]["p"] <= diff["p_bh"] <= 1
    assert pairs["judge:local", "judge:ten"]["pearson"]["delta"] is None  # undefined, not 0
    assert "## Judge selection" in (out / "metaeval.md").read_text()
    assert "judges by pearson: " in done.stdout


def test_one_pass_over_two_servers_moves_requests_off_one_that_stops_and_back(
    llama_server, open_run, tmp_path
):
    """Two endpoints (the server, and a proxy to it that starts dropping every connection
    mid-pass, then recovers): every verdict arrives, equal to one server's, and the
    recovered endpoint gets requests again."""
    from fault_proxy import FaultPlan, FaultProxy

    from medinj_eval.judge.backends import PooledBackend, backend_for
    from medinj_eval.judge.cache import ReplyCache
    from medinj_eval.judge.prompts import load_prompt
    from medinj_eval.judge.runner import JudgeConfig, judge_run

    plan = FaultPlan(rate=0)
    proxy = FaultProxy(llama_server.base_url, plan).start()
    pool = backend_for([llama_server.base_url, proxy.base_url], "smollm2", llama_server.family,
                       concurrency=1)  # fmt: skip
    assert isinstance(pool, PooledBackend)
    pool.recheck = 0.5
    prompt = load_prompt("medinjection-binary")

    def config(backend, cache: str) -> JudgeConfig:
        return JudgeConfig(prompt=prompt, backend=backend, cache=ReplyCache(tmp_path / cache),
                           concurrency=2, progress=False)  # fmt: skip

    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.update(judge_run(open_run, config(pool, "pool.sqlite"),
                                               tmp_path / "pooled")))  # fmt: skip
    thread.start()
    wait_for(lambda: pool.answered[1] >= 2, "the proxy's first replies")
    plan.poison = {"": "drop"}  # every connection through the proxy is closed
    stopped_at = pool.answered[0]
    wait_for(lambda: pool.answered[0] >= stopped_at + 4, "requests moved to the server")
    plan.poison = {}
    back_at = pool.answered[1]
    thread.join(timeout=600)
    proxy.stop()
    assert proxy.faults["drop"] >= 1 and pool.answered[1] > back_at
    single = judge_run(open_run, config(backend_for([llama_server.base_url], "smollm2",
                       llama_server.family), "one.sqlite"), tmp_path / "single")  # fmt: skip
    for task in single["tasks"]:
        pooled = [json.loads(x)["score"] for x in (tmp_path / "pooled" / f"{task}.jsonl")
                  .read_text().splitlines()]  # fmt: skip
        alone = [json.loads(x)["score"] for x in (tmp_path / "single" / f"{task}.jsonl")
                 .read_text().splitlines()]  # fmt: skip
        assert pooled == alone and None not in pooled


def wait_for(ready, what: str, deadline_s: float = 300) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if ready():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not seen after {deadline_s:.0f} s")


def test_a_perturbation_audit_on_a_real_server_writes_every_pair(llama_server, open_run, tmp_path):
    from scipy import stats

    from medinj_eval.judge.audit import AUTHORITY, HEDGE_AFTER, PADDING, PERTURBATIONS

    out = tmp_path / "audit"
    done = cli("judge", "audit", str(open_run), "-n", "6", "--seed", "3", "--base-url",
               llama_server.base_url, "--judge-model", "smollm2", "--server", llama_server.family,
               "--cache", str(tmp_path / "c.sqlite"), "--resamples", "300", "--out", str(out),
               "--no-progress")  # fmt: skip
    rows = [json.loads(x) for x in (out / "variants.jsonl").read_text().splitlines()]
    assert len(rows) == 6 * (1 + len(PERTURBATIONS))
    original = {r["doc_hash"]: r for r in rows if r["variant"] == "original"}
    assert len(original) == 6
    for row in rows:
        text = original[row["doc_hash"]]["candidate"]
        expected = {
            "original": text, "padded": f"{text}\n\n{PADDING}",
            "authoritative": f"{AUTHORITY} {text}",
            "truncated": " ".join(text.split()[: max(1, len(text.split()) // 2)]),
        }.get(row["variant"])  # fmt: skip
        if expected is not None:
            assert row["candidate"] == expected
        if row["variant"] == "hedged":
            assert row["candidate"].endswith(f"{text} {HEDGE_AFTER}")
        if row["variant"] == "reference_sentence":
            assert row["candidate"].startswith(text) and len(row["candidate"]) > len(text)
    result = json.loads((out / "audit.json").read_text())
    for name in PERTURBATIONS:
        pairs = [(r["score"], original[r["doc_hash"]]["score"]) for r in rows
                 if r["variant"] == name and r["score"] is not None
                 and original[r["doc_hash"]]["score"] is not None]  # fmt: skip
        got = result["perturbations"][name]
        assert got["n"] == len(pairs)
        if pairs:
            after, before = map(np.array, zip(*pairs))
            assert got["mean_shift"] == pytest.approx((after - before).mean())
            assert got["changed"] == pytest.approx(np.mean(after != before))
            if np.std(after - before) > 0:
                assert got["p_t"] == pytest.approx(stats.ttest_rel(after, before).pvalue)
    assert "| padded |" in (out / "audit.md").read_text() and "padded:" in done.stdout
