"""Every benchmark medinj-eval scores, declared once.

A declaration holds what the rest of the project needs to know about a benchmark: where it
lives (hub id, local layout), how a raw row becomes an item (row parser, answer kind), which
split feeds few-shot demonstrations, which tasks are generated for it (decoding modes, shot
counts, answer-order variants) and where the leaderboard files it (family). The task stub
generator (``lm_eval_tasks/_generate_configs.py``), the loaders
(:func:`medinj_eval.tasks.datasets.load_benchmark`), the leaderboard's families, the training
mixes and the tests read these declarations; nothing else spells a benchmark's facts.

Adding a benchmark in the schema of an existing one is one :func:`declare` call here (or in
a plugin module imported before the tasks load) plus its sample items, then
``python lm_eval_tasks/_generate_configs.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

# Answer kinds: how an item is answered and scored.
SINGLE, MULTI, CLOZE, OPEN, SPAN = "single", "multi", "cloze", "open", "span"
MCQ_KINDS = (SINGLE, MULTI)
MCQ_MODES = ("greedy", "constrained", "loglik")
# EnMed's option-text scoring: single-answer benchmarks and FrenchMedMCQA.
OPTION_TEXT = "optiontext"
ANSWER_ORDERS = (1, 2)
GRID_ROWS = ("mcqa", "extqa", "absqa")
GRID_MCQ_MODE = "greedy"
# Few-shot pools: a split of the benchmark, or the test items left out of a test slice.
UNEVALUATED = "unevaluated"
STANDARD_SPLITS = MappingProxyType(
    {"train": ("train",), "validation": ("validation", "dev", "val"), "test": ("test",)}
)

# Primary item metric of each answer kind: what compare tests and the leaderboard ranks.
PRIMARY_METRIC = MappingProxyType(
    {SINGLE: "em", MULTI: "em", CLOZE: "acc", OPEN: "rougeL", SPAN: "token_f1"}
)


@dataclass(frozen=True)
class Benchmark:
    """One benchmark (or one part of one: a config, a source, a subset).

    ``name`` is the prefix of its tasks and the first part of each item's identity.
    ``split_files`` maps a split to the file stems (no suffix) tried under ``local_dir``;
    ``hub_files`` maps a split to a file inside the hub repository when the hub dataset has
    no configs of its own. ``parser`` and ``reader`` are ``module:function`` references,
    resolved when a task loads: ``parser(row, file, index, bench)`` turns one raw row into an
    item; ``reader(folder, bench)`` replaces row files for formats that are not rows (BRAT).
    ``test_slice`` (``module:function``) keeps the evaluated part of the test split;
    ``fewshot_pool`` is where demonstrations come from: ``train`` (the train split) or
    ``unevaluated`` (the test rows the slice left out, EnMed's AbsQA).
    ``aggregate_by`` names the ``part`` key of a family's aggregate in each letter mode
    (MedInjection-FR: ``subset``): the family's benchmarks pooled within each value of that
    key, then the unweighted mean over the values, as ``<family>_<mode>_em``; in the suites
    the aggregate stands for its members. ``grid`` names the benchmark's row of EnMed's grid
    (``mcqa``, ``extqa``, ``absqa``) and ``grid_metric`` pairs the item metric scored there
    with the name EnMed reports it under.
    """

    name: str
    family: str
    answer_kind: str
    parser: str
    local_dir: str
    hub_id: str | None = None
    hub_config: str | None = None
    hub_revision: str | None = None
    hub_files: Mapping[str, str] = field(default_factory=dict)
    split_files: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: STANDARD_SPLITS)
    reader: str | None = None
    fewshot_pool: str = "train"
    fewshot_seed: int | None = None
    test_slice: str | None = None
    question_types: bool = False
    shots: tuple[int, ...] = (0, 3, 5)
    modes: tuple[str, ...] = ()
    answer_orders: tuple[int, ...] = ()
    task_folder: str = ""
    part: Mapping[str, str] = field(default_factory=dict)
    grid: str | None = None
    grid_metric: tuple[str, str] | None = None
    aggregate_by: str | None = None

    @property
    def multi(self) -> bool:
        return self.answer_kind == MULTI

    @property
    def primary_metric(self) -> str:
        return PRIMARY_METRIC[self.answer_kind]


_REGISTRY: dict[str, Benchmark] = {}

# The sample suite: one twin of every declared task, on the items the project's authors
# wrote (``<SAMPLE_SUITE>/data`` in the tasks folder), named ``<SAMPLE_PREFIX><task>``.
SAMPLE_SUITE = "medinj_fr_sample"
SAMPLE_PREFIX = f"{SAMPLE_SUITE}_"


def full_task(task: str) -> str:
    """The task a sample twin stands for (a full task's own name unchanged)."""
    return task.removeprefix(SAMPLE_PREFIX)


def declare(bench: Benchmark) -> Benchmark:
    """Add ``bench`` to the registry; a second declaration of one name is refused."""
    if bench.answer_kind not in PRIMARY_METRIC:
        raise ValueError(f"{bench.name}: unknown answer kind {bench.answer_kind!r}")
    if bench.modes and bench.answer_kind not in MCQ_KINDS:
        raise ValueError(f"{bench.name}: decoding modes are for MCQ benchmarks only")
    if bench.name in _REGISTRY and _REGISTRY[bench.name] != bench:
        raise ValueError(f"benchmark {bench.name!r} is declared twice")
    _REGISTRY[bench.name] = bench
    return bench


def forget(name: str) -> None:
    """Drop a declaration (tests that declare a benchmark of their own clean up with it)."""
    _REGISTRY.pop(name, None)


def benchmark(name: str) -> Benchmark:
    """The declaration of ``name``, or an error listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; known: {sorted(_REGISTRY)}") from None


def all_benchmarks() -> list[Benchmark]:
    return list(_REGISTRY.values())


def families() -> tuple[str, ...]:
    """Leaderboard families in declaration order."""
    return tuple(dict.fromkeys(b.family for b in _REGISTRY.values()))


@dataclass(frozen=True)
class Source:
    """One way to get a headline: ``metric`` of each part's tasks pooled, then the parts'
    unweighted mean."""

    metric: str
    parts: tuple[tuple[str, ...], ...]

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(task for part in self.parts for task in part)


@dataclass(frozen=True)
class Headline:
    """A leaderboard column; ``scale`` is the metric's maximum (1 for rates, 5 for a 1-5
    judge scale); ``in_mean`` puts it in the mean of the MCQ headlines."""

    key: str
    label: str
    family: str
    sources: tuple[Source, ...]
    scale: float = 1.0
    in_mean: bool = False


# How the papers name a family's main figure (default: "<family> <metric>").
HEADLINE_NAMES = {
    "frenchmedmcqa": "FrenchMedMCQA EMR",
    "mediqal": "MediQAl EM",
    "medinjfr": "MedInjection-FR EM",
    "frbmedqa": "FrBMedQA accuracy",
}
HEADLINE_MODE = "constrained"


def _one(metric: str, *tasks: str) -> Source:
    return Source(metric, (tasks,))


def family_headline(family: str) -> Headline | None:
    """The main column of a family with MCQ or cloze benchmarks: the primary metric of its
    constrained MCQ tasks and cloze tasks, pooled over items; a family aggregate
    (``aggregate_by``) is read from its group first, then from its parts."""
    benches = [b for b in _REGISTRY.values() if b.family == family]
    scored = [b for b in benches if HEADLINE_MODE in b.modes or b.answer_kind == CLOZE]
    if not scored:
        return None
    metric = scored[0].primary_metric
    tasks = tuple(f"{b.name}_{HEADLINE_MODE}" if b.modes else b.name for b in scored)
    keys = [b.part.get(b.aggregate_by, "") for b in scored if b.aggregate_by]
    if keys:
        parts = tuple(
            tuple(t for b, t in zip(scored, tasks) if b.part.get(b.aggregate_by) == key)
            for key in dict.fromkeys(keys)
        )
        sources = (_one(metric, f"{family}_{HEADLINE_MODE}_{metric}"), Source(metric, parts))
        detail = "+".join(k.upper() for k in dict.fromkeys(keys))
    else:
        sources = (_one(metric, *tasks),)
        detail = "+".join(b.part.get("config", b.name).upper() for b in scored)
    mode = f" ({HEADLINE_MODE}, {detail})" if len(scored) > 1 else f" ({HEADLINE_MODE})"
    name = HEADLINE_NAMES.get(family, f"{family} {metric}")
    label = name + (mode if any(b.modes for b in scored) else "")
    return Headline(f"{family}_{metric}", label, family, sources, in_mean=True)


# The other figures the papers report, each with the tasks that give it.
REPORTED_HEADLINES = (
    Headline("medinjfr_judge", "MedInjection-FR OEQ judge (binary)", "medinjfr",
             (_one("judge_binary", "medinjfr_oeq_judge"),
              _one("judge_medinjection-binary", "medinjfr_native_oeq", "medinjfr_translated_oeq"))),
    Headline("enmed_mcqa", "EnMed MCQA (mean 0/3/5-shot)", "enmed",
             (_one("accuracy", "enmed_mcqa_mean"),)),
    Headline("enmed_extqa", "EnMed ExtQA token F1 (mean 0/3/5-shot)", "enmed",
             (_one("token_f1", "enmed_extqa_mean"),)),
    Headline("enmed_absqa", "EnMed AbsQA judge 1-5 (mean 0/3/5-shot)", "enmed",
             (_one("judge_4dim", "enmed_absqa_mean"),), scale=5.0),
    Headline("frenchmedmcqa_hamming", "FrenchMedMCQA Hamming (constrained)", "frenchmedmcqa",
             (_one("hamming", "frenchmedmcqa_constrained"),)),
)  # fmt: skip


def headlines() -> tuple[Headline, ...]:
    """The leaderboard's columns, family by family in declaration order: each family's own
    headline, then the figures its papers report."""
    out: list[Headline] = []
    for family in families():
        own = family_headline(family)
        out += [own] if own else []
        out += [h for h in REPORTED_HEADLINES if h.family == family]
    return tuple(out)


def benchmark_of_task(task: str) -> Benchmark | None:
    """The benchmark a task name belongs to (longest name prefix), sample twins included."""
    name = full_task(task)
    found = [b for b in _REGISTRY.values() if name == b.name or name.startswith(b.name + "_")]
    return max(found, key=lambda b: len(b.name)) if found else None


def shot_name(base: str, shots: int) -> str:
    """``base`` at 0 shots, ``base_<k>shot`` otherwise."""
    return f"{base}_{shots}shot" if shots else base


def grid_cells() -> dict[str, tuple[str, int, Benchmark]]:
    """EnMed's grid (MCQA, ExtQA, AbsQA x 0/3/5 shots): task name -> (row, shots, benchmark).
    MCQA is generated and parsed (EnMed scores the letters the model writes)."""
    rows = {b.grid: b for b in _REGISTRY.values() if b.grid}
    cells = {}
    for row in GRID_ROWS:
        if row in rows:
            bench = rows[row]
            base = f"{bench.name}_{GRID_MCQ_MODE}" if bench.modes else bench.name
            cells.update({shot_name(base, k): (row, k, bench) for k in bench.shots})
    return cells


def _mcq(
    name: str, family: str, kind: str, parser: str, local_dir: str, option_texts=False, **kw
) -> Benchmark:
    return declare(
        Benchmark(
            name=name,
            family=family,
            answer_kind=kind,
            parser=parser,
            local_dir=local_dir,
            modes=MCQ_MODES + ((OPTION_TEXT,) if kind == SINGLE or option_texts else ()),
            answer_orders=ANSWER_ORDERS,
            task_folder=kw.pop("task_folder", family),
            **kw,
        )
    )


MEDINJECTION_DIR = "medinjection-fr"
MEDINJECTION_HUB = "MedInjection-FR/{source}"


def medinjection_files(source: str, subset: str) -> dict[str, tuple[str, ...]]:
    """``<Source>/<Split>/<subset>/<subset>_<split>``: the hub repository's own layout (also
    read by the training mixes, whose Synthetic source has a Train split only)."""
    dirs = {
        "train": ("Train", "train"),
        "validation": ("Validation", "val"),
        "test": ("Test", "test"),
    }
    return {s: (f"{source}/{d}/{subset}/{subset}_{short}",) for s, (d, short) in dirs.items()}


_mcq(
    "frenchmedmcqa",
    "frenchmedmcqa",
    MULTI,
    "medinj_eval.data.frenchmedmcqa:parse_row",
    "frenchmedmcqa",
    hub_id="qanastek/frenchmedmcqa",
    hub_revision="refs/convert/parquet",
    option_texts=True,
    grid="mcqa",
    grid_metric=("em", "accuracy"),
)
for _config, _kind in (("mcqu", SINGLE), ("mcqm", MULTI)):
    _mcq(
        f"mediqal_{_config}",
        "mediqal",
        _kind,
        "medinj_eval.data.mediqal:parse_row",
        "mediqal",
        hub_id="ANR-MALADES/MediQAl",
        hub_config=_config,
        split_files={
            s: tuple(f"{_config}/{n}" for n in names) for s, names in STANDARD_SPLITS.items()
        },
        question_types=True,
        part={"config": _config},
    )
for _source in ("Native", "Translated"):
    for _subset, _kind in (("mcqu", SINGLE), ("mcq", MULTI)):
        _files = medinjection_files(_source, _subset)
        _mcq(
            f"medinjfr_{_source.lower()}_{_subset}",
            "medinjfr",
            _kind,
            "medinj_eval.data.medinjection:parse_row",
            MEDINJECTION_DIR,
            hub_id=MEDINJECTION_HUB.format(source=_source),
            hub_files={s: f"{stems[0]}.json" for s, stems in _files.items()},
            split_files=_files,
            task_folder="medinjection_fr",
            part={"source": _source, "subset": _subset},
            aggregate_by="subset",
        )
declare(
    Benchmark(
        name="frbmedqa",
        family="frbmedqa",
        answer_kind=CLOZE,
        parser="medinj_eval.data.frbmedqa:parse_row",
        local_dir="frbmedqa",
        hub_id="kadzaki/FrBMedQA",
        shots=(0,),
        task_folder="frbmedqa",
    )
)
MEDIQAL_OEQ = declare(
    Benchmark(
        name="mediqal_oeq",
        family="mediqal",
        answer_kind=OPEN,
        parser="medinj_eval.data.mediqal_oeq:parse_row",
        local_dir="mediqal",
        hub_id="ANR-MALADES/MediQAl",
        hub_config="oeq",
        split_files={"test": ("oeq/test",)},
        question_types=True,
        shots=(0,),
        task_folder="mediqal",
    )
)
# EnMed's AbsQA: MediQAl oeq's rows, a seeded slice of them, demonstrations from the rest.
declare(
    replace(
        MEDIQAL_OEQ,
        name="enmed_absqa",
        family="enmed",
        fewshot_pool=UNEVALUATED,
        fewshot_seed=42,
        test_slice="medinj_eval.data.open_ended:enmed_absqa_slice",
        shots=(0, 3, 5),
        task_folder="enmed",
        grid="absqa",
        grid_metric=("judge_enmed-4dim", "judge_4dim"),
    )
)
for _source in ("Native", "Translated"):
    _files = medinjection_files(_source, "oeq")
    declare(
        Benchmark(
            name=f"medinjfr_{_source.lower()}_oeq",
            family="medinjfr",
            answer_kind=OPEN,
            parser="medinj_eval.data.medinjection_oeq:parse_row",
            local_dir=MEDINJECTION_DIR,
            hub_id=MEDINJECTION_HUB.format(source=_source),
            hub_files={s: f"{stems[0]}.json" for s, stems in _files.items()},
            split_files=_files,
            shots=(0,),
            task_folder="medinjection_fr",
            part={"source": _source, "subset": "oeq"},
        )
    )
declare(
    Benchmark(
        name="enmed_extqa",
        family="enmed",
        answer_kind=SPAN,
        parser="medinj_eval.data.quaero:parse_row",
        reader="medinj_eval.data.quaero:read_local",
        local_dir="quaero",
        hub_id="DrBenchmark/QUAERO",
        fewshot_seed=42,
        test_slice="medinj_eval.data.quaero:enmed_extqa_slice",
        task_folder="enmed",
        grid="extqa",
        grid_metric=("token_f1", "token_f1"),
    )
)
declare(
    Benchmark(
        name="extqa_squad",
        family="extqa",
        answer_kind=SPAN,
        parser="medinj_eval.data.squad:parse_row",
        reader="medinj_eval.data.squad:read_local",
        local_dir="extqa",
        fewshot_seed=42,
        task_folder="extqa",
    )
)
