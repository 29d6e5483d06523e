"""EnMed's extractive QA over the QUAERO French Medical Corpus (``enmed_extqa``).

Hub: ``DrBenchmark/QUAERO``, configs ``emea`` (drug leaflets) and ``medline`` (titles);
fields ``id``, ``document_id``, ``tokens``, ``ner_tags`` (BIO over the ten UMLS semantic
groups). Local folder, either:

* the hub's layout: ``<dir>/{emea,medline}/{train,validation,test}.json|.jsonl|.parquet``
  with ``ner_tags`` as tag strings (``B-DISO``) or as indices into :data:`TAGS`;
* the corpus's BRAT release: ``<dir>/{train,dev,test}/{EMEA,MEDLINE}/<doc>.txt|.ann``.
  A MEDLINE file is one document, an EMEA file one document per non-empty line. As in the
  hub's conversion, only the largest of nested entities is kept; a discontinuous entity
  (fragments joined by ``;``) is no passage of the text and is left out.

One item per kept entity (EnMed): the context is the document's tokens joined by single
spaces, the question the template of the entity's group (:data:`QUESTIONS`), the gold the
entity's tokens. The evaluated slice: the test items of ``emea`` then ``medline``, shuffled
by ``random.Random(42)``, the first ``max(50, int(0.05 * N))``.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from medinj_eval.benchmarks import Benchmark
from medinj_eval.data.errors import DataValidationError
from medinj_eval.data.files import find_split_file, read_records, record_read
from medinj_eval.data.hub import hub_rows
from medinj_eval.data.items import require
from medinj_eval.data.spans import SpanItem
from medinj_eval.hashing import sha256_file

GROUPS = ("ANAT", "CHEM", "DEVI", "DISO", "GEOG", "LIVB", "OBJC", "PHEN", "PHYS", "PROC")
TAGS = ("O", *(f"{p}-{g}" for g in GROUPS for p in ("B", "I")))
CONFIGS = {"emea": "EMEA", "medline": "MEDLINE"}
BRAT_SPLITS = {"train": "train", "validation": "dev", "test": "test"}
QUESTIONS = {
    "ANAT": "Quelle partie du corps ou structure anatomique ce texte mentionne-t-il ?",
    "CHEM": "Quelle substance chimique ou quel médicament ce texte mentionne-t-il ?",
    "DEVI": "Quel dispositif médical ce texte mentionne-t-il ?",
    "DISO": "Quelle maladie, quel trouble ou quel symptôme ce texte mentionne-t-il ?",
    "GEOG": "Quel lieu géographique ce texte mentionne-t-il ?",
    "LIVB": "Quel être vivant ou quelle population ce texte mentionne-t-il ?",
    "OBJC": "Quel objet ce texte mentionne-t-il ?",
    "PHEN": "Quel phénomène ce texte mentionne-t-il ?",
    "PHYS": "Quelle fonction ou quel processus physiologique ce texte mentionne-t-il ?",
    "PROC": "Quel examen, traitement ou acte médical ce texte mentionne-t-il ?",
}
ENMED_EXTQA_SEED = 42


def read_local(folder: Path | None, bench: Benchmark) -> dict[str, list]:
    """split -> [(origin, rows)] from the BRAT release, the hub's layout or the hub."""
    if folder is None:
        found: dict[str, list] = {}
        for config in CONFIGS:  # both configs feed every split, emea first
            for split, rows in hub_rows(bench.hub_id, config, class_names=True).items():
                origin = f"{bench.hub_id}/{config}:{split}"
                found.setdefault(split, []).append((origin, _with_config(rows, config)))
        return found
    if any((folder / "test").glob("*/*.ann")):
        return _brat_rows(folder)
    found = {}
    for config in CONFIGS:
        for split, stems in bench.split_files.items():
            path = find_split_file(folder / config, stems)
            if path is not None:
                found.setdefault(split, []).append(
                    (str(path), _with_config(read_records(path), config))
                )
    if "test" not in found:
        raise DataValidationError(
            str(folder), None, None,
            "no QUAERO test split: expected {emea,medline}/test.json|.jsonl|.parquet "
            "or the BRAT release's test/{EMEA,MEDLINE}/*.ann",
        )  # fmt: skip
    return found


def _with_config(rows: list[dict[str, Any]], config: str) -> list[dict[str, Any]]:
    return [{**row, "config": config} for row in rows]


def parse_row(row: dict[str, Any], file: str, index: int, bench: Any = None) -> list[SpanItem]:
    """One document -> one item per entity of its BIO tags."""
    tokens = require(row, "tokens", file, index)
    tags = [
        _tag_name(t, file, index, i) for i, t in enumerate(require(row, "ner_tags", file, index))
    ]
    if not isinstance(tokens, list) or not any(str(t).strip() for t in tokens):
        raise DataValidationError(file, index, "tokens", "empty context (no tokens)")
    if len(tags) != len(tokens):
        raise DataValidationError(
            file, index, "ner_tags", f"{len(tags)} tags for {len(tokens)} tokens"
        )
    tokens = [str(t) for t in tokens]
    context = " ".join(tokens)
    doc_id = str(row.get("id") if row.get("id") is not None else row.get("document_id", index))
    entities = bio_entities(tags, file, index)
    items = []
    for k, (group, start, end) in enumerate(entities):
        offset = len(" ".join(tokens[:start])) + (1 if start else 0)
        answer = " ".join(tokens[start:end])
        same_group = [" ".join(tokens[s:e]) for g, s, e in entities if g == group]
        items.append(
            SpanItem(
                id=f"{row.get('config', '')}/{doc_id}/{k}",
                context=context,
                question=QUESTIONS[group],
                answers=[answer],
                answer_starts=[offset],
                group=group,
                group_answers=list(dict.fromkeys([answer, *same_group])),
            )
        )
    return items


def _tag_name(tag: Any, file: str, index: int, position: int) -> str:
    if isinstance(tag, int) and 0 <= tag < len(TAGS):
        return TAGS[tag]
    if isinstance(tag, str) and tag in TAGS:
        return tag
    raise DataValidationError(
        file, index, f"ner_tags[{position}]", f"{tag!r} is no BIO tag over {', '.join(GROUPS)}"
    )


def bio_entities(tags: list[str], file: str, index: int) -> list[tuple[str, int, int]]:
    """(group, first token, end token) of each entity; an ``I-`` tag that continues no
    entity of its group (at the start, after ``O`` or after another group) is refused."""
    entities: list[tuple[str, int, int]] = []
    current: list[Any] | None = None
    for i, tag in enumerate(tags):
        prefix, _, group = tag.partition("-")
        if prefix == "I":
            if current is None or current[0] != group:
                where = "starts the sequence" if i == 0 else f"follows {tags[i - 1]}"
                raise DataValidationError(
                    file, index, f"ner_tags[{i}]", f"{tag} {where}: an entity opens with B-"
                )
            current[2] = i + 1
            continue
        if current is not None:
            entities.append(tuple(current))
        current = [group, i, i + 1] if prefix == "B" else None
    if current is not None:
        entities.append(tuple(current))
    return entities


def enmed_extqa_slice(items: list[SpanItem]) -> list[SpanItem]:
    """EnMed's ExtQA test slice: the items shuffled by ``random.Random(42)``, then the first
    ``max(50, int(0.05 * N))``.

    Source: EnMed's evaluation protocol (ExtQA test slice); shuffling a copy keeps the input
    intact."""
    order = list(items)
    random.Random(ENMED_EXTQA_SEED).shuffle(order)
    return order[: max(50, int(0.05 * len(order)))]


def _brat_rows(folder: Path) -> dict[str, list]:
    """The BRAT release as rows of the hub's schema (tokens and BIO tags per document)."""
    found: dict[str, list] = {}
    for split, brat_split in BRAT_SPLITS.items():
        for config, sub in CONFIGS.items():
            files = sorted((folder / brat_split / sub).glob("*.txt"))
            if files:
                rows = [row for txt in files for row in _brat_documents(txt, config)]
                found.setdefault(split, []).append((str(folder / brat_split / sub), rows))
    return found


def _brat_documents(txt: Path, config: str) -> list[dict[str, Any]]:
    """Rows of one BRAT file: the file (MEDLINE) or each non-empty line (EMEA)."""
    ann = txt.with_suffix(".ann")
    record_read(str(txt), sha256_file(txt))
    record_read(str(ann), sha256_file(ann))
    text = txt.read_text(encoding="utf-8")
    entities = brat_entities(ann, len(text))
    pieces = [(0, text)] if config == "medline" else _lines(text)
    rows = []
    for n, (start, piece) in enumerate(pieces):
        tokens = [
            (m.start() + start, m.end() + start, m.group()) for m in re.finditer(r"\S+", piece)
        ]
        if not tokens:
            continue
        doc_id = txt.stem if config == "medline" else f"{txt.stem}/{n}"
        words = [t for _, _, t in tokens]
        tags = _bio(tokens, entities)
        rows.append(
            {
                "id": doc_id,
                "document_id": txt.stem,
                "config": config,
                "tokens": words,
                "ner_tags": tags,
            }
        )
    return rows


def _lines(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in text.split("\n"):
        if line.strip():
            out.append((pos, line))
        pos += len(line) + 1
    return out


def brat_entities(ann: Path, text_length: int) -> list[tuple[str, int, int]]:
    """(group, start, end) of every contiguous entity of a ``.ann`` file over a text of
    ``text_length`` characters; offsets that are not numbers or lie outside the text are
    refused with the file, line and field."""
    found = []
    for n, line in enumerate(ann.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("\t")
        if not line.startswith("T") or len(fields) < 2:
            continue  # relations, notes and attributes carry no passage
        label, _, offsets = fields[1].partition(" ")
        if label not in GROUPS:
            continue
        spans = [_brat_offsets(piece, ann, n, text_length) for piece in offsets.split(";")]
        if len(spans) == 1:  # a discontinuous entity is no passage of the text
            found.append((label, *spans[0]))
    return found


def _brat_offsets(piece: str, ann: Path, line: int, text_length: int) -> tuple[int, int]:
    where = (str(ann), f"line {line}")
    parts = piece.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise DataValidationError(*where, "offsets", f"{piece!r} is not two character offsets")
    start, end = int(parts[0]), int(parts[1])
    if end > text_length:
        raise DataValidationError(
            *where, "end", f"{end} lies past the text ({text_length} characters)"
        )
    if start >= end:
        raise DataValidationError(*where, "start", f"{start} does not come before end {end}")
    return start, end


def _bio(tokens: list[tuple[int, int, str]], entities: list[tuple[str, int, int]]) -> list[str]:
    """BIO tags of one document: entities as token ranges, the largest of overlapping ones
    kept (longest first, then earliest), entities outside the document left out."""
    ranges = []
    for group, start, end in entities:
        covered = [i for i, (s, e, _) in enumerate(tokens) if s < end and e > start]
        if covered:
            ranges.append((group, covered[0], covered[-1] + 1))
    ranges.sort(key=lambda r: (-(r[2] - r[1]), r[1]))
    tags = ["O"] * len(tokens)
    for group, first, end in ranges:
        if all(tag == "O" for tag in tags[first:end]):
            tags[first:end] = [f"B-{group}"] + [f"I-{group}"] * (end - first - 1)
    return tags
