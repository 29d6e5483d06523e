"""A study's tables in Markdown, HTML and LaTeX (booktabs), from what its steps wrote: the
runs and their judge records (through the run reader), and ``compare``'s comparison.

* ``medinjection-fr``: MedInjection-FR's Table 1, one row per system (baseline first): the
  aggregated constrained EM (mean of MCQ and MCQU, each pooled over Native and Translated)
  and the OEQ judge score; then, per subset, MCQ EM and Hamming and MCQU EM, constrained
  beside greedy, and the EM pooled over answer orders. Published rows (``results/``) form a
  second block when the plan sets ``published: true``.
* ``enmed-grid``: EnMed's 9 cells (MCQA, ExtQA, AbsQA x 0/3/5 shots), each cell's metric as
  ``compare`` scored it, with the critical-difference diagram.

Best measured value of each column in bold; a dagger marks a value that differs from the
baseline's after Benjamini-Hochberg over the comparison's cells (paired tests of ``compare``).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medinj_eval.atomic import write_atomic
from medinj_eval.benchmarks import REPORTED_HEADLINES, family_headline, full_task, grid_cells
from medinj_eval.leaderboard.pivot import headline_cell
from medinj_eval.leaderboard.rows import run_rows
from medinj_eval.study.plan import Study

SUBSETS = ("native", "translated")
GRID_LABELS = {"mcqa": "MCQA", "extqa": "ExtQA", "absqa": "AbsQA"}
MODES = ("constrained", "greedy")
DAGGER = "†"
SELF_JUDGED_MARK = "§"
OEQ_TASKS = {f"medinjfr_{subset}_oeq" for subset in SUBSETS}


@dataclass
class Column:
    label: str
    scale: float = 1.0  # 1: a rate, shown in percent; else the metric's own scale


@dataclass
class Table:
    title: str
    columns: list[Column]
    rows: list[tuple[str, list[float | None], list[bool]]] = field(default_factory=list)
    extra_rows: list[tuple[str, list[float | None]]] = field(default_factory=list)
    extra_title: str = ""
    notes: list[str] = field(default_factory=list)
    figure: str | None = None

    def best(self) -> list[float | None]:
        out = []
        for i in range(len(self.columns)):
            values = [cells[i] for _, cells, _ in self.rows if cells[i] is not None]
            out.append(max(values) if len(set(values)) > 1 else None)  # a tie of all: none
        return out


def system_rows(study: Study) -> dict[str, list[dict[str, Any]]]:
    """Every leaderboard row (task, metric, value) of each system, over its suites."""
    root = study.output()
    out: dict[str, list[dict[str, Any]]] = {}
    for system in study.systems:
        rows = []
        for suite in study.evaluate:
            folder = root / "evaluate" / system.name / suite.name
            rows += run_rows(folder, system.name)
        out[system.name] = rows
    return out


def significant(study: Study) -> set[tuple[str, str, str]]:
    """(system, task, metric) of every cell where ``compare`` found a BH-significant
    difference from the baseline."""
    found = set()
    for path in sorted((study.output() / "compare").glob("*/comparison.json")):
        comparison = json.loads(path.read_text(encoding="utf-8"))
        for cell in comparison["cells"]:
            for system, test in (cell.get("tests") or {}).items():
                if test.get("sig_bh"):
                    found.add((system, full_task(cell["task"]), cell["metric"]))
    return found


def _value(rows: list[dict[str, Any]], task: str, metric: str) -> float | None:
    for row in rows:
        if full_task(row["task"]) == task and row["metric"] == metric:
            return float(row["value"])
    return None


def _ordered(study: Study) -> list[str]:
    names = [s.name for s in study.systems]
    return [study.baseline] + [n for n in names if n != study.baseline]


def medinjection_tables(study: Study) -> list[Table]:
    rows = system_rows(study)
    marks = significant(study)
    em = family_headline("medinjfr")
    judge = next(h for h in REPORTED_HEADLINES if h.key == "medinjfr_judge")
    assert em is not None
    main = Table("MedInjection-FR: aggregated EM and open-ended judge score",
                 [Column("Aggregated EM (constrained)"), Column("OEQ judge (binary)"),
                  Column("OEQ judge, length-controlled")])  # fmt: skip
    facts = oeq_judge_facts(study)
    for name in _ordered(study):
        cells = [headline_cell(h, rows[name]) for h in (em, judge)]
        values = [c["value"] if c else None for c in cells] + [facts.controlled.get(name)]
        label = f"{name} {SELF_JUDGED_MARK}" if name in facts.self_judged else name
        main.rows.append((label, values, [False, False, False]))
    if study.published:
        main.extra_title, main.extra_rows = "Published (MedInjection-FR, Table 1)", _published()
    main.notes.append(
        "EM in percent; aggregated EM: mean of MCQ and MCQU, each pooled over "
        "Native and Translated items; judge: share of answers judged equivalent, by "
        + (" and ".join(sorted(facts.judges)) or "no judge")
        + "; length-controlled: the judge score predicted for answers as long as the "
        "references (s = a_system + b ln((1+w_answer)/(1+w_reference)), least squares over "
        "every system's judged answers)"
    )
    if facts.self_judged:
        main.notes.append(f"{SELF_JUDGED_MARK}: graded by the judge model itself")
    return [main, *(_subset_table(study, rows, marks, subset) for subset in SUBSETS)]


@dataclass
class JudgeFacts:
    controlled: dict[str, float | None]  # system -> length-controlled OEQ judge score
    judges: set[str]  # labels of the judges that graded the OEQ answers
    self_judged: set[str]


def oeq_judge_facts(study: Study) -> JudgeFacts:
    """The OEQ answers' length-controlled judge scores, over every system (one fit), the
    judges that graded them and the systems the judge model graded itself."""
    from medinj_eval.judge.identity import is_self_judged, judge_label
    from medinj_eval.runs import load_run
    from medinj_eval.stats.judge_cells import judged_answers
    from medinj_eval.stats.length_control import length_controlled

    facts = JudgeFacts({}, set(), set())
    if study.judge is None:
        return facts
    metric = f"judge_{study.judge.folder}"
    answers = []
    for system in study.systems:
        for suite in (s for s in study.evaluate if s.judge):
            run = load_run(study.output() / "evaluate" / system.name / suite.name, system.name)
            identity = run.judge_identity.get(metric.removeprefix("judge_"))
            for task in run.tasks:
                if full_task(task) not in OEQ_TASKS or metric not in _judged(run, task):
                    continue
                answers += judged_answers(run, task, metric, system.name, f"{task}/")
                facts.judges.add(judge_label(identity))
                if is_self_judged(identity, (run.manifest or {}).get("model")):
                    facts.self_judged.add(system.name)
    if answers:
        fitted = length_controlled(answers, resamples=0)["systems"]
        facts.controlled = {name: entry["length_controlled"] for name, entry in fitted.items()}
    return facts


def _judged(run: Any, task: str) -> list[str]:
    return [f"judge_{prompt}" for prompt in run.judge.get(task, {})]


def _subset_table(study: Study, rows: dict, marks: set, subset: str) -> Table:
    specs = [
        (f"medinjfr_{subset}_mcq_{mode}", metric, f"MCQ {label} ({mode})")
        for metric, label in (("em", "EM"), ("hamming", "Hamming"))
        for mode in MODES
    ]
    specs += [(f"medinjfr_{subset}_mcqu_{mode}", "em", f"MCQU EM ({mode})") for mode in MODES]
    specs += [(f"medinjfr_{subset}_{q}_constrained_pooled", "em", f"{q.upper()} EM (pooled orders)")
              for q in ("mcq", "mcqu")]  # fmt: skip
    table = Table(f"MedInjection-FR {subset.capitalize()}", [Column(label) for *_, label in specs])
    for name in _ordered(study):
        values = [_value(rows[name], task, metric) for task, metric, _ in specs]
        sig = [(name, task, metric) in marks for task, metric, _ in specs]
        table.rows.append((name, values, sig))
    table.notes.append(f"{DAGGER}: differs from {study.baseline} (paired test, "
                       f"Benjamini-Hochberg at q = {study.compare.q})")  # fmt: skip
    return table


def _published() -> list[tuple[str, list[float | None]]]:
    from medinj_eval.leaderboard.reported import REPORTED_DIR, load_reported

    reported = [r for r in load_reported(Path("results") / REPORTED_DIR)
                if r["source"].startswith("MedInjection-FR")]  # fmt: skip
    models = list(dict.fromkeys(r["model"] for r in reported))
    keys = (("medinjfr_constrained_em", "em"), ("medinjfr_oeq_judge", "judge_binary"))
    return [
        (model, [next((r["value"] for r in reported if r["model"] == model
                       and (r["task"], r["metric"]) == key), None) for key in keys])
        for model in models
    ]  # fmt: skip


def grid_table(study: Study) -> Table:
    """EnMed's grid from the comparison of the suite that holds its cells."""
    comparison, folder = _grid_comparison(study)
    cells = {full_task(c["task"]): c for c in comparison["cells"]}
    order = [t for t in grid_cells() if t in cells]
    row_of = {t: GRID_LABELS[grid_cells()[t][0]] for t in order}
    columns = [
        Column(f"{row_of[t]} {grid_cells()[t][1]}-shot",
               5.0 if cells[t]["metric"].startswith("judge") else 1.0)
        for t in order
    ]  # fmt: skip
    table = Table("EnMed grid: 3 tasks x 0/3/5 shots", columns)
    for name in _ordered(study):
        values = [cells[t]["scores"].get(name) for t in order]
        sig = [bool((cells[t].get("tests") or {}).get(name, {}).get("sig_bh")) for t in order]
        table.rows.append((name, values, sig))
    metrics = ", ".join(
        dict.fromkeys(f"{GRID_LABELS[grid_cells()[t][0]]}: {cells[t]['metric']}" for t in order)
    )
    table.notes.append(
        f"metrics: {metrics}; {DAGGER}: differs from {study.baseline} "
        f"(paired test, Benjamini-Hochberg at q = {study.compare.q})"
    )
    cd = folder / "figures" / "cd_diagram.png"
    table.figure = str(cd) if cd.is_file() else None
    return table


def _grid_comparison(study: Study) -> tuple[dict[str, Any], Path]:
    grid = set(grid_cells())
    for path in sorted((study.output() / "compare").glob("*/comparison.json")):
        comparison = json.loads(path.read_text(encoding="utf-8"))
        if grid & {full_task(c["task"]) for c in comparison["cells"]}:
            return comparison, path.parent
    raise FileNotFoundError("no comparison holds EnMed's grid cells: evaluate `enmed_grid`")


def _shown(value: float | None, column: Column) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}" if column.scale == 1.0 else f"{value:.2f}"


def _cells(table: Table) -> list[tuple[str, list[tuple[str, bool, bool]]]]:
    """Each row's cells as (text, bold, dagger)."""
    best = table.best()
    return [
        (name, [(_shown(v, c), v is not None and v == b, s)
                for v, c, b, s in zip(values, table.columns, best, sig)])
        for name, values, sig in table.rows
    ]  # fmt: skip


def markdown(table: Table) -> str:
    head = ["Model", *(c.label for c in table.columns)]
    lines = [f"### {table.title}", "", "| " + " | ".join(head) + " |",
             "|" + "---|" + "---:|" * len(table.columns)]  # fmt: skip
    for name, cells in _cells(table):
        shown = [(f"**{t}**" if bold else t) + (DAGGER if dag else "") for t, bold, dag in cells]
        lines.append("| " + " | ".join([name, *shown]) + " |")
    if table.extra_rows:
        lines.append(f"| *{table.extra_title}* |" + " |" * len(table.columns))
        for name, values in table.extra_rows:
            shown = [_shown(v, c) for v, c in zip(values, table.columns)]
            lines.append("| " + " | ".join([name, *shown]) + " |")
    lines += ["", *(f"{note}." for note in table.notes)]
    if table.figure:
        lines += ["", f"![critical-difference diagram]({table.figure})"]
    return "\n".join(lines) + "\n"


def latex(table: Table) -> str:
    """A booktabs tabular, ready to paste into a paper."""
    n = len(table.columns)
    lines = [f"% {table.title}", r"\begin{tabular}{l" + "r" * n + "}", r"\toprule",
             " & ".join(["Model", *(_tex(c.label) for c in table.columns)]) + r" \\",
             r"\midrule"]  # fmt: skip
    for name, cells in _cells(table):
        shown = [(rf"\textbf{{{t}}}" if bold else t) + (r"$^\dagger$" if dag else "")
                 for t, bold, dag in cells]  # fmt: skip
        lines.append(" & ".join([_tex(name), *shown]) + r" \\")
    if table.extra_rows:
        lines += [
            r"\midrule",
            rf"\multicolumn{{{n + 1}}}{{l}}{{\emph{{{_tex(table.extra_title)}}}}} \\",
        ]
        for name, values in table.extra_rows:
            shown = [_shown(v, c) for v, c in zip(values, table.columns)]
            lines.append(" & ".join([_tex(name), *shown]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"),
                          ("_", r"\_"), ("#", r"\#"), ("$", r"\$")):  # fmt: skip
        text = text.replace(char, escaped)
    return text


def html_table(table: Table) -> str:
    head = "".join(
        f"<th>{html.escape(c)}</th>" for c in ["Model", *(c.label for c in table.columns)]
    )
    body = []
    for name, cells in _cells(table):
        shown = "".join(
            f"<td>{'<b>' if bold else ''}{html.escape(t)}{'</b>' if bold else ''}"
            f"{DAGGER if dag else ''}</td>" for t, bold, dag in cells)  # fmt: skip
        body.append(f"<tr><th>{html.escape(name)}</th>{shown}</tr>")
    if table.extra_rows:
        body.append(f'<tr><td colspan="{len(table.columns) + 1}"><i>'
                    f"{html.escape(table.extra_title)}</i></td></tr>")  # fmt: skip
        for name, values in table.extra_rows:
            shown = "".join(f"<td>{_shown(v, c)}</td>" for v, c in zip(values, table.columns))
            body.append(f"<tr><th>{html.escape(name)}</th>{shown}</tr>")
    notes = "".join(f"<p>{html.escape(n)}.</p>" for n in table.notes)
    figure = f'<img src="{html.escape(table.figure)}" alt="CD diagram">' if table.figure else ""
    return (f"<h3>{html.escape(table.title)}</h3><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{notes}{figure}")  # fmt: skip


def study_tables(study: Study) -> list[Table]:
    tables: list[Table] = []
    if "medinjection-fr" in study.tables:
        tables += medinjection_tables(study)
    if "enmed-grid" in study.tables:
        tables.append(grid_table(study))
    return tables


def write_tables(study: Study, out: Path) -> list[Path]:
    """``tables.md``, ``tables.html`` and ``tables.tex`` in ``out``."""
    tables = study_tables(study)
    title = f"Study {study.name}"
    md = f"# {title}\n\n" + "\n".join(markdown(t) for t in tables)
    style = ("<style>body{font-family:sans-serif}table{border-collapse:collapse;margin:1em 0}"
             "td,th{padding:.2em .6em;border-bottom:1px solid #ccc;text-align:right}"
             "th:first-child{text-align:left}</style>")  # fmt: skip
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title>{style}</head><body><h1>{html.escape(title)}</h1>"
            + "".join(html_table(t) for t in tables) + "</body></html>")  # fmt: skip
    tex = "\n".join(latex(t) for t in tables)
    paths = [out / "tables.md", out / "tables.html", out / "tables.tex"]
    for path, text in zip(paths, (md, page, tex)):
        write_atomic(path, text)
    return paths
