"""The report of a run or of a comparison: one self-contained HTML page (figures inlined as
base64 PNG) and the same content as Markdown beside it."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from medinj_eval.reports.tables import (
    cell_rows,
    fmt_value,
    friedman_text,
    ranking_rows,
    settings_text,
)
from medinj_eval.runs import Run
from medinj_eval.stats.position_bias import run_position_bias

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]

    @classmethod
    def of(cls, records: list[dict[str, Any]]) -> Table:
        columns = list(records[0]) if records else []
        return cls(columns, [[r[c] for c in columns] for r in records])


@dataclass
class Figure:
    name: str
    path: str
    data: str


@dataclass
class Section:
    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    pre: str = ""


def versions() -> dict[str, str]:
    out = {}
    for package in ("medinj-eval", "lm_eval", "transformers", "torch", "peft", "scipy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def figure(path: Path, folder: Path) -> Figure:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return Figure(path.stem.replace("_", " "), str(path.relative_to(folder)), data)


def run_sections(run: Run) -> list[Section]:
    """Scores per task, position bias, identity, configuration, versions and timings."""
    rows = []
    for task, metrics in sorted(run.results.get("results", {}).items()):
        for name, filt, value in run.logged_metrics(task):
            stderr = metrics.get(f"{name}_stderr,{filt}")
            rows.append(
                {
                    "task": task,
                    "n-shot": run.n_shot(task),
                    "metric": name,
                    "value": value,
                    "stderr": stderr if isinstance(stderr, (int, float)) else None,
                    "n": (run.results.get("n-samples") or {}).get(task, {}).get("effective"),
                }
            )
    bias = run_position_bias(run)
    config = run.results.get("config") or {}
    identity = {
        "model": run.results.get("model_name") or config.get("model"),
        "backend": config.get("model"),
        "model_args": json.dumps(config.get("model_args"), ensure_ascii=False),
        "run folder": str(run.path.parent),
        "git hash": run.results.get("git_hash"),
        "chat template sha": run.results.get("chat_template_sha"),
    }
    timing = {
        "date": datetime.fromtimestamp(float(run.results.get("date", 0)), timezone.utc).isoformat(),
        "evaluation time (s)": run.results.get("total_evaluation_time_seconds"),
    }
    run_versions = {
        "lm_eval": run.results.get("lm_eval_version"),
        "transformers": run.results.get("transformers_version"),
    }
    sections = [
        Section("Scores", tables=[Table.of(rows)]),
        Section("Model", tables=[Table(["field", "value"], [[k, v] for k, v in identity.items()])]),
    ]
    if bias:
        sections.append(Section("Position bias", tables=[Table.of([_bias_row(b) for b in bias])]))
    sections += [
        Section(
            "Versions and timings",
            tables=[
                Table(["field", "value"], [[k, v] for k, v in {**run_versions, **timing}.items()])
            ],
        ),
        Section("Configuration", pre=json.dumps(config, indent=2, ensure_ascii=False, default=str)),
    ]
    if run.manifest:
        manifest = json.dumps(run.manifest, indent=2, ensure_ascii=False)
        sections.append(Section("Manifest: model, data files, versions, seeds", pre=manifest))
    return sections


def _bias_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": record["task"],
        "items": record["n_items"],
        **{f"EM {k}": v for k, v in record["em"].items()},
        "EM pooled": record["em_pooled"],
        "consistency": record["consistency_rate"],
        "chosen letters": json.dumps(record["chosen_letters"]),
        "gold letters": json.dumps(record["gold_letters"]),
    }


def comparison_sections(
    comparison: dict[str, Any],
    figures: dict[str, Path],
    folder: Path,
    bias: dict[str, list[dict[str, Any]]],
) -> list[Section]:
    sections = [
        Section(
            "Ranking",
            text=settings_text(comparison),
            tables=[Table.of(ranking_rows(comparison))],
        ),
        Section("Cells", tables=[Table.of(cell_rows(comparison))]),
        Section("Friedman and Nemenyi", text=friedman_text(comparison["friedman"])),
        Section("Figures", figures=[figure(p, folder) for p in figures.values()]),
    ]
    rows = [{"system": name, **_bias_row(b)} for name, records in bias.items() for b in records]
    if rows:
        sections.append(Section("Position bias", tables=[Table.of(rows)]))
    sections.append(
        Section(
            "Runs",
            tables=[Table(["system", "run"], [[k, v] for k, v in comparison["runs"].items()])],
        )
    )
    return sections


def write_report(title: str, sections: list[Section], folder: Path) -> dict[str, Path]:
    """``report.html`` (self-contained) and ``report.md`` in ``folder``."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    env.filters["fmt"] = fmt_value
    context = {
        "title": title,
        "sections": sections,
        "versions": versions(),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"html": folder / "report.html", "markdown": folder / "report.md"}
    paths["html"].write_text(env.get_template("report.html.j2").render(context), encoding="utf-8")
    paths["markdown"].write_text(env.get_template("report.md.j2").render(context), encoding="utf-8")
    return paths
