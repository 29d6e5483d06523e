"""``medinj-eval data mix``: write one MedInjection-FR data-provenance mix."""

from __future__ import annotations

import argparse
from pathlib import Path

from medinj_eval.train.mixes import CONFIGS, DEFAULT_TASK_TYPES, STUDY_SIZE


def data_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="medinj-eval data mix", description=__doc__)
    parser.add_argument("action", choices=["mix"])
    parser.add_argument("--config", required=True, choices=list(CONFIGS))
    parser.add_argument("--size", type=int, default=STUDY_SIZE)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--task-types", default=",".join(DEFAULT_TASK_TYPES),
                        help="comma-separated among mcq, mcqu, oeq")  # fmt: skip
    parser.add_argument("--data-dir", help="local MedInjection-FR folder (default: the hub)")
    parser.add_argument("--sample", action="store_true", help="the sample suite's training files")
    parser.add_argument("--out", type=Path, help="default: mixes/<config>-<size>-seed<seed>.jsonl")
    args = parser.parse_args(argv)

    from medinj_eval.paths import sample_data_dir
    from medinj_eval.train.mixes import build_mix, provenance_table, write_mix

    data_dir = sample_data_dir() if args.sample else args.data_dir
    task_types = tuple(t for t in args.task_types.split(",") if t)
    mix, report = build_mix(args.config, args.size, args.seed, task_types, data_dir)
    out = args.out or Path("mixes") / f"{args.config}-{args.size}-seed{args.seed}.jsonl"
    report = write_mix(mix, report, out)
    print(provenance_table(report))
    print(f"{len(mix)} examples in {out} (sha256 {report['sha256']}); provenance in "
          f"{out}.provenance.json")  # fmt: skip
